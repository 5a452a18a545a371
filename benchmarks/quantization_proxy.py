"""The quantization proxy of training phase 1: s_T(x) + u against C3's s_T(s_T(x) + u).

Usage (from the repository root; Kodak from CLRIC_KODAK_DIR):

    python benchmarks/quantization_proxy.py                       # kodim23, wide and paper
    python benchmarks/quantization_proxy.py --images 1 23 --presets wide --lmbda 0.0003

For each image, preset and λ, the same ``fit`` (same seed, effort and every other setting) runs
once per form of ``Hyperparameters.softround_mode``; the file is written and decoded through the
VAE. Prints the latent MSE, the real bpp and the PSNR of each, the table of docs/codec.md
("Quantization proxy").
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

from clric_utils.api import write_fit
from clric_utils.codec.arch import PRESETS
from clric_utils.codec.quantizer import SOFTROUND_MODES
from clric_utils.codec.schedule import EFFORTS, HYPERPARAMETERS
from clric_utils.codec.train import fit
from clric_utils.data import kodak_image
from clric_utils.images import image_to_tensor, read_image
from clric_utils.metrics.quality import psnr
from clric_utils.vae.loading import load_vae


def main(argv: list[str] | None = None) -> int:
    """Fit every image × preset × λ with both proxies and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, nargs="+", default=[23], help="Kodak numbers")
    parser.add_argument("--presets", nargs="+", default=["wide", "paper"], choices=sorted(PRESETS))
    parser.add_argument("--lmbda", type=float, nargs="+", default=[0.0003, 0.01])
    parser.add_argument("--effort", default="medium", choices=list(EFFORTS))
    parser.add_argument("--zero-start", action="store_true",
                        help="grids start at zero at every λ (no latent start), as in Cool-chic")
    args = parser.parse_args(argv)
    vae = load_vae("house")
    start = "zero start" if args.zero_start else "latent start for λ ≤ 0.1"
    print(f"effort {args.effort}, seed 0, 1 thread, house VAE, {start}")
    print(f"{'image':>8} {'preset':>6} {'λ':>7} {'proxy':>16} {'latent MSE':>10} {'bpp':>7} "
          f"{'PSNR':>6}")
    for number in args.images:
        image = read_image(kodak_image(number))
        x = image_to_tensor(image)
        latent = vae.encode(x)
        for preset in args.presets:
            for lmbda in args.lmbda:
                for mode in SOFTROUND_MODES:
                    hp = dataclasses.replace(HYPERPARAMETERS, softround_mode=mode,
                                             latent_start=not args.zero_start)
                    result = fit(latent, image.shape[:2], lmbda, preset=preset,
                                 effort=args.effort, progress=False, hyperparameters=hp)
                    encoded = write_fit(result, vae.name, vae.scaling_factor, latent)
                    decoded = vae.decode(encoded.y_hat, *image.shape[:2])
                    pixels = ((decoded.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
                    quality = psnr(image, pixels[0].permute(1, 2, 0).numpy())
                    print(f"kodim{number:02d} {preset:>6} {lmbda:7.4g} {mode:>16} "
                          f"{result.latent_mse:10.5f} {encoded.bpp:7.4f} {quality:6.2f}",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
