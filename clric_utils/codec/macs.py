"""Decoder complexity in multiply-accumulates (MACs) per image pixel (CLRIC supplement, Table 1).

The overfitted function's cost is counted analytically from its architecture:

* ARM: per grid value (every channel of every level), each hidden layer is a C×C
  matrix-vector product (C² MACs) and the output layer gives (μ, log b) from C inputs (2C MACs);
* upsampling: each 2× step runs two 1-D polyphase passes (columns, then rows) over all the
  channels stacked so far; every output sample of a pass costs ``taps`` MACs (the taps of its
  phase). Outputs are counted before the crop to the next level's size, as computed;
* synthesis: a convolution costs in·out·k² MACs per latent pixel.

Biases, activations, residual additions, padding and the Laplace CDF are not counted (as is
usual for MAC counts). The total is divided by the pixels of the image padded to a multiple of
8, H·W = 64·h·w. The VAE decoder is counted separately with forward hooks.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .arch import ArchConfig, get_preset
from .grids import grid_shapes

if TYPE_CHECKING:
    from ..vae.latents import FrozenVae

#: The paper's Table 1 (supplement): image size (H, W) → MAC per image pixel of f_ψ.
PAPER_TABLE_1: dict[tuple[int, int], float] = {(512, 768): 25.9, (1363, 2048): 25.48}


@dataclass(frozen=True)
class MacBreakdown:
    """Decoder MACs of the overfitted function, per part, for one image size."""

    height: int  # padded image height (multiple of 8)
    width: int
    arm: int  # total MACs of each part for the whole image
    upsampling: int
    synthesis: int

    @property
    def total(self) -> int:
        """MACs of ARM + upsampling + synthesis."""
        return self.arm + self.upsampling + self.synthesis

    @property
    def pixels(self) -> int:
        """Image pixels the MACs are divided by."""
        return self.height * self.width

    def per_pixel(self) -> dict[str, float]:
        """MAC per image pixel of each part and in total."""
        n = self.pixels
        return {"arm": self.arm / n, "upsampling": self.upsampling / n,
                "synthesis": self.synthesis / n, "total": self.total / n}


def arm_macs_per_value(arch: ArchConfig) -> int:
    """MACs of the ARM for one grid value: hidden C·C each, plus 2C for (μ, log b)."""
    c = arch.arm_context
    return arch.arm_hidden_layers * c * c + 2 * c


def upsampling_macs(shapes: list[tuple[int, int]], taps: int,
                    channels_per_level: list[int] | None = None) -> int:
    """MACs of all 2× steps, coarsest to finest, given the grid shapes (finest first).

    ``channels_per_level`` (default: one per level) gives c_i; a step upsamples every channel
    of the coarser levels stacked so far.
    """
    counts = channels_per_level or [1] * len(shapes)
    total = 0
    for level in range(len(shapes) - 2, -1, -1):
        channels = sum(counts[level + 1 :])  # channels stacked so far, upsampled together
        h, w = shapes[level + 1]
        total += channels * taps * (h * 2 * w)  # pass 1: columns, h × 2w outputs
        total += channels * taps * (2 * h * 2 * w)  # pass 2: rows, 2h × 2w outputs
    return total


def synthesis_macs_per_latent_pixel(arch: ArchConfig, n_levels: int) -> int:
    """Σ in·out·k² over the synthesis layers; the first layer sees the Σ c_i grid channels."""
    total, channels = 0, arch.grid_channels(n_levels)
    for layer in arch.synthesis:
        total += channels * layer.out_channels * layer.kernel**2
        channels = layer.out_channels
    return total


def decoder_macs(
    arch: ArchConfig | str, height: int, width: int, latent_channels: int = 4
) -> MacBreakdown:
    """MACs of f_ψ for an image of ``height × width`` (padded up to multiples of 8); a preset
    name is sized to ``latent_channels``."""
    arch = get_preset(arch, latent_channels) if isinstance(arch, str) else arch
    h, w = math.ceil(height / 8), math.ceil(width / 8)
    shapes = grid_shapes(h, w, arch.n_levels)
    channels = [arch.channels_of_level(level) for level in range(len(shapes))]
    n_values = sum(c * a * b for c, (a, b) in zip(channels, shapes, strict=True))
    return MacBreakdown(
        height=8 * h,
        width=8 * w,
        arm=n_values * arm_macs_per_value(arch),
        upsampling=upsampling_macs(shapes, arch.upsampling_taps, channels),
        synthesis=h * w * synthesis_macs_per_latent_pixel(arch, len(shapes)),
    )


def _decoder_module(vae) -> tuple[torch.nn.Module, int, int]:
    """(diffusers autoencoder, latent channels, downsampling) of a module or a FrozenVae."""
    model = getattr(vae, "model", vae)  # FrozenVae keeps the diffusers model in .model
    config = model.config
    channels = int(config.latent_channels)
    blocks = getattr(config, "block_out_channels", None) or config.encoder_block_out_channels
    return model, channels, 2 ** (len(blocks) - 1)


def _count_conv_linear_macs(model: torch.nn.Module, latent: torch.Tensor) -> int:
    """MACs of every Conv2d and Linear run by ``model.decode(latent)`` (forward hooks)."""
    total = 0

    def conv_hook(module: torch.nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1]
        total += output.numel() * (module.in_channels // module.groups) * k

    def linear_hook(module: torch.nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, torch.nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        model.decode(latent)
    finally:
        for handle in handles:
            handle.remove()
    return total


@torch.no_grad()
def vae_decoder_macs_per_pixel(vae: FrozenVae, height: int, width: int) -> float:
    """Conv2d/Linear MACs of a diffusers VAE's decoding of an ``height × width`` image, per pixel.

    ``vae`` is a diffusers ``AutoencoderKL`` / ``AutoencoderTiny`` or a ``FrozenVae``. The
    decoder runs once on a zero latent with forward hooks on every ``Conv2d`` (out elements ×
    in/groups × k_h·k_w) and ``Linear`` (out elements × in features); attention's two batched
    matrix products and normalisations are not modules and are not counted. The image is
    padded to a multiple of the downsampling factor, and MACs are divided by its pixels.
    The pass runs on a weightless copy on the ``meta`` device (shapes only: instant even for
    SD's decoder at 2 MP); if that copy cannot be built or run, on the model itself.
    """
    model, channels, factor = _decoder_module(vae)
    h, w = math.ceil(height / factor), math.ceil(width / factor)
    pixels = h * w * factor * factor
    try:
        # AutoencoderTiny records a derived `block_out_channels` in its config that its own
        # constructor does not take; passing it back only makes diffusers print a warning.
        accepted = inspect.signature(type(model).__init__).parameters
        config = {k: v for k, v in model.config.items() if k in accepted}
        with torch.device("meta"):
            shadow = type(model).from_config(config)
        latent = torch.zeros(1, channels, h, w, device="meta")
        return _count_conv_linear_macs(shadow, latent) / pixels
    except Exception:  # noqa: BLE001 - no meta copy of this class: count on the real weights
        parameter = next(model.parameters())
        latent = torch.zeros(1, channels, h, w, device=parameter.device, dtype=parameter.dtype)
        return _count_conv_linear_macs(model, latent) / pixels
