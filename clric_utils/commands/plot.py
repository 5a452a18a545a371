"""Draw rate-distortion figures from every evaluation CSV in a results folder.

Writes FIGURES/<csv name>_rd.png per CSV, titled by its image set, VAE and preset, and prints
its BD-rates against each --anchor codec in it. A CSV holding all of Kodak or all of CLIC 2020
Professional validation also gets the published curves of other codecs on that set (dashed,
cited). CSVs of different image sets are never merged (a mean over different image sets would
compare codecs on different pictures); CSVs that each hold the *whole* of one data set (e.g.
``kodak_house.csv`` and ``kodak_taef2.csv``: the same 24 images, one VAE each) are also drawn
together as FIGURES/<data set>_vaes_rd.png, with BD-rates against each CLRIC curve of the
first VAE too (``clric:house:…``), so that VAEs compare on the same pictures and the same
classical rows. Data sets with no complete results are named at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..errors import ClricError
from ..metrics.quality import METRIC_NAMES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``clric plot``."""
    parser.description = __doc__
    parser.add_argument(
        "--results",
        nargs="+",
        type=Path,
        default=[Path("results")],
        help="CSV files and/or folders of CSVs (default: results)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("figures"), help="figure folder (default: figures)"
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=list(METRIC_NAMES),
        choices=list(METRIC_NAMES),
        metavar="M",
        help="one panel per metric (default: all)",
    )
    parser.add_argument("--anchor", nargs="+", default=["jpeg", "webp", "avif", "latent-quant"],
                        help="codecs to compute BD-rates against, one table each; a codec with "
                             "several curves names one by codec:vae:preset:effort, or each of "
                             "them by a prefix such as clric:house (default: jpeg webp avif "
                             "latent-quant)")


def find_csvs(sources: list[Path]) -> list[Path]:
    """Sweep CSVs named directly or found (sorted) in folders; other CSVs in folders are skipped."""
    from ..evaluation.sweep import is_sweep_csv, sweep_csvs

    paths: list[Path] = []
    for source in sources:
        if source.is_dir():
            paths.extend(sweep_csvs(source))
        elif source.is_file():
            if not is_sweep_csv(source):
                raise ClricError(f"{source} is not a clric eval CSV (its columns differ)")
            paths.append(source)
        else:
            raise ClricError(f"{source}: no such file or folder")
    if not paths:
        raise ClricError(
            f"no clric eval CSV files in {', '.join(map(str, sources))}; run `clric eval` first"
        )
    return paths


def run(args: argparse.Namespace) -> int:
    """Write the figures and print the BD-rate table."""
    from ..evaluation.plots import curve_label, load_results, partial_points, plot_rd, rd_means
    from ..evaluation.result_sets import DATASETS, dataset_of, results_title

    csvs = find_csvs(args.results)
    covered: dict[str, list] = {}
    for path in csvs:
        out = args.out / f"{path.stem}_rd.png"
        frame = load_results([path])
        dataset = dataset_of(frame)
        if dataset:
            covered.setdefault(dataset, []).append(frame)
        plot_rd(frame, args.metrics, out, title=results_title(frame, path.stem), anchors=dataset)
        print(f"wrote {out}" + ("" if dataset else " (no published curves: not a whole data set)"))
        means = rd_means(frame, [])
        for point in means[partial_points(means)].itertuples(index=False):
            curve = curve_label(point.codec, "none", getattr(point, "preset", "none"),
                                getattr(point, "effort", "none"))
            print(f"{path.name}: left out {curve} at {point.parameter:g} (measured on "
                  f"{point.images} of the images only, fewer than the rest of its curve)")
        _print_bd_tables(frame, path.name, args.anchor, args.metrics)
    for dataset, frames in covered.items():
        vaes = list(dict.fromkeys(v for f in frames for v in f["vae"].astype(str)
                                  if v not in ("none", "nan")))
        if len(frames) < 2 or len(vaes) < 2:
            continue
        frame = pd.concat(frames, ignore_index=True)
        out = args.out / f"{dataset}_vaes_rd.png"
        plot_rd(frame, args.metrics, out, title=results_title(frame, dataset), anchors=dataset)
        print(f"wrote {out}")
        _print_bd_tables(frame, out.stem, [*args.anchor, f"clric:{vaes[0]}"], args.metrics)
    for dataset in DATASETS:
        if dataset not in covered:
            print(missing_dataset_note(dataset))
    return 0


def _print_bd_tables(frame: pd.DataFrame, name: str, anchors: list[str], metrics) -> None:
    """Print one BD-rate table per curve each anchor names (absent anchors are skipped)."""
    from ..evaluation.summary import anchor_curves, bd_rate_table, format_bd_table

    for anchor in anchors:
        for curve in anchor_curves(frame, anchor):
            table = format_bd_table(bd_rate_table(frame, curve, metrics), metrics)
            label = anchor if curve.split(":")[0] == anchor else curve
            print(f"{name}: BD-rate against {label} over the quality range both curves "
                  "cover (negative: fewer bits for the same quality; 'no overlap' below "
                  "1 dB PSNR, 0.01 MS-SSIM, 0.05 LPIPS, 0.03 DISTS)")
            with pd.option_context("display.width", 250, "display.max_columns", 20,
                                   "display.max_colwidth", 40):
                print(table.to_string(index=False))


def missing_dataset_note(dataset: str) -> str:
    """What to run for the figures of a data set that no results CSV covers completely."""
    from ..paths import CLIC_ENV, KODAK_ENV

    variable = {"kodak": KODAK_ENV, "clic2020": CLIC_ENV}[dataset]
    return (
        f"missing: no results CSV holds all of {dataset}, so its figures (with published "
        f"curves) are not drawn; with the images in {variable}, run e.g. `clric eval --dataset "
        f"{dataset} --codec jpeg webp avif avif-slow latent-quant vae-only clric "
        f"--out results/{dataset}_house.csv`"
    )
