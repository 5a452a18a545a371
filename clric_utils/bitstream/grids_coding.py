"""Entropy coding of the integer latent grids with the integer ARM's probabilities.

Grids are coded coarsest first. Within a grid, the ARM context of a value is its causal
neighbours in *raster* order (as in training), but values are coded in **wavefront order**:
position (y, x) belongs to wavefront t = x + (r+1)·y, r the context radius. Every context
neighbour of a value lies on an earlier wavefront (a neighbour (y, x−a) has t−a; a neighbour
(y−b, x+c), b ≥ 1, |c| ≤ r, has t + c − (r+1)b ≤ t−1), so the decoder evaluates the ARM for a
whole wavefront in one batched integer call instead of value by value: ~w + (r+1)·h batches
per grid instead of h·w. Inside a wavefront, values are coded by increasing y. The rate is the
same as raster coding: only the order of the (identical) probabilities changes.
"""

from __future__ import annotations

import constriction
import numpy as np

from ..codec.arm import context_radius
from .fixed_point import IntegerArm, grid_contexts, integer_arm
from .tables import GridPmfCache

#: Rows of probabilities handed to constriction at once by the encoder (bounds memory).
_ENCODE_CHUNK = 4096


def _family():
    """The model family: categorical pmf rows (lazy, leaky, float64) — same on both sides."""
    return constriction.stream.model.Categorical(perfect=False)


def wavefront_order(height: int, width: int, radius: int) -> np.ndarray:
    """Raster indices of a grid's values in coding order (wavefront t, then y)."""
    y, x = np.divmod(np.arange(height * width, dtype=np.int64), width)
    return np.lexsort((y, x + (radius + 1) * y))


def encode_grids(
    grids: list[np.ndarray], ranges: list[tuple[int, int]], arm: IntegerArm
) -> bytes:
    """Code the integer grids (finest first, each within its (min, max)); return the payload."""
    encoder = constriction.stream.queue.RangeEncoder()
    radius = context_radius(list(arm.offsets))
    for grid, (lo, hi) in zip(reversed(grids), reversed(ranges), strict=True):
        if lo == hi:
            continue  # a constant grid is fully described by its range: nothing to code
        height, width = grid.shape
        mu, scale = integer_arm(grid_contexts(grid, arm.offsets), arm)
        order = wavefront_order(height, width, radius)
        symbols = (grid.reshape(-1)[order] - lo).astype(np.int32)
        mu, scale = mu[order], scale[order]
        cache = GridPmfCache(lo, hi)
        for start in range(0, len(order), _ENCODE_CHUNK):
            stop = start + _ENCODE_CHUNK
            rows = cache.rows(mu[start:stop], scale[start:stop])
            encoder.encode(symbols[start:stop], _family(), rows)
    return encoder.get_compressed().astype("<u4").tobytes()


def decode_grids(
    payload: bytes, shapes: list[tuple[int, int]], ranges: list[tuple[int, int]], arm: IntegerArm
) -> list[np.ndarray]:
    """Decode the grids (returned finest first); every loop is bounded by the header's sizes."""
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    offsets = np.array(arm.offsets, dtype=np.int64)
    radius = context_radius(list(arm.offsets))
    step = radius + 1
    grids: list[np.ndarray] = []
    for (height, width), (lo, hi) in zip(reversed(shapes), reversed(ranges), strict=True):
        if lo == hi:
            grids.append(np.full((height, width), lo, dtype=np.int64))
            continue
        padded = np.zeros((height + radius, width + 2 * radius), dtype=np.int64)
        cache = GridPmfCache(lo, hi)
        family = _family()
        for t in range(width + step * (height - 1)):
            # Rows y with 0 ≤ x = t − step·y < width, increasing y (the encoder's order).
            y_first = max(0, -(-(t - width + 1) // step))
            y_last = min(height - 1, t // step)
            ys = np.arange(y_first, y_last + 1, dtype=np.int64)
            xs = t - step * ys
            rows = radius + ys[:, None] + offsets[None, :, 0]
            columns = radius + xs[:, None] + offsets[None, :, 1]
            contexts = padded[rows, columns]
            mu, scale = integer_arm(contexts, arm)
            symbols = decoder.decode(family, cache.rows(mu, scale))
            padded[radius + ys, radius + xs] = symbols.astype(np.int64) + lo
        grid = padded[radius:, radius : radius + width].copy()
        if int(grid.min()) != lo or int(grid.max()) != hi:
            # The encoder stores the exact min and max: anything else is a corrupted stream.
            raise ValueError("decoded grid does not span its stored symbol range")
        grids.append(grid)
    if not decoder.maybe_exhausted():
        raise ValueError("grid payload is longer than its symbols")
    grids.reverse()
    return grids
