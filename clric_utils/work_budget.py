"""Decode-work budgets: how much computing a file makes its decoder do, checked from the header.

The memory budget (``memory_budget.py``) bounds memory, not work: a 100-byte file with constant
grids and zero weights can claim 6000×6000 pixels, or a synthesis of 16 layers × 80 channels
3×3 (0.9 M parameters), and keep someone else's CPU busy for minutes. Every cost of a decode
follows from the header alone, in multiply-accumulates (MACs, counted as ``clric macs`` does):

.. math::
    W = \\underbrace{\\mathrm{MAC}_{f_\\psi}(\\text{header})}_{\\text{ARM + upsampling +
    synthesis}} + H W \\cdot \\mathrm{MAC}_{\\mathrm{VAE}}/\\text{pixel}.

The two parts run at very different speeds (the integer decoder of f_ψ is numpy int64, the VAE
float32 convolutions), so each is measured against its own yardstick: the work of a picture of
``N`` megapixels coded with the heaviest preset for the file's latent channel count. The file's
**work in megapixel-equivalents** is

.. math::
    N_{\\mathrm{file}} = \\max\\Big(\\frac{\\mathrm{MAC}_{f_\\psi}}{10^6 \\max_p
    \\mathrm{MAC}_{f_\\psi}(p)/\\text{pixel}},\\ \\frac{H W}{10^6}\\Big)

(the VAE's per-pixel cost cancels in its part: the VAE is fixed, only the pixels are the
file's). A decode (and an encode: its input has the same VAE part) is refused before anything
runs when ``N_file`` exceeds the limit, ``DEFAULT_MAX_WORK_MP`` = 16 unless the caller raises it
(``--max-work`` on the command line). Every file our presets write at ≤ 16 MP passes; the
forged files above need 36 MP-equivalents (6000×6000), 1017 (the 16 × 80 3×3 synthesis at
2048×2048) or 1149 (16 × 256 1×1), and are refused in a millisecond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .codec.arch import PRESETS, ArchConfig, get_preset
from .codec.macs import decoder_macs
from .errors import ResourceLimitError
from .memory_budget import positive_limit

#: Default decode-work limit, in megapixel-equivalents (see the module doc).
DEFAULT_MAX_WORK_MP = 16.0


@dataclass(frozen=True)
class DecodeWork:
    """The work of one decode: f_ψ's MACs, the picture's pixels and the yardstick."""

    f_psi_macs: int
    pixels: int
    #: MAC per pixel of the heaviest preset on this image (the f_ψ yardstick).
    heaviest_mac_per_pixel: float

    @property
    def megapixels(self) -> float:
        """The work in megapixel-equivalents, N_file of the module doc."""
        f_psi = self.f_psi_macs / (1e6 * self.heaviest_mac_per_pixel)
        return max(f_psi, self.pixels / 1e6)

    def vae_macs(self, vae_mac_per_pixel: float) -> float:
        """MACs of the VAE decoder on this picture."""
        return self.pixels * vae_mac_per_pixel


def heaviest_mac_per_pixel(channels: int, height: int, width: int) -> float:
    """MAC per image pixel of the costliest preset (sized to ``channels``) on this image."""
    return max(decoder_macs(get_preset(name, channels), height, width, channels).total
               for name in PRESETS) / (math.ceil(height / 8) * math.ceil(width / 8) * 64)


def decode_work(arch: ArchConfig, height: int, width: int) -> DecodeWork:
    """The decode work of an ``arch`` file of ``height × width`` pixels."""
    channels = arch.latent_channels
    return DecodeWork(decoder_macs(arch, height, width, channels).total, height * width,
                      heaviest_mac_per_pixel(channels, height, width))


def check_max_work(max_work: float | None) -> float:
    """``max_work`` (megapixel-equivalents) as a float; the default for None."""
    if max_work is None:
        return DEFAULT_MAX_WORK_MP
    return positive_limit(max_work, "max_work", "megapixels")


def check_work(work: DecodeWork, max_work: float | None, what: str) -> None:
    """ResourceLimitError when ``work`` exceeds ``max_work`` megapixel-equivalents."""
    limit = check_max_work(max_work)
    if work.megapixels > limit:
        raise ResourceLimitError(
            f"{what} is as much work as {work.megapixels:.3g} megapixels with the heaviest "
            f"preset, more than the limit of {limit:g}; pass --max-work "
            f"{math.ceil(work.megapixels)} (max_work= in Python) if you trust it"
        )
