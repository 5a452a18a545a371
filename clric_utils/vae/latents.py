"""``FrozenVae``: a pretrained diffusers autoencoder used only to map images ↔ scaled latents.

``encode`` pads the image to a multiple of the VAE's downsampling factor (8) by edge
replication on the bottom and right, and returns the posterior *mean* (``AutoencoderKL``) or
the encoder output (``AutoencoderTiny``) times the scaling factor. ``decode`` undoes the
scaling, runs the decoder, crops the padding away and clamps to ``[-1, 1]``.
Nothing here tracks gradients: the VAE is frozen (the codec's loss lives in latent space).

Images above ``TILING_MIN_PIXELS`` (1 megapixel) go through the VAE in overlapping tiles
(``tiling.py``): memory then stays near that of one tile (96 × 96 latent pixels = 768 × 768
image pixels, overlapping by 16 latent pixels) instead of growing with the image. Measured
on this project's CPU machine with ``house``: one pass costs ≈ 525–600 bytes per pixel
(1024 × 1024: +525 MB peak, 3.8 s), so 100 megapixels would need ≈ 60 GB; tiled, a
2048 × 2048 decode peaks at +395 MB (16 s, machine shared).

The quality cost of tiling, measured with
``python benchmarks/vae_tiling.py --vae house --images 4 --tile 32`` (tiles far smaller than
the default, so more seams per pixel than any real use): the PSNR of the encode → decode
round trip is 0.0026 dB *higher* tiled, on average over kodim01–04 (kodim01: 22.977 dB
tiled, 22.975 dB in one pass). That is no measurable cost (the requirement is a loss of at
most 0.05 dB). Measured for ``house`` (AutoencoderTiny) only: the KL VAEs (``sd``…) were
not on this machine, and their GroupNorm layers see per-tile statistics.
"""

from __future__ import annotations

import functools
import hashlib
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ParameterError
from ..images import image_to_tensor, read_image, tensor_to_image
from .tiling import tiled_map

#: Images with more pixels than this are encoded and decoded in tiles (see the module doc).
TILING_MIN_PIXELS = 1024 * 1024
#: Side of a decoder tile in latent pixels (×8 image pixels), and the overlap of two tiles.
TILE_LATENT = 96
TILE_OVERLAP_LATENT = 16


