"""Auto-regressive probability model (ARM): P(v) from C causal neighbours (Cool-chic §3.2).

Each grid is coded in raster order. The context of a value is the C nearest values of the
same grid that come before it in raster order (zero outside the grid); a small residual MLP
maps the context to the (μ, log b) of a discretized Laplace.
"""

from __future__ import annotations

import functools

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


def context_index(
    shapes: tuple[tuple[int, int, int], ...], offsets: tuple[tuple[int, int], ...]
) -> torch.Tensor:
    """Where each context value sits in ``[all grid values, 0]``: an (N × C) int64 matrix.

    ``shapes`` lists each grid's (c, h, w), finest first; row n is the n-th value of the
    grids flattened channel by channel in raster order (as ``gather_contexts`` lists them),
    column j its neighbour at ``offsets[j]`` in the same plane, or N (the appended zero)
    outside it. ``gather_contexts`` caches it per latent size: a fit asks for it every step.
    """
    planes, start = [], 0
    for channels, height, width in shapes:
        rows = torch.arange(height).view(-1, 1, 1)
        cols = torch.arange(width).view(1, -1, 1)
        dy = torch.tensor([o[0] for o in offsets]).view(1, 1, -1)
        dx = torch.tensor([o[1] for o in offsets]).view(1, 1, -1)
        y, x = rows + dy, cols + dx
        inside = (y >= 0) & (x >= 0) & (x < width)  # offsets are causal: y < height always
        local = (y * width + x).reshape(1, height * width, -1)
        base = start + height * width * torch.arange(channels).view(-1, 1, 1)
        planes.append(torch.where(inside.reshape(1, height * width, -1), base + local, -1))
        start += channels * height * width
    index = torch.cat([plane.reshape(-1, len(offsets)) for plane in planes])
    return torch.where(index < 0, start, index)


@functools.lru_cache(maxsize=4)  # one latent size at a time in a fit; 7 MB each (64×96)
def _cached_indices(
    shapes: tuple[tuple[int, int, int], ...], offsets: tuple[tuple[int, int], ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``context_index`` flattened row by row (forward) and column by column (backward)."""
    index = context_index(shapes, offsets)
    return index.reshape(-1), index.t().contiguous().reshape(-1)


class _GatherContexts(torch.autograd.Function):
    """Contexts ``[values, 0][index]`` of the grids, with the gradient ``unfold`` would give.

    The backward adds the context gradients into each value column by column (offset by
    offset, in ``offsets`` order) starting from zero: the order in which ``fold`` (the
    backward of the former ``unfold`` gather) sums them, so gradients are bit-identical.
    """

    @staticmethod
    def forward(ctx, rows: torch.Tensor, columns: torch.Tensor,
                *grids: torch.Tensor) -> torch.Tensor:
        """(N × C) contexts of the grids (1×c×h×w each, finest first).

        ``rows`` and ``columns``: the (N × C) ``context_index`` flattened row-major and
        column-major.
        """
        values = torch.cat([grid.reshape(-1) for grid in grids] + [grids[0].new_zeros(1)])
        ctx.save_for_backward(columns)
        ctx.shapes = [grid.shape for grid in grids]
        # index_select on the flat index: ~6× faster than advanced indexing values[index].
        return values.index_select(0, rows).view(-1, columns.numel() // (values.numel() - 1))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        """The gradient of every grid value: Σ_j of the contexts that hold it, j ascending."""
        (columns,) = ctx.saved_tensors
        # Column-major order: all rows of offset 0, then offset 1, …, so that each value
        # receives its (at most C) gradients in offset order, as fold sums them.
        grad_values = grad.new_zeros(grad.shape[0] + 1).index_add_(0, columns,
                                                                   grad.t().reshape(-1))
        parts = grad_values[:-1].split([shape.numel() for shape in ctx.shapes])
        return (None, None, *(part.view(shape) for part, shape in zip(parts, ctx.shapes,
                                                                        strict=True)))


def gather_contexts(grids: list[torch.Tensor], offsets: list[tuple[int, int]]) -> torch.Tensor:
    """Contexts of every value of all ``grids`` (each 1×c×h×w, float), stacked: (Σ c·h·w) × C.

    Each channel of a level is a grid of its own (the context never crosses channels); rows
    come channel by channel in raster order, as ``grid.reshape(-1)`` lists the values. Same
    values as ``gather_context`` channel by channel, as one indexing with a cached index
    (``context_index``) whose backward is one ``index_add_``: no padding, no per-grid ops.
    """
    shapes = tuple((grid.shape[1], grid.shape[2], grid.shape[3]) for grid in grids)
    rows, columns = _cached_indices(shapes, tuple(tuple(o) for o in offsets))
    device = grids[0].device
    return _GatherContexts.apply(rows.to(device), columns.to(device), *grids)


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
