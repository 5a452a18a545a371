"""How good is a VAE on Kodak? Its own reconstruction (the codec's quality ceiling) vs bicubic ×8.

    python benchmarks/house_vae.py [--vae house] [--images 24] [--json results/house_vae.json]

Prints mean PSNR / MS-SSIM / LPIPS-alex / LPIPS-vgg of the VAE's reconstruction and of
bicubic ×8 down/up (the same 64× fewer samples, no learning), the mean per-channel colour bias
of the VAE (reconstruction − original, in 8-bit levels) and encode / decode seconds per image.
Reconstructions are rounded to 8 bits first, as a decoded PNG would be.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from clric_utils.data import kodak_images
from clric_utils.images import image_to_tensor, read_image, tensor_to_image
from clric_utils.metrics.quality import all_metrics
from clric_utils.vae import load_vae

METRICS = ("psnr", "ms_ssim", "lpips_alex", "lpips_vgg")


def bicubic_x8(image: torch.Tensor) -> torch.Tensor:
    """Downsample by 8 (antialiased bicubic), then upsample back by bicubic interpolation."""
    height, width = image.shape[-2:]
    small = F.interpolate(image, scale_factor=1 / 8, mode="bicubic", antialias=True)
    return F.interpolate(small, size=(height, width), mode="bicubic").clamp(-1, 1)


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vae", default="house")
    parser.add_argument("--images", type=int, default=24, help="first N Kodak images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    vae = load_vae(args.vae)
    rows = {"reconstruction": [], "bicubic_x8": []}
    bias, encode_s, decode_s = [], [], []
    for path in tqdm(kodak_images()[: args.images], desc=f"{args.vae} on Kodak"):
        original = read_image(path)
        x = image_to_tensor(original)
        started = time.perf_counter()
        latent = vae.encode(x)
        encode_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        reconstruction = tensor_to_image(vae.decode(latent, *original.shape[:2]))
        decode_s.append(time.perf_counter() - started)
        rows["reconstruction"].append(all_metrics(original, reconstruction, METRICS))
        rows["bicubic_x8"].append(all_metrics(original, tensor_to_image(bicubic_x8(x)), METRICS))
        bias.append(reconstruction.astype(np.float64).mean((0, 1)) - original.mean((0, 1)))

    summary = {
        name: {m: float(np.mean([r[m] for r in results])) for m in METRICS}
        for name, results in rows.items()
    }
    summary["colour_bias_levels_rgb"] = [round(float(b), 2) for b in np.mean(bias, axis=0)]
    summary["encode_s"] = float(np.median(encode_s))
    summary["decode_s"] = float(np.median(decode_s))
    summary["images"] = len(bias)
    summary["vae"] = args.vae
    summary["threads"] = args.threads

    print(f"\n{args.vae} VAE on {len(bias)} Kodak images (mean):")
    print(f"{'method':<14}" + "".join(f"{m:>12}" for m in METRICS))
    for name in rows:
        label = args.vae if name == "reconstruction" else "bicubic x8"
        print(f"{label:<14}" + "".join(f"{summary[name][m]:>12.4f}" for m in METRICS))
    print(f"colour bias (reconstruction − original, levels) R G B: "
          f"{summary['colour_bias_levels_rgb']}")
    print(f"seconds per image ({args.threads} threads, median): encode {summary['encode_s']:.2f}, "
          f"decode {summary['decode_s']:.2f}, together "
          f"{summary['encode_s'] + summary['decode_s']:.2f}")
    if args.json:
        from clric_utils.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
