"""Architecture descriptions of the overfitted function f_ψ, and the named presets.

A synthesis layer is written as Cool-chic does: ``OUT-KERNEL-TYPE-ACTIVATION``, e.g.
``48-1-linear-relu`` (a 1×1 convolution to 48 channels, then ReLU) or
``4-3-residual-none`` (x + 3×3 convolution of x, no activation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..bitstream.rules import (
    ARM_CONTEXTS,
    MAX_LATENT_CHANNELS,
    MAX_LEVEL_CHANNELS,
    MAX_LEVELS,
    UPSAMPLING_TAPS,
)
from ..errors import ParameterError


@dataclass(frozen=True)
class SynthesisLayer:
    """One synthesis layer: ``out_channels``, square ``kernel``, ``kind`` and ``activation``."""

    out_channels: int
    kernel: int
    kind: str  # "linear" (plain convolution) or "residual" (x + conv(x), needs in == out)
    activation: str  # "relu" or "none"

    @classmethod
    def parse(cls, text: str) -> SynthesisLayer:
        """Parse ``OUT-KERNEL-TYPE-ACTIVATION``."""
        try:
            out, kernel, kind, activation = text.strip().split("-")
            layer = cls(int(out), int(kernel), kind, activation)
        except ValueError:
            raise ParameterError(
                f"bad synthesis layer {text!r}: expected OUT-KERNEL-TYPE-ACTIVATION, "
                "e.g. 48-1-linear-relu"
            ) from None
        if layer.kind not in {"linear", "residual"} or layer.activation not in {"relu", "none"}:
            raise ParameterError(f"bad synthesis layer {text!r}: type linear|residual, "
                                 "activation relu|none")
        if layer.kernel % 2 == 0 or layer.out_channels < 1:
            raise ParameterError(f"bad synthesis layer {text!r}: odd kernel, ≥1 channel")
        return layer

    def __str__(self) -> str:
        return f"{self.out_channels}-{self.kernel}-{self.kind}-{self.activation}"


@dataclass(frozen=True)
class ArchConfig:
    """Every size of f_ψ; the default is the paper's hop-like decoder (≈ 26 MAC/pixel)."""

    n_levels: int = 7  # hierarchical grids; clipped so that no two levels are both 1×1
    arm_context: int = 16  # C causal neighbours, also the width of the ARM's hidden layers
    arm_hidden_layers: int = 2
    upsampling_taps: int = 4  # taps per polyphase branch of the 2× upsampler (bicubic: 4)
    synthesis: tuple[SynthesisLayer, ...] = field(
        default_factory=lambda: parse_synthesis(
            "48-1-linear-relu,4-1-linear-none,4-3-residual-relu,4-3-residual-none"
        )
    )
    latent_channels: int = 4  # the VAE latent's channels: the synthesis output
    #: Channels of each grid level, finest first (Cool-chic's ``n_ft_per_res``); empty = one
    #: per level. Levels beyond the tuple have one channel.
    level_channels: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        channels = tuple(self.level_channels)
        if len(channels) > self.n_levels or any(not 1 <= c <= MAX_LEVEL_CHANNELS
                                                for c in channels):
            raise ParameterError(f"level_channels must hold at most n_levels ({self.n_levels}) "
                                 f"counts of 1..{MAX_LEVEL_CHANNELS}, got {channels}")
        # One canonical form, so that equal architectures compare equal: trailing 1s dropped.
        while channels and channels[-1] == 1:
            channels = channels[:-1]
        object.__setattr__(self, "level_channels", channels)
        if self.arm_context not in ARM_CONTEXTS:
            raise ParameterError(f"arm_context must be 8, 16, 24 or 32, got {self.arm_context}")
        if not 1 <= self.n_levels <= MAX_LEVELS:
            raise ParameterError(f"n_levels must be in 1..{MAX_LEVELS}, got {self.n_levels}")
        if self.arm_hidden_layers < 0:
            raise ParameterError(f"arm_hidden_layers must be ≥ 0, got {self.arm_hidden_layers}")
        if self.upsampling_taps != UPSAMPLING_TAPS:
            raise ParameterError(f"upsampling_taps must be {UPSAMPLING_TAPS}, "
                                 f"got {self.upsampling_taps}")
        if not self.synthesis:
            raise ParameterError("the synthesis needs at least one layer")
        for previous, layer in zip(self.synthesis, self.synthesis[1:], strict=False):
            if layer.kind == "residual" and layer.out_channels != previous.out_channels:
                raise ParameterError(f"residual synthesis layer {layer} must keep the "
                                     f"{previous.out_channels} channels of the layer before it")
        first = self.synthesis[0]
        if first.kind == "residual" and first.out_channels > self.grid_channels(self.n_levels):
            # Its input is the stack of grids: fewer channels if levels are clipped at runtime.
            raise ParameterError(f"a first residual synthesis layer ({first}) needs "
                                 f"{first.out_channels} input channels; there are at most "
                                 f"{self.grid_channels(self.n_levels)} grid channels")
        if self.synthesis[-1].out_channels != self.latent_channels:
            raise ParameterError("the last synthesis layer must output latent_channels "
                                 f"({self.latent_channels}) channels")

    def channels_of_level(self, level: int) -> int:
        """Channels of grid level ``level`` (0 = finest)."""
        return self.level_channels[level] if level < len(self.level_channels) else 1

    def grid_channels(self, n_grids: int) -> int:
        """Channels of the stacked grids (the synthesis input) when ``n_grids`` levels exist."""
        return sum(self.channels_of_level(level) for level in range(n_grids))

    def synthesis_string(self) -> str:
        """The synthesis layers in Cool-chic's comma-separated notation."""
        return ",".join(str(layer) for layer in self.synthesis)


