"""Decode a .clric file into a PNG image (with the VAE named in the file)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``clric decode`` options."""
    parser.epilog = (
        "An existing output file is never replaced unless --force is given, and the output "
        "may never be the input. The PNG is written atomically (temporary file, then rename)."
    )
    parser.add_argument("input", help="the .clric file")
    parser.add_argument("-o", "--output", required=True,
                        help="the PNG file to write (must end in .png)")
    parser.add_argument("-f", "--force", action="store_true",
                        help="overwrite the output file if it exists")
    parser.add_argument("--vae", default=None,
                        help="VAE to decode with (default: the one named in the file)")
    parser.add_argument("--device", default="cpu", help="torch device of the VAE decoder")
    parser.add_argument("--max-memory", type=float, default=None, metavar="GB",
                        help="memory limit in GB (default: what this machine has available); "
                             "a file whose image needs more is refused before decoding")
    parser.add_argument("--max-work", type=float, default=None, metavar="MP",
                        help="decode-work limit, as the work of an image of MP megapixels coded "
                             "with the heaviest preset (default 16); more is refused up front")
    # Hidden: save the decoded ŷ (float32 .npy) to check bit-exactness across processes.
    parser.add_argument("--dump-latent", default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Check the paths, decode (``api.decode_pipeline``), write the PNG."""
    from ..api import decode_pipeline
    from ..bitstream.reading import read_clric_file
    from ..output_paths import check_output_path
    from .outputs import save_npy, save_png_output

    output = check_output_path(args.output, (".png",), (args.input,), args.force)
    if args.dump_latent:
        check_output_path(args.dump_latent, (".npy",), (args.input, output), args.force,
                          "--dump-latent")

    def dump(latent) -> None:
        save_npy(args.dump_latent, latent.y_hat.numpy(), overwrite=args.force)

    decoded = decode_pipeline(read_clric_file(args.input), args.vae, args.device,
                              args.max_memory, on_latent=dump if args.dump_latent else None,
                              max_work=args.max_work)
    save_png_output(output, decoded.image, overwrite=args.force)
    header = decoded.latent.header
    print(f"{output}: {header.image_width}×{header.image_height} decoded with {decoded.vae.name}")
    return 0
