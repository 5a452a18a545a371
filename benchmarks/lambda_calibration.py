"""λ calibration of every preset from measured results: mean real bpp per λ on a data set.

Usage (from the repository root):

    python benchmarks/lambda_calibration.py                          # from results/kodak_house.csv
    python benchmarks/lambda_calibration.py --csv results/calibration_house.csv

Reads the CLRIC rows of a ``clric eval`` CSV (real file sizes, header included), keeps the
newest package version of each preset and, of that version, the effort with the most rows (the
complete sweep; ``--effort`` picks one), and prints per preset the mean bpp of every λ over the
images that have it, as the Python literal of ``clric_utils.codec.schedule.LAMBDA_CALIBRATION``.
No encoding happens here: the rows come from ``clric eval --codec clric --preset P --params …``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from packaging.version import Version


def calibration(frame: pd.DataFrame, effort: str | None = None,
                ) -> dict[str, tuple[str, list[tuple[float, float, int]]]]:
    """preset → (effort, [(λ, mean bpp, images)]), largest λ first: the newest version's rows
    of ``effort`` (None: the effort with the most rows of that version). Efforts are never
    mixed: a longer fit spends its bits differently."""
    rows = frame[frame["codec"] == "clric"]
    table: dict[str, tuple[str, list[tuple[float, float, int]]]] = {}
    for preset, group in rows.groupby("preset"):
        newest = max(group["version"].astype(str), key=Version)
        group = group[group["version"].astype(str) == newest]
        chosen = effort or str(group["effort"].value_counts().idxmax())
        group = group[group["effort"].astype(str) == chosen]
        if group.empty:
            continue
        means = group.groupby("parameter")["bpp"].agg(["mean", "size"]).sort_index(
            ascending=False)
        table[str(preset)] = (chosen, [(float(lm), float(m), int(n))
                                       for lm, (m, n) in means.iterrows()])
    return table


def main(argv: list[str] | None = None) -> int:
    """Print the calibration tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, nargs="+", default=[Path("results/kodak_house.csv")])
    parser.add_argument("--effort", default=None,
                        help="effort of the rows to use (default: the most frequent one)")
    args = parser.parse_args(argv)
    frame = pd.concat([pd.read_csv(path) for path in args.csv], ignore_index=True)
    table = calibration(frame, args.effort)
    for preset, (effort, points) in table.items():
        print(f"{preset} ({effort}): " + ", ".join(f"λ {lm:g} → {bpp:.4f} bpp ({n} images)"
                                                   for lm, bpp, n in points))
    print("LAMBDA_CALIBRATION = {")
    for preset, (_, points) in table.items():
        pairs = ", ".join(f"({lm:g}, {bpp:.4f})" for lm, bpp, _ in points)
        print(f'    "{preset}": ({pairs}),')
    print("}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
