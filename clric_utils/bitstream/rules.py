"""The rules of the ``.clric`` format in one place (docs/format.md), torch-free.

Both sides of the codec derive everything a file does not spell out from these rules: the
latent size from the image size (the VAE's stride), the grid shapes and channels of each
level, the ARM's causal neighbours and the order in which grid values are coded, the order
and shapes of the transmitted network parameters, and the constants of the fixed-point
decoder and of the probability tables; and every limit a file must respect. The codec
(``codec/``) and the bitstream modules import them from here; this module imports neither
torch nor any of them (``tests/test_format_rules.py`` checks it in a fresh interpreter), so the
format can be re-implemented by reading this file and docs/format.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # only for annotations: rules take any object with these fields
    from ..codec.arch import ArchConfig

#: The first bytes of every file.
MAGIC = b"CLRC"
#: Bytes of the CRC-32 that ends every file.
CRC_BYTES = 4

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

#: Limits a file must respect (the encoder never comes near them); ``header.parse_header``
#: refuses a file beyond any of them before allocating anything.
MAX_SIDE = 16384  # pixels, each side of the image
MAX_PIXELS = 100_000_000  # pixels of the image (clric_utils.images refuses larger inputs too)
MAX_STRING = 255  # bytes of the VAE name and of the preset name
MAX_LEVELS = 12  # grid levels
ARM_CONTEXTS = (8, 16, 24, 32)  # the ARM's context sizes C
MAX_ARM_HIDDEN = 16  # hidden layers of the ARM
UPSAMPLING_TAPS = 4  # taps per polyphase branch of the 2× upsampler (bicubic)
MAX_SYNTHESIS_LAYERS = 16
MAX_CHANNELS = 256  # output channels of one synthesis layer
MAX_KERNEL = 9  # side of a synthesis kernel (odd)
MAX_PARAMETERS = 1_000_000  # network parameters in all
MAX_GRID_VALUE = 1 << 20  # |grid value|
MIN_SCALING_FACTOR = 2.0**-20  # a VAE scaling factor outside this range cannot be stored
MAX_SCALING_FACTOR = 2.0**20
MIN_WEIGHT_SCALE = 2.0**-10  # Laplace scale of a group of network parameters
MAX_WEIGHT_SCALE = 2.0**24
#: Most latent channels and most channels of one grid level: version 3's limits (and the
#: largest any version allows; CHANNEL_LIMITS has each version's).
MAX_LATENT_CHANNELS, MAX_LEVEL_CHANNELS = CHANNEL_LIMITS[3]

#: Fractional bits of every fixed-point activation (ARM, upsampling and synthesis).
FRAC_BITS = 16
#: Largest magnitude an int64 accumulator may reach (a 1-bit margin for the rounding add).
ACC_LIMIT = 2**62
#: Range of the power-of-two exponents of network parameters (step 2^-e) a file may use.
EXPONENT_MIN = 0
EXPONENT_MAX = 24

#: Networks in bitstream order.
NETWORKS = ("arm", "upsampling", "synthesis")

#: Probability tables (``tables.py``): μ is coded on a grid of 1/MU_STEPS (MU_STEPS =
#: 2^MU_BITS); log b on SCALE_LEVELS values uniform on [LOG_SCALE_MIN, LOG_SCALE_MAX], whose
#: fixed-point (FRAC_BITS) ends are the integers LOG_SCALE_MIN_Q, LOG_SCALE_MAX_Q.
MU_BITS = 4
MU_STEPS = 1 << MU_BITS
SCALE_LEVELS = 128
LOG_SCALE_MIN = -4.6  # b ≈ 0.01: a value known almost surely (the ARM's output is clamped here)
LOG_SCALE_MAX = 5.0  # b ≈ 148: far wider than any latent grid needs
LOG_SCALE_MIN_Q = -301466  # round(-4.6 · 2^16)
LOG_SCALE_MAX_Q = 327680  # 5.0 · 2^16
#: Fixed-point bits of exp() values and of probabilities (units of 2^-PMF_BITS).
EXP_BITS = 30
PMF_BITS = 31
#: Probability floors: a grid value costs at most 16 bits (which training exploits: a
#: confidently wrong prediction is capped there), a network integer at most 24 bits.
PROBABILITY_FLOOR = 2.0**-16
WEIGHT_PROBABILITY_FLOOR = 2.0**-24
GRID_FLOOR = 1 << (PMF_BITS - 16)  # the same floors in 2^-PMF_BITS units
WEIGHT_FLOOR = 1 << (PMF_BITS - 24)
#: Most bits one grid value or one network parameter can cost: every symbol has probability
#: at least PROBABILITY_FLOOR or WEIGHT_PROBABILITY_FLOOR, plus a bit for the range coder's
#: rounding; and the bytes each payload's coder flushes at its end (two 32-bit words).
MAX_GRID_VALUE_BITS, MAX_WEIGHT_BITS, CODER_FLUSH_BYTES = 17, 25, 8
#: Widest symbol range of one grid level (max − min + 1): bounds tables and decoder work.
MAX_GRID_RANGE = 2048
#: Largest |n| of a coded network parameter (bounds the weights' categorical model; below
#: 2^24, so n·2^-e is exact in float32). The encoder's exponent search respects it.
MAX_WEIGHT_MAGNITUDE = 2**20
#: Smallest Laplace scale of a group of network integers: keeps P(0) < 1 when all are 0.
WEIGHT_SCALE_FLOOR = 0.1

assert GRID_FLOOR == PROBABILITY_FLOOR * 2**PMF_BITS
assert LOG_SCALE_MIN_Q == round(LOG_SCALE_MIN * 2**FRAC_BITS)
assert LOG_SCALE_MAX_Q == round(LOG_SCALE_MAX * 2**FRAC_BITS)


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


def grid_shapes(height: int, width: int, n_levels: int) -> list[tuple[int, int]]:
    """Sizes of the grids of an h × w latent, finest first: level i is ⌈h/2^i⌉ × ⌈w/2^i⌉.

    Levels stop once a grid is 1×1: a further level would be a copy of the same single value.
    """
    shapes = []
    for level in range(n_levels):
        shape = (math.ceil(height / 2**level), math.ceil(width / 2**level))
        shapes.append(shape)
        if shape == (1, 1):
            break
    return shapes


def latent_grid_shapes(image_height: int, image_width: int, n_levels: int) -> list[tuple[int, int]]:
    """Grid shapes, finest first: level i is ⌈h/2^i⌉ × ⌈w/2^i⌉, stopping at the first 1 × 1."""
    return grid_shapes(*latent_size(image_height, image_width), n_levels)


def level_channels(arch: ArchConfig, n_grids: int) -> list[int]:
    """Channels of each of the ``n_grids`` levels that exist, finest first."""
    return [arch.channels_of_level(level) for level in range(n_grids)]


def causal_offsets(n_context: int) -> list[tuple[int, int]]:
    """The ``n_context`` causal (dy, dx) neighbours nearest to the current value.

    Causal means already decoded in raster order: a row above, or the same row to the left.
    Ties in distance are broken by raster order, so the list is the same everywhere.
    """
    radius = 1
    while True:
        candidates = [
            (dy, dx)
            for dy in range(-radius, 1)
            for dx in range(-radius, radius + 1)
            if dy < 0 or dx < 0
        ]
        if len(candidates) >= n_context:
            break
        radius += 1
    candidates.sort(key=lambda o: (o[0] ** 2 + o[1] ** 2, o[0], o[1]))
    return sorted(candidates[:n_context])


def context_radius(offsets: list[tuple[int, int]]) -> int:
    """How far the context reaches, i.e. the zero padding a grid needs."""
    return max(max(abs(dy), abs(dx)) for dy, dx in offsets)


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


def is_bias(name: str) -> bool:
    """Whether parameter ``name`` (a ``state_dict`` key) is a bias; all others are weights."""
    return name.rsplit(".", 1)[-1] == "bias"


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
