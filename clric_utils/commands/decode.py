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
    # Hidden: save the decoded ŷ (float32 .npy) to check bit-exactness across processes.
    parser.add_argument("--dump-latent", default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Check the paths and the memory budget, decode ŷ, run the VAE decoder, write the PNG."""
    from ..api import check_decode_budget, decompress_latent, file_vae, read_header
    from ..bitstream.reading import read_clric_file
    from ..output_paths import check_output_path
    from .outputs import save_npy, save_png_output

    output = check_output_path(args.output, (".png",), (args.input,), args.force)
    if args.dump_latent:
        check_output_path(args.dump_latent, (".npy",), (args.input, output), args.force,
                          "--dump-latent")
    data = read_clric_file(args.input)
    header = read_header(data)
    check_decode_budget(header, None, args.max_memory)  # before the VAE is even loaded
    vae = file_vae(header, args.vae, args.device)
    check_decode_budget(header, vae, args.max_memory)  # before anything is allocated
    decoded = decompress_latent(data, args.max_memory)
    if args.dump_latent:
        save_npy(args.dump_latent, decoded.y_hat.numpy(), overwrite=args.force)
    image = vae.decode(decoded.y_hat.to(args.device), header.image_height, header.image_width)
    save_png_output(output, image, overwrite=args.force)
    print(f"{output}: {header.image_width}×{header.image_height} decoded with {vae.name}")
    return 0
