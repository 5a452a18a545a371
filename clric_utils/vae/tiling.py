"""Tiled VAE passes: large images are encoded and decoded in overlapping tiles, then blended.

A VAE's activations at full resolution cost hundreds of bytes per pixel (``house``: ≈ 600,
Stable Diffusion's: several KB), so a 100-megapixel picture would need tens of GB in one pass.
``tiled_map`` runs a function on overlapping tiles along the last two axes and blends the
results with weights that ramp linearly from 0 to 1 across each overlap, so that seams vanish:
memory then grows with the tile, not with the image, except for the input and the output.

Tile sizes and overlaps are counted in units of the *input* (latent pixels when decoding,
image pixels when encoding); ``scale`` is the output / input size ratio (8 when decoding,
1/8 when encoding). The tile geometry is a product of two 1-D tilings, so the blending weights'
sum is a product too and is divided out per row and per column.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import torch


def tile_spans(size: int, tile: int, overlap: int, align: int = 1) -> list[tuple[int, int]]:
    """(start, length) of the fewest tiles no longer than ``tile`` that cover ``[0, size)``
    with neighbours sharing at least ``overlap``, spread evenly; starts and lengths are
    multiples of ``align`` (except where the last tile ends at ``size``).

    Even spreading keeps the extra work small: 192 samples in tiles of ≤ 96 overlapping by 16
    take 3 tiles of 75 (225 samples computed), not 96 + 96 + 96 (288).
    """
    if not 0 <= overlap < tile:
        raise ValueError(f"tile overlap {overlap} must lie in [0, tile = {tile})")
    units, tile_units = -(-size // align), tile // align
    overlap_units = -(-overlap // align)
    if tile_units >= units:
        return [(0, size)]
    count = -(-(units - overlap_units) // (tile_units - overlap_units))
    length = -(-(units + (count - 1) * overlap_units) // count)
    # Starts ⌊i·(units − length)/(count − 1)⌋ step by at most length − overlap_units.
    starts = [i * (units - length) // (count - 1) for i in range(count)]
    return [(align * s, min(align * length, size - align * s)) for s in starts]


def ramp_weights(start: int, length: int, size: int, ramp: int) -> torch.Tensor:
    """1-D blending weights of one tile: rising over ``ramp`` samples after its start and
    falling over ``ramp`` before its end, except at the edges of the whole axis."""
    position = torch.arange(length, dtype=torch.float32) + 0.5
    weights = torch.ones(length)
    if ramp > 0 and start > 0:
        weights = torch.minimum(weights, position / ramp)
    if ramp > 0 and start + length < size:
        weights = torch.minimum(weights, (length - position) / ramp)
    return weights.clamp_min(1e-3)


def tiled_map(
    x: torch.Tensor,
    function: Callable[[torch.Tensor], torch.Tensor],
    tile: int,
    overlap: int,
    scale: Fraction,
    out_channels: int,
    align: int = 1,
) -> torch.Tensor:
    """``function`` applied to ``x`` (N×C×H×W) tile by tile and blended; see the module doc.

    ``function`` maps an N×C×h×w tile to N×out_channels×(h·scale)×(w·scale); ``align`` keeps
    tile starts on multiples the function needs (8 image pixels when encoding).
    """
    height, width = x.shape[-2:]
    out_height, out_width = int(height * scale), int(width * scale)
    ramp = int(overlap * scale)

    def axis_weights(size: int, out_size: int) -> list[tuple[int, int, int, torch.Tensor]]:
        """(input start, input length, output start, weights) of every tile along one axis."""
        tiles = []
        for start, length in tile_spans(size, tile, overlap, align):
            out_start, out_length = int(start * scale), int(length * scale)
            weights = ramp_weights(out_start, out_length, out_size, ramp)
            tiles.append((start, length, out_start, weights))
        return tiles

    rows, cols = axis_weights(height, out_height), axis_weights(width, out_width)
    output = torch.zeros((x.shape[0], out_channels, out_height, out_width), dtype=torch.float32)
    for top, height_in, out_top, row_weights in rows:
        for left, width_in, out_left, col_weights in cols:
            piece = function(x[..., top : top + height_in, left : left + width_in]).to("cpu")
            h, w = len(row_weights), len(col_weights)
            weights = row_weights[:, None] * col_weights[None, :]
            output[..., out_top : out_top + h, out_left : out_left + w] += piece * weights
    # The weights' sum is separable: Σ_ij a_i(y) b_j(x) = (Σ_i a_i(y)) · (Σ_j b_j(x)).
    row_sum, col_sum = torch.zeros(out_height), torch.zeros(out_width)
    for _, _, out_top, row_weights in rows:
        row_sum[out_top : out_top + len(row_weights)] += row_weights
    for _, _, out_left, col_weights in cols:
        col_sum[out_left : out_left + len(col_weights)] += col_weights
    output /= row_sum[:, None] * col_sum[None, :]
    return output
