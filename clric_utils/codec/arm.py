"""Auto-regressive probability model (ARM): P(v) from C causal neighbours (Cool-chic §3.2).

Each grid is coded in raster order. The context of a value is the C nearest values of the
same grid that come before it in raster order (zero outside the grid); a small residual MLP
maps the context to the (μ, log b) of a discretized Laplace.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..bitstream.rules import causal_offsets, context_radius


def gather_context(grid: torch.Tensor, offsets: list[tuple[int, int]]) -> torch.Tensor:
    """Contexts of every value of ``grid`` (1×1×h×w) as an (h·w) × C matrix."""
    radius = context_radius(offsets)
    height, width = grid.shape[-2:]
    padded = F.pad(grid, (radius, radius, radius, 0))  # zeros: nothing decoded outside
    columns = [
        padded[0, 0, radius + dy : radius + dy + height, radius + dx : radius + dx + width]
        for dy, dx in offsets
    ]
    return torch.stack(columns, dim=-1).reshape(height * width, len(offsets))


def gather_contexts(grids: list[torch.Tensor], offsets: list[tuple[int, int]]) -> torch.Tensor:
    """Contexts of every value of all ``grids`` (each 1×c×h×w, float), stacked: (Σ c·h·w) × C.

    Each channel of a level is a grid of its own (the context never crosses channels); rows
    come channel by channel in raster order, as ``grid.reshape(-1)`` lists the values. Same
    values as ``gather_context`` channel by channel, but built with ``unfold`` (a pure copy,
    so bit-identical) whose backward is one ``fold``: ~2.5× faster to train with.
    """
    radius = context_radius(offsets)
    window = (radius + 1, 2 * radius + 1)
    index = torch.tensor(
        [(radius + dy) * window[1] + radius + dx for dy, dx in offsets], device=grids[0].device
    )
    rows = []
    for grid in grids:
        planes = grid.reshape(-1, 1, *grid.shape[-2:])  # c × 1 × h × w: one plane per channel
        columns = F.unfold(F.pad(planes, (radius, radius, radius, 0)), window)  # c × K × h·w
        rows.append(columns.index_select(1, index).transpose(1, 2).reshape(-1, len(offsets)))
    return torch.cat(rows)


class Arm(nn.Module):
    """Residual MLP: h ← h + ReLU(W h + b) for each hidden layer, then (μ, log b) = W_out h."""

    def __init__(self, n_context: int, n_hidden_layers: int) -> None:
        super().__init__()
        self.offsets = causal_offsets(n_context)
        self.hidden = nn.ModuleList(nn.Linear(n_context, n_context) for _ in range(n_hidden_layers))
        self.out = nn.Linear(n_context, 2)
        # Start from P = Laplace(0, 1) for every value: zero output layer.
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log b) for each row of ``context`` (N × C)."""
        h = context
        for layer in self.hidden:
            h = h + F.relu(layer(h))
        mu, log_scale = self.out(h).unbind(dim=-1)
        return mu, log_scale
