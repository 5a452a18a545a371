"""Decoding speed and memory: ŷ from a .clric file, then the VAE decoder, per preset and size.

Usage (from the repository root of a git checkout; Kodak from CLRIC_KODAK_DIR):

    python benchmarks/decode_speed.py                    # kodim23 and a 2048×1363 upscale
    python benchmarks/decode_speed.py --sizes kodak --repeats 9

For each image and preset, a file is encoded (``fast`` effort, λ = 0.01, house VAE, 1 thread)
and decoded: ŷ decode seconds (first call, then the median of ``--repeats`` calls: the
probability tables are built once per process), VAE decode seconds, the peak resident memory
of a whole ``clric decode`` in a fresh process, the decoder's MAC per pixel and the MAC per
second the ŷ decode achieves. The same image is also encoded and decoded by the code of
``--baseline-ref`` (default: the last commit of package 0.1, the decoder before the table
cache and format version 2), extracted with ``git archive``, on its own ``paper`` file (format
version 1, which both decoders read): the speed-up is the ratio of the two medians in one run.
Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch load their thread pools

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from clric_utils.api import compress  # noqa: E402
from clric_utils.bitstream import decode_file  # noqa: E402
from clric_utils.codec.macs import decoder_macs  # noqa: E402
from clric_utils.data import kodak_image  # noqa: E402
from clric_utils.vae import load_vae  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BASELINE_REF = "b31f0f7"  # package 0.1.0: per-wavefront tables, format version 1 only

#: Run in a process whose ``clric_utils`` is the baseline's: encode (v1) then time decodes.
_BASELINE_SCRIPT = """
import statistics, sys, time
import torch
torch.set_num_threads(1)
from clric_utils.api import compress
from clric_utils.bitstream import decode_file
from clric_utils.images import read_image
result = compress(read_image(sys.argv[1]), vae="house", lmbda=0.01, preset="paper",
                  effort="fast", progress=False)
open(sys.argv[2], "wb").write(result.data)
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    decode_file(result.data)
    times.append(time.perf_counter() - start)
print(statistics.median(times))
"""


def _images(sizes: list[str], folder: Path) -> list[Path]:
    """kodim23 at 768×512 and/or upscaled (bicubic) to 2048×1363, as PNG files."""
    source = kodak_image(23)
    paths = []
    if "kodak" in sizes:
        paths.append(source)
    if "2mp" in sizes:
        large = folder / "kodim23_2048x1363.png"
        Image.open(source).convert("RGB").resize((2048, 1363), Image.BICUBIC).save(large)
        paths.append(large)
    return paths


def _timed(function, repeats: int) -> tuple[float, float]:
    """(first call, median of ``repeats`` further calls) in seconds."""
    start = time.perf_counter()
    function()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def _peak_memory_of_cli_decode(path: Path, out: Path) -> float:
    """Peak resident memory (GB) of ``clric decode`` in a fresh one-thread process."""
    code = ("import resource, sys; from clric_utils.cli import main; "
            "import torch; torch.set_num_threads(1); "
            "rc = main(['decode', '--force', sys.argv[1], '-o', sys.argv[2]]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", code, str(path), str(out)], check=True,
                          capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1e6  # ru_maxrss is in kB on Linux


def _baseline(ref: str, image: Path, folder: Path, repeats: int) -> float:
    """Median ŷ decode seconds of ``ref``'s decoder on its own (version 1) paper file."""
    tree = folder / f"baseline-{ref}"
    tree.mkdir(exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "clric_utils"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    file = folder / f"{image.stem}_baseline.clric"
    # cwd = the baseline tree: ``python -c`` puts the working folder first on sys.path.
    done = subprocess.run([sys.executable, "-c", _BASELINE_SCRIPT, str(image), str(file),
                           str(repeats)], check=True, capture_output=True, text=True, env=env,
                          cwd=tree)
    baseline = float(done.stdout.split()[-1])
    assert decode_file(file.read_bytes()).header.version == 1  # really the old format
    return baseline


def main(argv: list[str] | None = None) -> int:
    """Encode, decode and time every image × preset; print one table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["kodak", "2mp"], choices=["kodak", "2mp"])
    parser.add_argument("--presets", nargs="+", default=["wide", "paper", "lite"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-ref", default=BASELINE_REF,
                        help="git ref of the decoder to compare with ('none' to skip)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    vae = load_vae("house")
    print(f"1 thread; ŷ: first call / median of {args.repeats}; peak: whole `clric decode`")
    print(f"{'image':>10} {'preset':>6} {'bpp':>6} {'ŷ first':>8} {'ŷ median':>9} "
          f"{'VAE dec':>8} {'peak GB':>7} {'MAC/px':>7} {'MMAC/s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for image in _images(args.sizes, folder):
            pixels = np.asarray(Image.open(image).convert("RGB"))
            height, width = pixels.shape[:2]
            label = f"{width}×{height}"
            for preset in args.presets:
                result = compress(pixels, vae=vae, lmbda=0.01, preset=preset, effort="fast",
                                  progress=False)
                path = folder / f"{image.stem}_{preset}.clric"
                path.write_bytes(result.data)
                first, median = _timed(lambda data=result.data: decode_file(data), args.repeats)
                y_hat = result.y_hat
                with torch.no_grad():
                    _, vae_seconds = _timed(
                        lambda y=y_hat, h=height, w=width: vae.decode(y, h, w), 1)
                peak = _peak_memory_of_cli_decode(path, folder / "out.png")
                macs = decoder_macs(preset, height, width)
                print(f"{label:>10} {preset:>6} {result.bpp:6.3f} {first:8.3f} {median:9.4f} "
                      f"{vae_seconds:8.2f} {peak:7.2f} {macs.per_pixel()['total']:7.2f} "
                      f"{macs.total / median / 1e6:7.1f}", flush=True)
            if args.baseline_ref != "none":
                old = _baseline(args.baseline_ref, image, folder, args.repeats)
                data = (folder / f"{image.stem}_baseline.clric").read_bytes()
                new = _timed(lambda data=data: decode_file(data), args.repeats)[1]
                print(f"{label:>10} baseline {args.baseline_ref} on its own v1 paper file: "
                      f"ŷ {old:.4f} s, this decoder {new:.4f} s on the same file: "
                      f"{old / new:.1f}× faster", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
