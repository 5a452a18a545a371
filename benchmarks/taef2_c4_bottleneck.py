"""Where ``taef2-c4`` loses quality: its 4-channel bottleneck or its fine-tuned decoder.

Usage (from the repository root; Kodak from CLRIC_KODAK_DIR):

    python benchmarks/taef2_c4_bottleneck.py            # all 24 Kodak images
    python benchmarks/taef2_c4_bottleneck.py --images 3 --threads 1

For each Kodak image it decodes three latents and prints the mean PSNR over the images:

* the shipped path, ``D'(L(S(E(x))))``: TAEF2's frozen encoder E, the learned squeeze S to 4
  channels, the learned lift L back to 32, the fine-tuned decoder D';
* the fine-tuned decoder on TAEF2's own latent, ``D'(E(x))`` (no bottleneck);
* TAEF2 alone, ``D(E(x))`` (its original decoder).

and the lift's error relative to the latent it replaces,
:math:`\\lVert L(S(E(x))) - E(x)\\rVert^2 / \\lVert E(x)\\rVert^2`: the share of TAEF2's latent
that four channels do not carry back.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from clric_utils.data import kodak_image
from clric_utils.images import image_to_tensor, read_image, tensor_to_image
from clric_utils.metrics.quality import psnr
from clric_utils.vae import load_vae
from clric_utils.vae.registry import TAEF2_DIR
from clric_utils.vae.taef2 import load_taef2


@torch.no_grad()
def measure(image: np.ndarray, model, original_decoder) -> tuple[float, float, float, float]:
    """PSNR of the shipped path, of D'(E(x)) and of D(E(x)); the lift's relative error."""
    # TAEF2 works on images in [0, 1], the package's tensors are in [-1, 1].
    x = image_to_tensor(image).add(1).div(2).to(model.dtype)
    teacher = model.taef2_encoder(x)
    lifted = model.lift(model.squeeze(teacher))
    relative = (lifted.float() - teacher.float()).pow(2).sum() / teacher.float().pow(2).sum()

    def decoded(decoder, latent: torch.Tensor) -> np.ndarray:
        return tensor_to_image(decoder(latent).mul(2).sub(1))

    return (psnr(image, decoded(model.taef2_decoder, lifted)),
            psnr(image, decoded(model.taef2_decoder, teacher)),
            psnr(image, decoded(original_decoder, teacher)),
            relative.item())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24, help="first N Kodak images (24)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_vae("taef2-c4").model
    original_decoder = load_taef2(TAEF2_DIR).decoder
    rows = np.array([measure(read_image(kodak_image(n)), model, original_decoder)
                     for n in range(1, args.images + 1)])
    shipped, no_bottleneck, taef2, relative = rows.mean(axis=0)
    print(f"Kodak, {args.images} images, mean PSNR (dB):")
    print(f"  taef2-c4 as shipped, D'(L(S(E(x))))      {shipped:6.2f}")
    print(f"  fine-tuned decoder on TAEF2's latent      {no_bottleneck:6.2f}")
    print(f"  TAEF2 alone, D(E(x))                      {taef2:6.2f}")
    print(f"lift error / latent power: {relative:.3f} (share of TAEF2's latent not carried back)")


if __name__ == "__main__":
    main()
