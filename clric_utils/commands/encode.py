"""Compress an image into a .clric file (VAE latent + overfitted function, entropy coded)."""

from __future__ import annotations

import argparse

from ..codec.arch import DEFAULT_PRESET, PRESETS
from ..codec.schedule import DEFAULT_EFFORT, EFFORTS
from ..codec.tunes import TUNES

#: λ used when neither --lmbda nor --target-bpp is given: the middle of the λ grid (30 … 0.001).
DEFAULT_LAMBDA = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``clric encode`` options."""
    parser.epilog = (
        "An existing output file is never replaced unless --force is given (as gzip and zstd "
        "do), and the output may never be the input. Files are written atomically: a "
        "temporary file beside the output, renamed when complete."
    )
    parser.add_argument("input", help="image file (PNG, JPEG, …)")
    parser.add_argument("-o", "--output", required=True,
                        help="the .clric file to write (must end in .clric)")
    parser.add_argument("-f", "--force", action="store_true",
                        help="overwrite the output file if it exists")
    parser.add_argument("--vae", default="house",
                        help="VAE short name (house, taef2, taef2-c4, tiny, sd, sd-in, sdxl, "
                             "taesd, taesdxl), local folder or Hugging Face id (default: house)")
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--lmbda", type=float, default=None,
                      help=f"rate-distortion trade-off λ, larger = fewer bits "
                           f"(default {DEFAULT_LAMBDA:g})")
    rate.add_argument("--target-bpp", type=float, default=None,
                      help="search λ so that the file has this many bits per pixel (±3%%); "
                           "a target that cannot be met is an error naming the closest rate")
    parser.add_argument("--best-effort", action="store_true",
                        help="with --target-bpp: write the closest file when the target cannot "
                             "be met (with a warning) instead of failing")
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS),
                        help=f"decoder architecture, sized to the VAE's latent: wide (reaches the "
                             f"VAE's quality), paper (the paper's ≈ 25 MAC/pixel), slim (for "
                             f"wide latents such as taef2's 32 channels), lite "
                             f"(default {DEFAULT_PRESET})")
    parser.add_argument("--tune", "--distortion", dest="tune", choices=list(TUNES),
                        default=None,
                        help="what the fit minimises besides the rate: latent MSE (the paper's), "
                             "latent MSE weighted by the VAE decoder's per-channel sensitivity, "
                             "or latent MSE plus the pixel MSE (pixel) or pixel MSE and "
                             "LPIPS-alex (perceptual) of tiles the frozen VAE decoder makes of "
                             "ŷ, slower to encode (default: weighted-latent for a VAE that "
                             "stores its sensitivity, taef2; else latent)")
    parser.add_argument("--effort", default=DEFAULT_EFFORT, choices=list(EFFORTS),
                        help=f"training effort (default {DEFAULT_EFFORT})")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the fit (0 … 2^63−1)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, …)")
    parser.add_argument("--max-memory", type=float, default=None, metavar="GB",
                        help="memory limit in GB (default: what this machine has available); "
                             "an image needing more is refused before any work")
    parser.add_argument("--max-work", type=float, default=None, metavar="MP",
                        help="decode-work limit, as the work of an image of MP megapixels coded "
                             "with the heaviest preset (default 16); more is refused up front")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    # Hidden, for tests: a short effort of N gradient steps in all (codec.schedule.short_effort).
    parser.add_argument("--iterations", type=int, default=None, help=argparse.SUPPRESS)
    # Hidden, for tests: save the encoder's ŷ (float32 .npy), to compare with the decoder's.
    parser.add_argument("--dump-latent", default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Check every argument, fit, write the file atomically, print its size."""
    from ..api import compress
    from ..output_paths import check_output_path
    from .outputs import save_bytes, save_npy

    # The output paths first: a typo must cost milliseconds, not the whole fit.
    output = check_output_path(args.output, (".clric",), (args.input,), args.force)
    if args.dump_latent:
        check_output_path(args.dump_latent, (".npy",), (args.input, output), args.force,
                          "--dump-latent")
    if args.best_effort and args.target_bpp is None:
        from ..errors import ParameterError

        raise ParameterError("--best-effort only applies with --target-bpp")
    lmbda = args.lmbda
    if lmbda is None and args.target_bpp is None:
        lmbda = DEFAULT_LAMBDA
    effort = args.effort
    if args.iterations is not None:
        from ..codec.schedule import short_effort

        effort = short_effort(args.iterations)
    result = compress(
        args.input, vae=args.vae, lmbda=lmbda, target_bpp=args.target_bpp, preset=args.preset,
        effort=effort, seed=args.seed, device=args.device, progress=not args.quiet,
        strict=not args.best_effort, max_memory=args.max_memory, tune=args.tune,
        max_work=args.max_work,
    )
    save_bytes(output, result.data, overwrite=args.force)
    if args.dump_latent:
        save_npy(args.dump_latent, result.y_hat.numpy(), overwrite=args.force)
    print(
        f"{output}: {len(result.data)} bytes, {result.bpp:.4f} bpp "
        f"(estimated {result.estimated_bits:.0f} bits + {result.header_bytes}-byte header; "
        f"λ={result.fit.lmbda:g})"
    )
    return 0
