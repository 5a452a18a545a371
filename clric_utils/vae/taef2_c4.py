"""``taef2-c4``: TAEF2 squeezed to Stable Diffusion's latent shape (4 channels at stride 8).

TAEF2's 32-channel latent is perceptual but eight times wider than the paper's VAEs, which puts
CLRIC in another rate regime. ``taef2-c4`` keeps TAEF2's encoder and decoder (whose decoder was
distilled from FLUX.2's adversarially trained VAE and draws textures) and puts a learned
bottleneck between them:

.. math::
    y = \\mathrm{norm}\\big(S(E_{\\mathrm{TAEF2}}(x))\\big)
      \\in \\mathbb{R}^{4\\times H/8\\times W/8},
    \\qquad \\hat x = D_{\\mathrm{TAEF2}}\\big(L(y)\\big),

with a squeeze ``S`` (32 → 64 → 4: a 3×3 convolution, one residual block, a 3×3 convolution), a
normalisation without learned gain (BatchNorm statistics, frozen after training) that keeps
every latent channel at zero mean and unit variance, and a lift ``L`` (4 → 64 → 32: a 3×3
convolution, two residual blocks, a 3×3 convolution). The recipe (``train_taef2_c4.py``)
trains ``S`` and ``L``, fine-tunes ``D`` at a small learning rate, and keeps ``E`` frozen.

The interface is diffusers' ``AutoencoderTiny``'s, like ``taef2.Taef2``: images in [−1, 1],
``encode(x).latents``, ``decode(y).sample``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import MissingWeightsError
from .taef2 import LATENT_CHANNELS as TAEF2_CHANNELS
from .taef2 import WIDTH, Taef2, _Block, _conv, _Latents, _Sample, load_taef2, tiny_config

#: The latent shape of Stable Diffusion's VAEs: 4 channels at stride 8.
LATENT_CHANNELS = 4
#: The file of the trained bottleneck and fine-tuned decoder (a torch state dict, float16).
WEIGHTS_FILE = "taef2_c4.pth"


def squeeze() -> nn.Sequential:
    """S: TAEF2 latent (32 channels) → 4 channels, then a gain-free per-channel normalisation."""
    return nn.Sequential(_conv(TAEF2_CHANNELS, WIDTH), nn.ReLU(), _Block(WIDTH),
                         _conv(WIDTH, LATENT_CHANNELS),
                         nn.BatchNorm2d(LATENT_CHANNELS, affine=False, momentum=0.01))


def lift() -> nn.Sequential:
    """L: 4 channels → a TAEF2 latent (32 channels) for TAEF2's decoder."""
    return nn.Sequential(_conv(LATENT_CHANNELS, WIDTH), nn.ReLU(), _Block(WIDTH), _Block(WIDTH),
                         _conv(WIDTH, TAEF2_CHANNELS))


class Taef2C4(nn.Module):
    """TAEF2 with a 4-channel bottleneck, with ``AutoencoderTiny``'s interface."""

    def __init__(self, taef2: Taef2 | None = None) -> None:
        super().__init__()
        taef2 = taef2 if taef2 is not None else Taef2()
        self.taef2_encoder, self.taef2_decoder = taef2.encoder, taef2.decoder
        self.squeeze, self.lift = squeeze(), lift()
        self.config = tiny_config(LATENT_CHANNELS)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def encode(self, image: torch.Tensor) -> _Latents:
        """Latent (4 channels, unit variance) of an image in [−1, 1]."""
        return _Latents(self.squeeze(self.taef2_encoder(image.add(1).div(2))))

    def decode(self, latent: torch.Tensor) -> _Sample:
        """Image in about [−1, 1] of a 4-channel latent (not clamped)."""
        return _Sample(self.taef2_decoder(self.lift(latent)).mul(2).sub(1))

    def trained_state(self) -> dict[str, torch.Tensor]:
        """What training changes: squeeze, lift and the fine-tuned TAEF2 decoder."""
        return {name: value for name, value in self.state_dict().items()
                if not name.startswith("taef2_encoder.")}


def load_taef2_c4(folder: Path, taef2_folder: Path) -> Taef2C4:
    """``taef2-c4`` in float32, eval mode, frozen: TAEF2's official files plus ours."""
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise MissingWeightsError(
            f"{path} is missing; train it with `python -m clric_utils.vae.train_taef2_c4`"
        )
    model = Taef2C4(load_taef2(taef2_folder))
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    missing = set(model.trained_state()) - set(state)
    if missing:
        raise MissingWeightsError(f"{path} lacks {len(missing)} tensors (e.g. {min(missing)})")
    return model.eval().requires_grad_(False)
