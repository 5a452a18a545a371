"""Speed-up of `clric eval` on 2 local Dask worker processes over 1, and Dask's per-task overhead.

Usage (from the repository root; Kodak from CLRIC_KODAK_DIR):

    python benchmarks/dask_sweep.py                       # 4 crops × 2 λ = 8 CLRIC tasks
    python benchmarks/dask_sweep.py --images 2 --crop 32 --lambdas 0.01 --jpeg-tasks 8  # smoke

For 1 and then 2 workers, starts a local cluster of single-threaded worker processes (as
`clric eval --workers N` does), loads the VAE in every worker, then times one CLRIC sweep over
square centre crops of the first Kodak images at fast effort (``run_sweep`` through
``scheduler=``, so cluster start-up is reported apart). Prints both times and the speed-up
(aim ≥ 1.7× on 2 cores), and the per-task overhead: a sweep's wall time less the encode and
decode seconds its rows report, per task, on 1 worker, for the CLRIC sweep and for a sweep of
tiny JPEG tasks (aim ≤ 0.5 s; it also holds reading the image and computing PSNR). Run it on an
otherwise idle machine: other processes on the cores make both numbers meaningless.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
from distributed import Client, LocalCluster
from PIL import Image

from clric_utils.data import kodak_images
from clric_utils.evaluation.sweep import run_sweep
from clric_utils.images import read_image
from clric_utils.vae import load_vae


def write_crops(folder: Path, count: int, side: int) -> list[Path]:
    """Square centre crops of the first ``count`` Kodak images, as PNG files in ``folder``."""
    paths = []
    for source in kodak_images()[:count]:
        image = read_image(source)
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        paths.append(folder / f"{source.stem}_{side}.png")
        Image.fromarray(image[top : top + side, left : left + side]).save(paths[-1])
    return paths


def timed_sweep(images: list[Path], codec: str, grid: list[float], out: Path, **options) -> tuple:
    """(wall seconds, rows) of one sweep into the new CSV ``out``."""
    start = time.perf_counter()
    frame = run_sweep(images, [codec], options.pop("vae"), out, parameters=grid,
                      metrics=["psnr"], progress=False, **options)  # fmt: skip
    return time.perf_counter() - start, frame


def overhead(wall: float, frame: pd.DataFrame) -> float:
    """Seconds per task that are not the codec's own encode and decode."""
    return (wall - float((frame["encode_s"] + frame["decode_s"]).sum())) / len(frame)


def main(argv: list[str] | None = None) -> int:
    """Time the CLRIC sweep on 1 and 2 workers, then the tiny JPEG sweep on 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vae", default="house")
    parser.add_argument("--images", type=int, default=4, help="first N Kodak images (default 4)")
    parser.add_argument("--crop", type=int, default=128, help="crop side in pixels (default 128)")
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.01, 0.001])
    parser.add_argument("--effort", default="fast")
    parser.add_argument("--jpeg-tasks", type=int, default=40, help="tiny JPEG tasks (default 40)")
    args = parser.parse_args(argv)

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
          "(run on an idle machine)")  # fmt: skip
    walls: dict[int, float] = {}
    frames: dict[int, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        crops = write_crops(folder, args.images, args.crop)
        tasks = len(crops) * len(args.lambdas)
        print(f"CLRIC sweep: {tasks} tasks ({len(crops)} crops {args.crop}×{args.crop} × "
              f"{len(args.lambdas)} λ), effort {args.effort}, VAE {args.vae}")  # fmt: skip
        print(f"{'workers':>7} {'start s':>8} {'sweep s':>8} {'codec s':>8}")
        for workers in (1, 2):
            start = time.perf_counter()
            with (
                LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                             host="127.0.0.1", dashboard_address="127.0.0.1:0", memory_limit=0,
                             silence_logs=logging.WARNING) as cluster,
                Client(cluster, set_as_default=False) as client,
            ):  # fmt: skip
                client.run(load_vae, args.vae)  # each worker process loads it once, now
                started = time.perf_counter() - start
                address = cluster.scheduler_address
                walls[workers], frames[workers] = timed_sweep(
                    crops, "clric", args.lambdas, folder / f"clric_{workers}.csv", vae=args.vae,
                    scheduler=address, codec_options={"effort": args.effort},
                )  # fmt: skip
                codec_s = float((frames[workers]["encode_s"] + frames[workers]["decode_s"]).sum())
                print(f"{workers:>7} {started:>8.1f} {walls[workers]:>8.1f} {codec_s:>8.1f}")
                if workers == 1:  # many tiny tasks: little but Dask's own work
                    (folder / "tiny").mkdir()
                    qualities = [float(q) for q in range(5, 5 + min(args.jpeg_tasks, 91))]
                    jpeg_wall, jpeg_frame = timed_sweep(
                        write_crops(folder / "tiny", 1, 16), "jpeg", qualities,
                        folder / "jpeg.csv", vae=args.vae, scheduler=address,
                    )  # fmt: skip

    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values(["image", "parameter"])[["image", "parameter", "bytes", "psnr"]]

    same = rows(frames[1]).reset_index(drop=True).equals(rows(frames[2]).reset_index(drop=True))
    print(f"rows of 1 and 2 workers identical (bytes, PSNR): {'yes' if same else 'NO'}")
    print(f"speed-up of 2 workers over 1: {walls[1] / walls[2]:.2f}× (aim ≥ 1.7×)")
    print(f"Dask per-task overhead on 1 worker: {overhead(walls[1], frames[1]):.3f} s in the "
          f"CLRIC sweep, {overhead(jpeg_wall, jpeg_frame):.3f} s over {len(jpeg_frame)} tiny "
          "JPEG tasks (aim ≤ 0.5 s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
