"""The rules of the ``.clric`` format in one place (docs/format.md).

Both sides of the codec derive everything a file does not spell out from these rules: the
latent size from the image size (the VAE's stride), the grid shapes and channels of each
level, the ARM's causal neighbours and the order in which grid values are coded, the order
and shapes of the transmitted network parameters, and the fixed-point constants of the
integer decoder. ``fixed_point``, ``tables``, ``grids_coding``, ``weights_coding`` and
``header`` import them from here and from nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..codec.arch import ArchConfig
from ..codec.arm import causal_offsets, context_radius
from ..codec.grids import grid_shapes

#: The file versions this decoder reads, and the one the encoder writes when the
#: architecture fits it. Version 1: one channel per grid level, one symbol range per grid.
#: Version 2: ``level_channels`` in the header, one symbol range per level shared by its
#: channels. Version 3: version 2's layout with wider limits (latents and grid levels of up to
#: 64 channels: TAEF2's 32-channel latent); the encoder writes it only where version 2 cannot
#: hold the file, so a 4-channel file is the same bytes as before.
VERSIONS = (1, 2, 3)
VERSION = 2
#: Most latent channels and most channels of one grid level, per version.
CHANNEL_LIMITS = {1: (16, 1), 2: (16, 16), 3: (64, 64)}

#: Downsampling of every supported VAE: the latent is ⌈H/8⌉ × ⌈W/8⌉.
VAE_STRIDE = 8

#: Fractional bits of every fixed-point activation (ARM, upsampling and synthesis).
FRAC_BITS = 16
#: Largest magnitude an int64 accumulator may reach (a 1-bit margin for the rounding add).
ACC_LIMIT = 2**62
#: Range of the power-of-two exponents of network parameters (step 2^-e) a file may use.
EXPONENT_MIN = 0
EXPONENT_MAX = 24

#: Networks in bitstream order.
NETWORKS = ("arm", "upsampling", "synthesis")

__all__ = [
    "ACC_LIMIT", "CHANNEL_LIMITS", "EXPONENT_MAX", "EXPONENT_MIN", "FRAC_BITS", "NETWORKS",
    "VAE_STRIDE", "VERSION", "VERSIONS", "ParamSpec", "arm_offsets", "coding_groups",
    "context_radius", "file_version",
    "latent_grid_shapes", "latent_size", "level_channels", "parameter_layout",
    "wavefront_order",
]


def file_version(arch: ArchConfig) -> int:
    """The version the encoder writes for ``arch``: VERSION, or 3 where VERSION cannot hold it."""
    for version in (VERSION, 3):
        latent_limit, level_limit = CHANNEL_LIMITS[version]
        if arch.latent_channels <= latent_limit and all(
            c <= level_limit for c in arch.level_channels
        ):
            return version
    raise ValueError(f"no .clric version holds {arch.latent_channels} latent channels and "
                     f"levels of {arch.level_channels} channels")


def latent_size(image_height: int, image_width: int) -> tuple[int, int]:
    """(h, w) of the VAE latent of an H × W image: ⌈H/8⌉ × ⌈W/8⌉ (edge-padded to 8)."""
    return math.ceil(image_height / VAE_STRIDE), math.ceil(image_width / VAE_STRIDE)


def latent_grid_shapes(image_height: int, image_width: int, n_levels: int) -> list[tuple[int, int]]:
    """Grid shapes, finest first: level i is ⌈h/2^i⌉ × ⌈w/2^i⌉, stopping at the first 1 × 1."""
    return grid_shapes(*latent_size(image_height, image_width), n_levels)


def level_channels(arch: ArchConfig, n_grids: int) -> list[int]:
    """Channels of each of the ``n_grids`` levels that exist, finest first."""
    return [arch.channels_of_level(level) for level in range(n_grids)]


def arm_offsets(arch: ArchConfig) -> tuple[tuple[int, int], ...]:
    """The ARM's C causal (dy, dx) neighbours, in the order of its input vector."""
    return tuple(causal_offsets(arch.arm_context))


def wavefront_order(channels: int, height: int, width: int, radius: int) -> np.ndarray:
    """Indices into a level's values (c × h × w, row-major) in coding order.

    Position (y, x) lies on wavefront t = x + (r+1)·y; values are coded by increasing t, then
    channel, then y. Every context neighbour of a value is on an earlier wavefront of the same
    channel, so a decoder can run the ARM on a whole wavefront of every channel at once.
    """
    c, y, x = np.unravel_index(np.arange(channels * height * width, dtype=np.int64),
                               (channels, height, width))
    return np.lexsort((y, c, x + (radius + 1) * y))


@dataclass(frozen=True)
class ParamSpec:
    """One transmitted parameter tensor: network, name (as in the torch module), shape, kind."""

    network: str  # "arm" | "upsampling" | "synthesis"
    name: str  # the parameter's name in ``model.networks()[network].named_parameters()``
    shape: tuple[int, ...]
    kind: str  # "weight" | "bias" (upsampling kernels are weights)

    @property
    def size(self) -> int:
        """Number of values."""
        return math.prod(self.shape)


def parameter_layout(arch: ArchConfig, n_grids: int) -> list[ParamSpec]:
    """Every transmitted parameter tensor, in bitstream order (mirrors the torch modules)."""
    c = arch.arm_context
    specs: list[ParamSpec] = []
    for i in range(arch.arm_hidden_layers):
        specs.append(ParamSpec("arm", f"hidden.{i}.weight", (c, c), "weight"))
        specs.append(ParamSpec("arm", f"hidden.{i}.bias", (c,), "bias"))
    specs.append(ParamSpec("arm", "out.weight", (2, c), "weight"))
    specs.append(ParamSpec("arm", "out.bias", (2,), "bias"))
    for i in range(max(0, n_grids - 1)):
        specs.append(ParamSpec("upsampling", f"kernels.{i}", (2 * arch.upsampling_taps,), "weight"))
    in_channels = arch.grid_channels(n_grids)
    for i, layer in enumerate(arch.synthesis):
        shape = (layer.out_channels, in_channels, layer.kernel, layer.kernel)
        specs.append(ParamSpec("synthesis", f"layers.{i}.conv.weight", shape, "weight"))
        specs.append(ParamSpec("synthesis", f"layers.{i}.conv.bias", (layer.out_channels,), "bias"))
        in_channels = layer.out_channels
    return specs


def coding_groups(layout: list[ParamSpec]) -> list[tuple[str, str]]:
    """The (network, kind) groups that hold at least one value, in bitstream order."""
    groups: list[tuple[str, str]] = []
    for network in NETWORKS:
        for kind in ("weight", "bias"):
            if any(s.network == network and s.kind == kind and s.size for s in layout):
                groups.append((network, kind))
    return groups
