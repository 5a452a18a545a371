"""Decode a .clric file into a PNG image (with the VAE named in the file)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import ClricError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``clric decode`` options."""
    parser.add_argument("input", help="the .clric file")
    parser.add_argument("-o", "--output", required=True, help="the PNG file to write")
    parser.add_argument("--vae", default=None,
                        help="VAE to decode with (default: the one named in the file)")
    parser.add_argument("--device", default="cpu", help="torch device of the VAE decoder")
    # Hidden: save the decoded ŷ (float32 .npy) to check bit-exactness across processes.
    parser.add_argument("--dump-latent", default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Decode ŷ, run the VAE decoder, write the PNG."""
    from ..codec_api import decompress_latent, file_vae
    from ..images import save_png

    decoded = decompress_latent(args.input)
    header = decoded.header
    if args.dump_latent:
        try:
            np.save(args.dump_latent, decoded.y_hat.numpy())
        except OSError as error:
            raise ClricError(f"{args.dump_latent}: cannot write ({error.strerror or error})"
                             ) from None
    vae = file_vae(header, args.vae, args.device)
    image = vae.decode(decoded.y_hat.to(args.device), header.image_height, header.image_width)
    output = Path(args.output)
    try:
        save_png(image, output)
    except OSError as error:
        raise ClricError(f"{output}: cannot write ({error.strerror or error})") from None
    print(f"{output}: {header.image_width}×{header.image_height} decoded with {vae.name}")
    return 0