def parse_synthesis(text: str) -> tuple[SynthesisLayer, ...]:
    """Parse a comma-separated list of synthesis layers."""
    return tuple(SynthesisLayer.parse(part) for part in text.split(",") if part.strip())


def _paper(c: int) -> ArchConfig:
    """CLRIC's hop-like function for a ``c``-channel latent: one channel per grid level."""
    return ArchConfig(
        synthesis=parse_synthesis(
            f"48-1-linear-relu,{c}-1-linear-none,{c}-3-residual-relu,{c}-3-residual-none"
        ),
        latent_channels=c,
    )


def _wide(c: int) -> ArchConfig:
    """``paper`` with ``c`` channels at the latent's own resolution.

    The grids can then hold every latent value (and the fit can start from the latent,
    ``latent_start.py``); the first layer keeps ≥ 2c channels for that start.
    """
    return ArchConfig(
        level_channels=(c,),
        synthesis=parse_synthesis(
            f"{max(48, 2 * c)}-1-linear-relu,{c}-1-linear-none,{c}-3-residual-relu,"
            f"{c}-3-residual-none"
        ),
        latent_channels=c,
    )


def _slim(c: int) -> ArchConfig:
    """For wide latents: a quarter of the latent's channels at its resolution, and a synthesis
    that works in a bottleneck of c/2 channels and widens to ``c`` by a last 1×1 layer.

    Its 3×3 layers then cost (c/2)² weights each instead of c²: on TAEF2's 32 channels the
    paper-like synthesis holds ≈ 21 k weights, ≈ 0.05–0.09 bpp of a Kodak image at a bit or two
    each, more than the whole rate budget at low rates. For c ≤ 4 there is nothing to narrow:
    ``slim`` is ``wide``.
    """
    if c <= 4:
        return _wide(c)
    b = c // 2
    return ArchConfig(
        level_channels=(max(4, c // 4),),
        synthesis=parse_synthesis(
            f"48-1-linear-relu,{b}-1-linear-none,{b}-3-residual-relu,{b}-3-residual-none,"
            f"{c}-1-linear-none"
        ),
        latent_channels=c,
    )


def _lite(c: int) -> ArchConfig:
    """A cheaper function: 8-neighbour ARM with one hidden layer, a 16-wide first layer."""
    return ArchConfig(
        arm_context=8,
        arm_hidden_layers=1,
        synthesis=parse_synthesis(f"16-1-linear-relu,{c}-1-linear-none,{c}-3-residual-none"),
        latent_channels=c,
    )


#: Named decoders, each a rule from the latent's channel count ``c`` (the VAE's) to an
#: architecture. ``paper``: CLRIC's hop-like function (one channel per level; for c = 4 the
#: ≈ 25 MAC per image pixel of Table 1); ``wide``: ``c`` channels at the latent's own
#: resolution, so that the grids can hold every latent value and the quality can reach the
#: VAE's ceiling (docs/codec.md §4; ≈ 55 MAC per image pixel for c = 4); ``slim``: for wide
#: latents (TAEF2's 32), a quarter of the latent's channels at its resolution and a bottleneck
#: synthesis (``_slim``), where ``wide`` fits are ≈ 3× slower and its rates start high; for
#: c = 4 it is ``wide``; ``lite``:
#: a cheaper one (≤ 10 MAC per image pixel for c = 4).
PRESET_RULES = {
    "paper": _paper,
    "wide": _wide,
    "slim": _slim,
    "lite": _lite,
}

#: The presets for 4-channel latents (the paper's VAEs and ``house``), by name.
PRESETS: dict[str, ArchConfig] = {name: rule(4) for name, rule in PRESET_RULES.items()}


#: The preset of the command line, the notebooks and ``clric eval`` when none is named.
DEFAULT_PRESET = "wide"


def get_preset(name: str, latent_channels: int = 4) -> ArchConfig:
    """The architecture of preset ``name`` for a latent of ``latent_channels`` channels."""
    if name not in PRESET_RULES:
        raise ParameterError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    if latent_channels == 4:
        return PRESETS[name]
    if not 1 <= int(latent_channels) <= MAX_LATENT_CHANNELS:
        raise ParameterError(f"latents of 1..{MAX_LATENT_CHANNELS} channels are supported, "
                             f"got {latent_channels}")
    return PRESET_RULES[name](int(latent_channels))
