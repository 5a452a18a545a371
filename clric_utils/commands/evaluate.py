"""Measure rate and quality of codecs (JPEG, WebP, AVIF, VAE baselines, CLRIC) over images.

Writes one CSV row per image × codec × parameter (columns: image, codec, vae, parameter,
bytes, bpp, psnr, ms_ssim, lpips_alex, lpips_vgg, dists, encode_s, decode_s). Rerunning with
the same --out skips the rows already there, so an interrupted run resumes; damaged rows (a
line cut by a kill, a field that is not a number) are first moved to OUT.bak and computed
again. The rows are computed as Dask tasks: on a local cluster (one worker process per
core), or on an existing cluster with --scheduler (see "Running on a cluster" in the README).

Examples:
  clric eval --codec jpeg webp --max-images 4 --out results/baselines.csv
  clric eval --dataset clic2020 --codec jpeg webp avif avif-slow --out results/clic2020_base.csv
  clric eval --images photo.png --codec latent-quant vae-only --vae house --out results/q.csv
  clric eval --codec jpeg avif --params jpeg=5,10,20 avif=10,30 --metrics psnr lpips_alex
  clric eval --codec clric --vae house --scheduler tcp://head-node:8786 --out results/c.csv
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from ..codec.arch import DEFAULT_PRESET, PRESETS
from ..codec.schedule import EFFORTS
from ..errors import ImageReadError, ParameterError
from ..evaluation.cluster import WORKER_TIMEOUT_S, configured_scheduler
from ..evaluation.contenders import CODECS
from ..images import image_files
from ..metrics.quality import METRIC_NAMES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``clric eval``."""
    parser.description = __doc__.split("\n\n")[0]
    parser.epilog = __doc__.split("\n\n", 2)[2]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sources = parser.add_mutually_exclusive_group()
    sources.add_argument(
        "--images",
        nargs="+",
        type=Path,
        help="image files and/or folders of images (default: the Kodak set, see CLRIC_KODAK_DIR)",
    )
    sources.add_argument(
        "--dataset",
        metavar="NAME",
        help="kodak (CLRIC_KODAK_DIR), clic2020 (CLIC 2020 Professional validation, "
        "CLRIC_CLIC_DIR) or a folder of images (default: kodak)",
    )
    parser.add_argument(
        "--codec",
        nargs="+",
        default=["jpeg", "webp"],
        choices=list(CODECS),
        metavar="NAME",
        help=f"codecs to run, any of: {', '.join(CODECS)} (default: jpeg webp)",
    )
    parser.add_argument(
        "--vae", default="house", help="VAE for vae-only, latent-quant and clric (default: house)"
    )
    parser.add_argument(
        "--params",
        nargs="+",
        metavar="P",
        help="parameter grid: numbers for every codec, or CODEC=v1,v2,… per codec "
        "(JPEG/WebP/AVIF quality, latent-quant step, CLRIC λ); default: each codec's grid",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results/eval.csv"),
        help="CSV to write or resume; a row is skipped when one with the same image, codec, "
        "vae, parameter, preset, effort, seed, VAE weights and package version is there",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes of the local Dask cluster (default: one per core, one with "
        "--device cuda; 1 runs the tasks in this process)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the tasks on the existing Dask cluster whose scheduler is at ADDRESS, e.g. "
        "tcp://host:8786 (default: $DASK_SCHEDULER_ADDRESS if set, else a local cluster)",
    )
    parser.add_argument(
        "--worker-timeout",
        type=float,
        default=WORKER_TIMEOUT_S,
        metavar="S",
        help=f"seconds to wait for the first worker of --scheduler (default {WORKER_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--max-images", type=int, metavar="K", help="use only the first K images (sorted)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=list(METRIC_NAMES),
        choices=list(METRIC_NAMES),
        metavar="M",
        help="metrics to compute; the others are written as NaN (default: all)",
    )
    parser.add_argument(
        "--preset", choices=sorted(PRESETS),
        help=f"CLRIC decoder preset (codec clric only; default {DEFAULT_PRESET})"
    )
    parser.add_argument(
        "--effort", choices=list(EFFORTS), help="CLRIC encoding effort (codec clric only)"
    )
    parser.add_argument("--seed", type=int, default=0, help="CLRIC seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _image_file(source: Path) -> Path:
    """``source`` itself, or a bare Kodak name (``kodim01.png``) found in ``kodak_dir()``."""
    if source.is_file():
        return source
    if not source.exists() and source.parent == Path("."):
        from ..data import KODAK_NAMES, kodak_dir

        if source.name in KODAK_NAMES:
            return kodak_dir() / source.name  # DatasetMissingError says how to get Kodak
    raise ImageReadError(f"{source}: no such file or folder")


def collect_images(sources: list[Path] | None, max_images: int | None = None) -> list[Path]:
    """Image files named directly or found (sorted) in folders; Kodak when none given.

    A bare Kodak name (``kodim01.png``) absent from the current folder is taken from
    ``clric_utils.data.kodak_dir()``. Repeated paths are dropped; two different files with the
    same name are refused, because the CSV rows are keyed by file name.
    """
    if not sources:
        from ..data import kodak_images

        paths = kodak_images()
    else:
        paths = []
        for source in sources:
            if source.is_dir():
                found = image_files(source)
                if not found:
                    raise ImageReadError(f"{source}: folder holds no image files")
                paths.extend(found)
            else:
                paths.append(_image_file(source))
    paths = list(dict.fromkeys(paths))
    by_name: dict[str, Path] = {}
    for path in paths:
        other = by_name.setdefault(path.name, path)
        if other != path and other.resolve() != path.resolve():
            raise ParameterError(
                f"{other} and {path} share the file name {path.name!r}; results are keyed by "
                "file name, so evaluate them into separate CSVs"
            )
    paths = [by_name[name] for name in dict.fromkeys(p.name for p in paths)]
    if max_images is not None:
        if max_images < 1:
            raise ParameterError(f"--max-images must be ≥ 1, got {max_images}")
        paths = paths[:max_images]
    return paths


def parse_params(tokens: list[str] | None, codecs: list[str]) -> dict[str, list[float]] | None:
    """``--params`` tokens → {codec: grid}; bare numbers become key ``"*"`` (all other codecs).

    Every value must be a finite number (no empty value, ``nan`` or ``inf``): ParameterError.
    """
    if not tokens:
        return None

    grids: dict[str, list[float]] = {}
    for token in tokens:
        name, values = token.split("=", 1) if "=" in token else (None, token)
        if name is not None and name not in codecs:
            raise ParameterError(f"--params names codec {name!r}, which is not in --codec")
        numbers = [_finite_number(value, token) for value in values.split(",")]
        if name is None:
            grids.setdefault("*", []).extend(numbers)
        else:
            grids[name] = numbers
    return grids


def _finite_number(item: str, token: str) -> float:
    """One value of the ``--params`` token ``token``; ParameterError if it is empty, not a
    number, NaN or infinite."""
    example = "give numbers such as 10,20 or CODEC=10,20"
    if not item.strip():
        raise ParameterError(f"--params: empty value in {token!r}; {example}")
    try:
        value = float(item)
    except ValueError:
        raise ParameterError(f"--params: cannot read numbers in {token!r}; {example}") from None
    if not math.isfinite(value):
        raise ParameterError(f"--params: {item!r} in {token!r} is not a finite number; {example}")
    return value


def choose_scheduler(scheduler: str | None, workers: int | None) -> str | None:
    """The scheduler to use: ``--scheduler``, else Dask's configured one unless ``--workers``.

    ``None`` means a local cluster. ``--workers`` with ``--scheduler`` is refused: the
    existing cluster has its own workers.
    """
    if scheduler is not None and workers is not None:
        raise ParameterError(
            "--workers sizes the local cluster; with --scheduler the cluster's own workers run "
            "the tasks (start more with `dask worker`)"
        )
    if scheduler is not None:
        if not scheduler.strip():
            raise ParameterError("--scheduler needs an address, e.g. tcp://host:8786")
        return scheduler.strip()
    return None if workers is not None else configured_scheduler()


def run(args: argparse.Namespace) -> int:
    """Run the sweep and print the mean table."""
    from ..evaluation.summary import mean_table
    from ..evaluation.sweep import run_sweep

    codecs = list(dict.fromkeys(args.codec))  # drop repeats, keep order
    parameters = parse_params(args.params, codecs)
    sources = args.images
    if args.dataset is not None:
        from ..data import dataset_images

        sources = dataset_images(args.dataset)  # a missing data set says how to get it
    images = collect_images(sources, args.max_images)
    options = {"preset": args.preset, "effort": args.effort, "seed": args.seed}
    scheduler = choose_scheduler(args.scheduler, args.workers)
    frame = run_sweep(
        images,
        codecs,
        args.vae,
        args.out,
        parameters=parameters,
        workers=args.workers,
        device=args.device,
        scheduler=scheduler,
        worker_timeout=args.worker_timeout,
        progress=not args.quiet,
        metrics=args.metrics,
        codec_options=options if any(c.startswith("clric") for c in codecs) else None,
    )
    table = mean_table(frame, args.metrics)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"{len(frame)} rows in {args.out}")
    return 0
