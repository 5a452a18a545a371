"""Hierarchical latent grids: the transmitted part of f_ψ (Cool-chic, arXiv 2212.05458 §3)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..bitstream.rules import grid_shapes

#: Grids are stored divided by this gain and multiplied back before quantization, so that
#: Adam's step size (lr ≈ 1e-2) moves the quantized values by ~0.16 per step (Cool-chic: 16).
LATENT_GAIN = 16.0


class LatentGrids(nn.Module):
    """The grids of every level (1 × c_i × h_i × w_i), initialised at zero (nothing to send yet).

    ``channels(i)`` gives c_i, the channels of level i (Cool-chic's ``n_ft_per_res``): one per
    level in the paper's function, more where the latent needs more values per position.
    """

    def __init__(self, height: int, width: int, n_levels: int,
                 channels: Callable[[int], int] = lambda level: 1) -> None:
        super().__init__()
        self.shapes = grid_shapes(height, width, n_levels)
        self.channels = [channels(level) for level in range(len(self.shapes))]
        self.params = nn.ParameterList(
            nn.Parameter(torch.zeros(1, c, h, w))
            for c, (h, w) in zip(self.channels, self.shapes, strict=True)
        )

    def values(self) -> list[torch.Tensor]:
        """The continuous grid values (parameters × gain), finest level first."""
        return [LATENT_GAIN * p for p in self.params]

    @torch.no_grad()
    def set_values(self, values: list[torch.Tensor]) -> None:
        """Overwrite the grids with given values (e.g. integers decoded from a file)."""
        for param, value in zip(self.params, values, strict=True):
            param.copy_(value.reshape(param.shape) / LATENT_GAIN)

    def count(self) -> int:
        """Number of grid values to transmit."""
        return sum(c * h * w for c, (h, w) in zip(self.channels, self.shapes, strict=True))
