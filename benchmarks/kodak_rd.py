"""Full Kodak rate-distortion table for one VAE: baselines, VAE ceiling and CLRIC.

Usage (from the repository root; Kodak from CLRIC_KODAK_DIR, LPIPS/DISTS backbones from
CLRIC_TORCHVISION_WEIGHTS):

    python benchmarks/kodak_rd.py --vae house --workers 2
    python benchmarks/kodak_rd.py --vae house --codecs jpeg webp avif latent-quant vae-only
    python benchmarks/kodak_rd.py --vae sd --codecs clric --device cuda

Writes results/kodak_<vae>.csv (resumable: rerun the same command to finish an interrupted
sweep), figures/kodak_<vae>_rd.png, and prints the mean table and BD-rates against JPEG.
On a 2-core CPU, the baselines take minutes; each CLRIC point is a per-image optimisation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from clric_utils.data import kodak_images
from clric_utils.evaluation.contenders import CODECS
from clric_utils.evaluation.plots import plot_rd
from clric_utils.evaluation.result_sets import dataset_of, results_title
from clric_utils.evaluation.summary import bd_rate_table, mean_table
from clric_utils.evaluation.sweep import run_sweep

DEFAULT_CODECS = ("jpeg", "webp", "avif", "avif-slow", "latent-quant", "vae-only", "clric")


def main(argv: list[str] | None = None) -> int:
    """Run the Kodak sweep for one VAE, then write the figure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vae", default="house")
    parser.add_argument("--codecs", nargs="+", default=list(DEFAULT_CODECS), choices=list(CODECS))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--figures", type=Path, default=Path("figures"))
    args = parser.parse_args(argv)

    out_csv = args.results / f"kodak_{args.vae}.csv"
    frame = run_sweep(
        kodak_images(), args.codecs, args.vae, out_csv, workers=args.workers, device=args.device
    )
    figure_path = args.figures / f"kodak_{args.vae}_rd.png"
    plot_rd(frame, out_path=figure_path, title=results_title(frame), anchors=dataset_of(frame))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(mean_table(frame).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if "jpeg" in set(frame["codec"]):
            print("\nBD-rate (%) against JPEG, PCHIP on data-set mean curves")
            print(bd_rate_table(frame).to_string(index=False, float_format=lambda v: f"{v:+.2f}"))
    print(f"\n{out_csv} ({len(frame)} rows), {figure_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
