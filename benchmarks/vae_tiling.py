"""The cost of tiled VAE passes: PSNR of the VAE round trip with and without tiles.

For each image: PSNR(image, decode(encode(image))) in one pass and tiled (encode and decode),
with a tile side small enough to put several seams in a Kodak image (``--tile``, in latent
pixels; the library's default tile is larger, so its images have fewer seams per pixel).

    python benchmarks/vae_tiling.py --vae house --images 2 --tile 32
"""

from __future__ import annotations

import argparse
import sys
import time

import torch


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two 1×3×H×W tensors in [-1, 1], on 8-bit pixel values."""
    from clric_utils.images import tensor_to_image

    x = torch.from_numpy(tensor_to_image(a)).double()
    y = torch.from_numpy(tensor_to_image(b)).double()
    return float(10 * torch.log10(255.0**2 / (x - y).pow(2).mean()))


def main(argv: list[str] | None = None) -> int:
    """Print one line per image and the mean PSNR cost of tiling."""
    import clric_utils.vae.latents as latents
    from clric_utils.data import kodak_dir
    from clric_utils.images import image_files, image_to_tensor, read_image
    from clric_utils.vae import load_vae

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vae", default="house")
    parser.add_argument("--images", type=int, default=2, help="first K Kodak images")
    parser.add_argument("--tile", type=int, default=32, help="tile side in latent pixels")
    parser.add_argument("--overlap", type=int, default=latents.TILE_OVERLAP_LATENT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    vae = load_vae(args.vae)
    latents.TILE_LATENT, latents.TILE_OVERLAP_LATENT = args.tile, args.overlap
    costs = []
    for path in image_files(kodak_dir())[: args.images]:
        x = image_to_tensor(read_image(path))
        results = {}
        for tiling in (False, True):
            vae.tiling = tiling
            start = time.perf_counter()
            results[tiling] = (psnr(x, vae.reconstruct(x)), time.perf_counter() - start)
        cost = results[False][0] - results[True][0]
        costs.append(cost)
        print(f"{path.name}: one pass {results[False][0]:.3f} dB ({results[False][1]:.1f} s), "
              f"tiled {results[True][0]:.3f} dB ({results[True][1]:.1f} s), cost {cost:+.4f} dB")
    print(f"mean cost of tiling ({args.vae}, tile {args.tile}, overlap {args.overlap} latent "
          f"pixels, {len(costs)} images): {sum(costs) / len(costs):+.4f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
