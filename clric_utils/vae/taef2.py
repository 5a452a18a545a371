"""TAEF2: the tiny autoencoder distilled from FLUX.2's VAE, written out on one screen.

TAEF2 (madebyollin/taesd, MIT) has TAESD's architecture: 3×3 convolutions in 64-channel
residual blocks, three stride-2 stages each way, no attention, no KL; the blocks next to the
latent (the encoder's last three, the decoder's first three) add a GroupNorm "mid-block"
branch, ``x ← x + W₂·ReLU(GN₄(W₁·x))`` with 1×1 convolutions 64 → 256 → 64 and 4 groups.
Its latent has 32 channels at stride 8 and needs no scaling factor (unit-ish variance:
RMS ≈ 0.82 on Kodak). The official code takes images in [0, 1]; this module keeps the
interface of diffusers' ``AutoencoderTiny`` (images in [−1, 1], ``encode(x).latents``,
``decode(z).sample``) so that ``FrozenVae`` wraps it like any other VAE.

The weights are the official fp16 state dicts ``taef2_encoder.pth`` / ``taef2_decoder.pth``
(``nn.Sequential`` keys); ``load_taef2`` checks their SHA-256 before loading, with
``torch.load(weights_only=True)`` (no pickled code runs).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from ..errors import MissingWeightsError

#: Latent channels and width of every block.
LATENT_CHANNELS, WIDTH = 32, 64
#: Official files (root of github.com/madebyollin/taesd at commit 5cccb12, 2025-12-27) and the
#: SHA-256 of each: a folder is only loaded when its files are these bytes.
TAEF2_COMMIT = "5cccb12"
TAEF2_URL = "https://github.com/madebyollin/taesd/raw/{commit}/{name}"
TAEF2_SHA256 = {
    "taef2_encoder.pth": "10a4e1021e89d7551eaf161352da8dbd0b1aa83872ae28b150c1df1ce2f147b6",
    "taef2_decoder.pth": "0a44a31e1ae59eb9dbf9359d24942fd3ef5928162c1800d97a28c61d51be0ab5",
}


def _conv(n_in: int, n_out: int, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kwargs)


class _Clamp(nn.Module):
    """Soft clamp of the latent to ±3: 3·tanh(z/3)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z / 3) * 3


class _Block(nn.Module):
    """ReLU(conv₃(ReLU(conv₂(ReLU(conv₁ x)))) + x), after the optional GroupNorm branch."""

    def __init__(self, n: int, group_norm: bool = False) -> None:
        super().__init__()
        self.conv = nn.Sequential(_conv(n, n), nn.ReLU(), _conv(n, n), nn.ReLU(), _conv(n, n))
        self.pool = nn.Sequential(
            nn.Conv2d(n, 4 * n, 1, bias=False), nn.GroupNorm(4, 4 * n), nn.ReLU(),
            nn.Conv2d(4 * n, n, 1, bias=False),
        ) if group_norm else None
        self.fuse = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + x)


def encoder() -> nn.Sequential:
    """Image in [0, 1] (N×3×H×W, H and W multiples of 8) → latent N×32×H/8×W/8."""
    def down() -> nn.Conv2d:
        return _conv(WIDTH, WIDTH, stride=2, bias=False)

    def blocks(norm: bool = False) -> list[nn.Module]:
        return [_Block(WIDTH, norm) for _ in range(3)]

    return nn.Sequential(_conv(3, WIDTH), _Block(WIDTH), down(), *blocks(), down(), *blocks(),
                         down(), *blocks(norm=True), _conv(WIDTH, LATENT_CHANNELS))


def decoder() -> nn.Sequential:
    """Latent N×32×h×w → image N×3×8h×8w (about [0, 1]; clamp it)."""
    def up() -> list[nn.Module]:
        return [nn.Upsample(scale_factor=2), _conv(WIDTH, WIDTH, bias=False)]

    def blocks(norm: bool = False) -> list[nn.Module]:
        return [_Block(WIDTH, norm) for _ in range(3)]

    return nn.Sequential(_Clamp(), _conv(LATENT_CHANNELS, WIDTH), nn.ReLU(), *blocks(norm=True),
                         *up(), *blocks(), *up(), *blocks(), *up(), _Block(WIDTH),
                         _conv(WIDTH, 3))


@dataclass
class _Latents:
    latents: torch.Tensor


@dataclass
class _Sample:
    sample: torch.Tensor


def tiny_config(latent_channels: int) -> SimpleNamespace:
    """What FrozenVae, the MAC counter and the memory budget read from a diffusers config."""
    return SimpleNamespace(
        latent_channels=latent_channels, scaling_factor=1.0, shift_factor=None,
        encoder_block_out_channels=(WIDTH,) * 4, decoder_block_out_channels=(WIDTH,) * 4,
    )


class Taef2(nn.Module):
    """TAEF2 with diffusers ``AutoencoderTiny``'s interface (images in [−1, 1])."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = encoder()
        self.decoder = decoder()
        self.config = tiny_config(LATENT_CHANNELS)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def encode(self, image: torch.Tensor) -> _Latents:
        """Latent of an image in [−1, 1]."""
        return _Latents(self.encoder(image.add(1).div(2)))

    def decode(self, latent: torch.Tensor) -> _Sample:
        """Image in about [−1, 1] of a latent (not clamped)."""
        return _Sample(self.decoder(latent).mul(2).sub(1))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_taef2_folder(folder: Path) -> bool:
    """Whether ``folder`` holds both TAEF2 files (not yet checked)."""
    return all((Path(folder) / name).is_file() for name in TAEF2_SHA256)


def load_taef2(folder: Path) -> Taef2:
    """TAEF2 in float32, eval mode, frozen, from a folder holding the two official files."""
    folder = Path(folder)
    model = Taef2()
    for name, expected in TAEF2_SHA256.items():
        path = folder / name
        if not path.is_file():
            raise MissingWeightsError(f"{path} is missing; {download_hint()}")
        if _sha256(path) != expected:
            raise MissingWeightsError(
                f"{path} has SHA-256 {_sha256(path)}, not the official {expected}; "
                f"{download_hint()}"
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        part = model.encoder if "encoder" in name else model.decoder
        part.load_state_dict({key: value.float() for key, value in state.items()})
    return model.eval().requires_grad_(False)


def download_hint() -> str:
    """Where a user gets the official files."""
    urls = " and ".join(TAEF2_URL.format(commit=TAEF2_COMMIT, name=n) for n in TAEF2_SHA256)
    return f"download {urls} into one folder and set CLRIC_MODELS_DIR to its parent (as taef2/)"
