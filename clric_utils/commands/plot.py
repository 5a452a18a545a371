"""Draw rate-distortion figures from every evaluation CSV in a results folder.

Writes FIGURES/<csv name>_rd.png per CSV and prints its BD-rates against --anchor (default
jpeg) when that codec is in it. CSVs are never merged: each is one image set, and a mean over
different image sets would compare codecs on different pictures.
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
                        help="codecs to compute BD-rates against, one table each "
                             "(default: jpeg webp avif latent-quant)")


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
    from ..evaluation.plots import load_results, plot_rd
    from ..evaluation.summary import bd_rate_table, format_bd_table

    csvs = find_csvs(args.results)
    for path in csvs:
        out = args.out / f"{path.stem}_rd.png"
        frame = load_results([path])
        plot_rd(frame, args.metrics, out, title=path.stem)
        print(f"wrote {out}")
        for anchor in args.anchor:
            if anchor not in set(frame["codec"]):
                continue
            table = format_bd_table(bd_rate_table(frame, anchor, args.metrics), args.metrics)
            print(f"{path.name}: BD-rate against {anchor} over the quality range both curves "
                  "cover (negative: fewer bits for the same quality; 'no overlap' below "
                  "1 dB PSNR, 0.01 MS-SSIM, 0.05 LPIPS, 0.03 DISTS)")
            with pd.option_context("display.width", 250, "display.max_columns", 20,
                                   "display.max_colwidth", 40):
                print(table.to_string(index=False))
    return 0