class FrozenVae:
    """A frozen float32 VAE (diffusers ``AutoencoderKL``/``AutoencoderTiny``, or ``Taef2``)."""

    def __init__(
        self,
        model: torch.nn.Module,
        name: str,
        repo_id: str | None = None,
        scaling_factor: float | None = None,
        source: str = "",
    ) -> None:
        """Wrap ``model``; ``scaling_factor`` None means the model config's ``scaling_factor``."""
        from diffusers import AutoencoderKL, AutoencoderTiny

        from .taef2 import Taef2
        from .taef2_c4 import Taef2C4

        if isinstance(model, (AutoencoderTiny, Taef2, Taef2C4)):  # AutoencoderTiny's interface
            self.kind = "tiny"
            stages = len(model.config.encoder_block_out_channels)
        elif isinstance(model, AutoencoderKL):
            self.kind = "kl"
            stages = len(model.config.block_out_channels)
        else:
            raise TypeError(f"unsupported VAE class {type(model).__name__}")
        if model.dtype != torch.float32:
            model = model.to(torch.float32)
        self.model = model.eval().requires_grad_(False)
        self.name = name
        self.repo_id = repo_id
        self.source = source
        config_scale = getattr(model.config, "scaling_factor", None)
        scale = scaling_factor if scaling_factor is not None else config_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (
            math.isfinite(scale) and scale > 0
        ):
            raise ParameterError(
                f"VAE {name}: scaling_factor must be a finite number > 0, got {scale!r}; fix "
                "its config.json (latents are multiplied by it, and decoding divides by it)"
            )
        self.scaling_factor = float(scale)
        self.shift_factor = float(getattr(model.config, "shift_factor", None) or 0.0)
        self.latent_channels = int(model.config.latent_channels)
        self.downsampling = 2 ** (stages - 1)
        self.device = next(model.parameters()).device
        #: None: tile above TILING_MIN_PIXELS; True / False: always / never tile.
        self.tiling: bool | None = None
        #: The decoder's per-channel sensitivity (``sensitivity.py``), where it was measured
        #: and stored beside the weights; the fit then weighs the latent MSE by it.
        self.channel_sensitivity: tuple[float, ...] | None = None

    def uses_tiles(self, height: int, width: int) -> bool:
        """Whether an ``height×width`` image goes through the VAE in tiles."""
        return self.tiling if self.tiling is not None else height * width > TILING_MIN_PIXELS

    @functools.cached_property
    def weights_sha256(self) -> str:
        """SHA-256 identifying the weights.

        Of the safetensors file a folder was loaded from (for ``house``: the hash its model
        card states), else of the float32 state dict (names and values in sorted order), e.g.
        for the seeded ``tiny`` VAE or a Hub download.
        """
        weights = Path(self.source) / "diffusion_pytorch_model.safetensors"
        digest = hashlib.sha256()
        if self.source and weights.is_file():
            with weights.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            return digest.hexdigest()
        for key, value in sorted(self.model.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return digest.hexdigest()

    def __repr__(self) -> str:
        """Short description: name, class, scaling factor, device."""
        return (
            f"FrozenVae(name={self.name!r}, kind={self.kind!r}, "
            f"scaling_factor={self.scaling_factor:g}, device={str(self.device)!r})"
        )

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """Shape ``(C, h, w)`` of the latent of an ``height×width`` image."""
        d = self.downsampling
        return (self.latent_channels, math.ceil(height / d), math.ceil(width / d))

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """Scaled latent ``N×4×⌈H/8⌉×⌈W/8⌉`` (float32) of an ``N×3×H×W`` image in ``[-1, 1]``."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"expected an N×3×H×W image tensor, got {tuple(image.shape)}")
        x = image.to(self.device, torch.float32)
        pad_h, pad_w = -x.shape[2] % self.downsampling, -x.shape[3] % self.downsampling
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        if self.uses_tiles(*x.shape[2:]):
            d = self.downsampling
            raw = tiled_map(x, self._encode_raw, TILE_LATENT * d, TILE_OVERLAP_LATENT * d,
                            Fraction(1, d), self.latent_channels, align=d).to(self.device)
        else:
            raw = self._encode_raw(x)
        return ((raw - self.shift_factor) * self.scaling_factor).to(torch.float32)

    def _encode_raw(self, x: torch.Tensor) -> torch.Tensor:
        """The unscaled latent of a padded image (posterior mean or AutoencoderTiny output)."""
        if self.kind == "kl":
            return self.model.encode(x).latent_dist.mean
        return self.model.encode(x).latents

    def _decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's image of an unscaled latent (not cropped, not clamped)."""
        return self.model.decode(z).sample

    @torch.no_grad()
    def decode(
        self, latent: torch.Tensor, height: int | None = None, width: int | None = None
    ) -> torch.Tensor:
        """Image ``N×3×height×width`` in ``[-1, 1]`` from a scaled latent (default: full size)."""
        if latent.ndim != 4 or latent.shape[1] != self.latent_channels:
            raise ValueError(
                f"expected an N×{self.latent_channels}×h×w latent, got {tuple(latent.shape)}"
            )
        full_height = latent.shape[2] * self.downsampling
        full_width = latent.shape[3] * self.downsampling
        height = full_height if height is None else int(height)
        width = full_width if width is None else int(width)
        if not (0 < height <= full_height and 0 < width <= full_width):
            raise ValueError(
                f"cannot crop {height}×{width} from the {full_height}×{full_width} decoded image"
            )
        z = latent.to(self.device, torch.float32) / self.scaling_factor + self.shift_factor
        if self.uses_tiles(height, width):
            image = tiled_map(z, self._decode_raw, TILE_LATENT, TILE_OVERLAP_LATENT,
                              Fraction(self.downsampling), 3)
        else:
            image = self._decode_raw(z)
        return image[:, :, :height, :width].clamp(-1.0, 1.0).to(torch.float32)

    @torch.no_grad()
    def reconstruct(self, image: torch.Tensor) -> torch.Tensor:
        """The VAE's own reconstruction of an ``N×3×H×W`` image (its quality ceiling)."""
        return self.decode(self.encode(image), image.shape[2], image.shape[3])

    def encode_image(self, image: str | Path | np.ndarray) -> torch.Tensor:
        """Scaled latent ``1×4×h×w`` of an image file or an ``H×W×3`` uint8 array."""
        array = image if isinstance(image, np.ndarray) else read_image(image)
        return self.encode(image_to_tensor(array))

    def decode_image(self, latent: torch.Tensor, height: int, width: int) -> np.ndarray:
        """``height×width×3`` uint8 image decoded from a ``1×4×h×w`` scaled latent."""
        return tensor_to_image(self.decode(latent, height, width))
