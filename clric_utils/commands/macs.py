"""Count the decoder's multiply-accumulates per pixel (overfitted function and VAE decoder).

Prints, for the requested image size and for the two sizes of the paper's Table 1, the MAC per
image pixel of the ARM, the upsampling and the synthesis of every preset (or the one asked
for), their total next to the paper's value, and the VAE decoder's MAC per pixel beside it.
The paper's Table 1 is reproduced by the ``paper`` preset; the others show what their extra
capacity costs against the same numbers. Presets are sized to the VAE's latent (``--vae taef2``:
32 channels); the paper's column is for 4-channel latents and is left out otherwise.
"""

from __future__ import annotations

import argparse

from ..codec.arch import PRESETS
from ..codec.macs import PAPER_TABLE_1, decoder_macs, vae_decoder_macs_per_pixel
from ..errors import ClricError, ParameterError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``clric macs``."""
    parser.add_argument("--preset", default="all", choices=["all", *sorted(PRESETS)],
                        help="architecture of the overfitted function (default: all presets)")
    parser.add_argument("--height", type=int, default=512, help="image height (default 512)")
    parser.add_argument("--width", type=int, default=768, help="image width (default 768)")
    parser.add_argument("--vae", default=None,
                        help="VAE whose decoder is counted beside (default: house if its weights "
                             "are installed, else tiny); 'none' to skip")


def _load_vae(name: str | None):
    """(name, FrozenVae) to count, or (reason, None) when no VAE can be loaded."""
    from ..vae.loading import load_vae

    if name is not None:
        return name, load_vae(name)
    try:
        return "house", load_vae("house")
    except ClricError:  # house weights not exported yet: the seeded stand-in has the same shape
        return "tiny", load_vae("tiny")


def run(args: argparse.Namespace) -> int:
    """Print the MAC table; return 0."""
    if args.height < 1 or args.width < 1:
        raise ParameterError(f"image size must be positive, got {args.height}×{args.width}")
    sizes = [(args.height, args.width)]
    sizes += [size for size in PAPER_TABLE_1 if size != sizes[0]]
    skip = args.vae is not None and args.vae.lower() == "none"
    vae_name, vae = (None, None) if skip else _load_vae(args.vae)

    presets = sorted(PRESETS) if args.preset == "all" else [args.preset]
    channels = int(vae.latent_channels) if vae is not None else 4
    vae_macs = {size: vae_decoder_macs_per_pixel(vae, *size) for size in sizes} if vae else {}

    header = (f"{'preset':>6}  {'image':>11}  {'ARM':>6}  {'upsamp':>6}  {'synth':>6}  "
              f"{'total':>6}  {'paper':>6}  {'Δ':>6}")
    if vae is not None:
        header += f"  {'VAE dec (' + vae_name + ')':>16}"
    print(f"decoder MAC per image pixel, {channels}-channel latent (paper: CLRIC supplement "
          "Table 1, SD latents, reproduced by the 'paper' preset)")
    print(header)
    for preset in presets:
        for height, width in sizes:
            parts = decoder_macs(preset, height, width, channels).per_pixel()
            paper = PAPER_TABLE_1.get((height, width)) if channels == 4 else None
            line = (f"{preset:>6}  {height:>5}×{width:<5}  {parts['arm']:6.2f}  "
                    f"{parts['upsampling']:6.2f}  {parts['synthesis']:6.2f}  "
                    f"{parts['total']:6.2f}  ")
            if paper is not None:
                line += f"{paper:6.2f}  {100 * (parts['total'] / paper - 1):+5.1f}%"
            else:
                line += f"{'—':>6}  {'':>6}"
            if vae is not None:
                line += f"  {vae_macs[(height, width)]:16,.0f}"
            print(line)
    print("ARM: C² per hidden layer + 2C per grid value; upsampling: taps × outputs of both 1-D "
          "passes; synthesis: in·out·k² per latent pixel; ÷ (H·W padded to 8).")
    return 0
