r"""How much a VAE's decoder cares about each latent channel, measured once per VAE.

For channel c, Gaussian noise of standard deviation σ is added to that channel alone and the
decoded image's mean squared change (images in [−1, 1]) is divided by the noise's power:

.. math::  s_c = \frac{\mathbb{E}\,\lVert D(y + \sigma n e_c) - D(y) \rVert^2 / (3HW)}
                      {\mathbb{E}\,\lVert \sigma n \rVert^2 / (hw)},

the decoder's gain from latent error in channel c to pixel error (for small σ, the squared
norm of its Jacobian's c-th block, averaged). ``distortion.LatentMSE`` weighs the fit's latent
MSE by these numbers (normalised to mean 1). Measured on centre crops of the training photos
(``CLRIC_PHOTOS_DIR``, never Kodak) and stored beside the VAE's weights as
``channel_sensitivity.json``; run ``python -m clric_utils.vae.sensitivity --vae taef2``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..images import image_to_tensor, read_image

#: File beside a VAE's weights holding its per-channel sensitivity.
SENSITIVITY_FILE = "channel_sensitivity.json"
#: Noise level (latent units, latents of variance ≈ 1): small enough to stay near-linear.
NOISE_STD = 0.1
#: Side of the centre crop of each photo (pixels) and the number of photos.
CROP, PHOTOS = 256, 8


@torch.no_grad()
def channel_sensitivity(vae, paths: list[Path], seed: int = 0) -> list[float]:
    """s_c for every latent channel of ``vae`` (a FrozenVae), averaged over ``paths``."""
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(vae.latent_channels, dtype=torch.float64)
    for path in paths:
        image = read_image(path)
        height, width = image.shape[:2]
        top, left = max(0, (height - CROP) // 2), max(0, (width - CROP) // 2)
        x = image_to_tensor(image[top : top + CROP, left : left + CROP])
        latent = vae.encode(x)
        reference = vae.decode(latent)
        for c in range(vae.latent_channels):
            noise = torch.zeros_like(latent)
            noise[:, c] = NOISE_STD * torch.randn(latent[:, c].shape, generator=generator)
            change = (vae.decode(latent + noise) - reference).double().pow(2).mean()
            total[c] += change / noise[:, c].double().pow(2).mean()
    return [float(v) for v in total / len(paths)]


def read_sensitivity(folder: Path) -> tuple[float, ...] | None:
    """The stored per-channel sensitivity of the VAE in ``folder``, or None."""
    path = Path(folder) / SENSITIVITY_FILE
    if not path.is_file():
        return None
    values = json.loads(path.read_text(encoding="utf-8"))["sensitivity"]
    return tuple(float(v) for v in values)


def main(argv: list[str] | None = None) -> int:
    """Measure a VAE's per-channel sensitivity and write it as JSON."""
    from ..data import photo_paths
    from .loading import load_vae

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vae", default="taef2")
    parser.add_argument("--out", type=Path, help="JSON to write (default: print)")
    args = parser.parse_args(argv)
    vae = load_vae(args.vae)
    paths = photo_paths()[:PHOTOS]
    values = channel_sensitivity(vae, paths)
    record = {
        "vae": args.vae,
        "what": "mean squared pixel change ([-1, 1] images) per unit latent noise power, "
                f"per channel; noise std {NOISE_STD}, {CROP}x{CROP} centre crops of "
                f"{len(paths)} training photos ({', '.join(p.name for p in paths)})",
        "sensitivity": [round(v, 6) for v in values],
    }
    text = json.dumps(record, indent=1) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
