"""Tunes against the latent tune: BD-rates per metric, their per-image range, encode time.

Usage (from the repository root), on the CSV of a ``clric eval`` run that swept ``clric`` and
one or more tuned codecs (``clric-pixel``, ``clric-perceptual``) on the same images:

    clric eval --dataset kodak --codec clric clric-perceptual --vae house --preset wide \\
        --effort fast --params clric=30,10,1,0.1,0.01 clric-perceptual=30,10,1,0.1 \\
        --out results/kodak_house_tunes.csv
    python benchmarks/tune_rd.py results/kodak_house_tunes.csv

Only images that every curve covers at every one of its parameters count. For each tuned
codec it prints the BD-rate against ``clric`` on the data-set mean curves (over the quality
range both cover; < 0: the tune needs fewer bits for the same quality), the range of the
per-image BD-rates (images whose curves overlap enough), the PSNR difference at equal rate
(BD-PSNR, dB) and the ratio of mean encode times, the rows having been made in one run.
"""

from __future__ import annotations

import argparse
import math
import sys

import pandas as pd

from clric_utils.evaluation.bd import bd_metric, bd_rate_over_overlap
from clric_utils.evaluation.plots import load_results
from clric_utils.evaluation.summary import bd_rate_table

METRICS = ("psnr", "ms_ssim", "lpips_alex", "dists")


def complete_images(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of images that have every (codec, parameter) pair of the sweep."""
    pairs = frame[["codec", "parameter"]].drop_duplicates()
    counts = frame.groupby("image")[["codec", "parameter"]].apply(
        lambda rows: len(rows.drop_duplicates()))
    whole = counts[counts == len(pairs)].index
    return frame[frame["image"].isin(whole)]


def per_image_bd(frame: pd.DataFrame, tuned: str, metric: str) -> list[float]:
    """BD-rate (%) of ``tuned`` against ``clric`` on each image where the curves overlap."""
    values = []
    for _image, rows in frame.groupby("image"):
        base = rows[rows["codec"] == "clric"].sort_values("bpp")
        test = rows[rows["codec"] == tuned].sort_values("bpp")
        value, _, _ = bd_rate_over_overlap(base["bpp"], base[metric], test["bpp"], test[metric],
                                           metric)
        if value is not None:
            values.append(value)
    return values


def main(argv: list[str] | None = None) -> int:
    """Print the report for the CSV(s) given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", nargs="+", help="results CSV(s) of clric eval")
    args = parser.parse_args(argv)
    frame = complete_images(load_results(args.csv))
    images = frame["image"].nunique()
    tuned_codecs = sorted(c for c in frame["codec"].unique() if c.startswith("clric-"))
    if images == 0 or "clric" not in set(frame["codec"]) or not tuned_codecs:
        print("need clric and a tuned codec on at least one image with all parameters",
              file=sys.stderr)
        return 2
    print(f"{images} image(s): {', '.join(sorted(frame['image'].unique()))}")
    table = bd_rate_table(frame, anchor="clric", metrics=METRICS)
    means = frame.groupby(["codec", "parameter"])[["bpp", *METRICS, "encode_s"]].mean()
    print(means.to_string(float_format=lambda v: f"{v:.4f}"))
    for tuned in tuned_codecs:
        row = table[table["codec"] == tuned].iloc[0]
        print(f"\n{tuned} against clric (BD-rate of the mean curves; per-image range):")
        for metric in METRICS:
            spread = per_image_bd(frame, tuned, metric)
            span = (f"{min(spread):+.1f} … {max(spread):+.1f} % on {len(spread)} image(s)"
                    if spread else "no image overlaps")
            value = row[metric]
            shown = "no overlap" if math.isnan(value) else f"{value:+.1f} %"
            print(f"  {metric:>10}: {shown} over {row[f'{metric}_overlap']}; per image {span}")
        base = frame[frame["codec"] == "clric"].groupby("parameter")[["bpp", "psnr"]].mean()
        test = frame[frame["codec"] == tuned].groupby("parameter")[["bpp", "psnr"]].mean()
        delta_psnr = bd_metric(base["bpp"], base["psnr"], test["bpp"], test["psnr"])
        ratio = (frame.loc[frame["codec"] == tuned, "encode_s"].mean()
                 / frame.loc[frame["codec"] == "clric", "encode_s"].mean())
        print(f"  PSNR at equal rate: {delta_psnr:+.2f} dB; encode time {ratio:.2f}× clric's "
              "(mean seconds per file, same run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
