"""Entropy coding of the integer latent grids with the integer ARM's probabilities.

Levels are coded coarsest first; a level is c channels of one h × w size, each channel a grid
of its own for the ARM (the context never crosses channels), and all c channels share the
level's symbol range [min, max] (version 1 files: c = 1). The ARM context of a value is its
causal neighbours in *raster* order (as in training), but values are coded in **wavefront
order**: position (y, x) belongs to wavefront t = x + (r+1)·y, r the context radius. Every
context neighbour of a value lies on an earlier wavefront (a neighbour (y, x−a) has t−a; a
neighbour (y−b, x+c), b ≥ 1, |c| ≤ r, has t + c − (r+1)b ≤ t−1), so the decoder evaluates the
ARM for a whole wavefront of every channel in one batched integer call instead of value by
value: ~w + (r+1)·h batches per level instead of c·h·w. Inside a wavefront, values are coded by
channel, then increasing y. The rate is the same as raster coding: only the order of the
(identical) probabilities changes.
"""

from __future__ import annotations

import constriction
import numpy as np

from .fixed_point import IntegerArm, grid_contexts, integer_arm
from .rules import context_radius, wavefront_order
from .tables import GridPmfCache

#: Rows of probabilities handed to constriction at once by the encoder (bounds memory).
_ENCODE_CHUNK = 4096


def _family():
    """The model family: categorical pmf rows (lazy, leaky, float64) — same on both sides."""
    return constriction.stream.model.Categorical(perfect=False)


def encode_grids(
    levels: list[np.ndarray], ranges: list[tuple[int, int]], arm: IntegerArm
) -> bytes:
    """Code the integer levels (finest first, c × h × w, within their (min, max)); the payload."""
    encoder = constriction.stream.queue.RangeEncoder()
    radius = context_radius(list(arm.offsets))
    for level, (lo, hi) in zip(reversed(levels), reversed(ranges), strict=True):
        if lo == hi:
            continue  # a constant level is fully described by its range: nothing to code
        channels, height, width = level.shape
        mu, scale = integer_arm(grid_contexts(level, arm.offsets), arm)
        order = wavefront_order(channels, height, width, radius)
        symbols = (level.reshape(-1)[order] - lo).astype(np.int32)
        mu, scale = mu[order], scale[order]
        cache = GridPmfCache(lo, hi)
        for start in range(0, len(order), _ENCODE_CHUNK):
            stop = start + _ENCODE_CHUNK
            rows = cache.rows(mu[start:stop], scale[start:stop])
            encoder.encode(symbols[start:stop], _family(), rows)
    return encoder.get_compressed().astype("<u4").tobytes()


def decode_grids(
    payload: bytes,
    shapes: list[tuple[int, int]],
    channels: list[int],
    ranges: list[tuple[int, int]],
    arm: IntegerArm,
) -> list[np.ndarray]:
    """Decode the levels (returned finest first, c × h × w); loops bounded by the header."""
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    offsets = np.array(arm.offsets, dtype=np.int64)
    radius = context_radius(list(arm.offsets))
    step = radius + 1
    family = _family()
    levels: list[np.ndarray] = []
    for (height, width), n_channels, (lo, hi) in zip(
        reversed(shapes), reversed(channels), reversed(ranges), strict=True
    ):
        if lo == hi:
            levels.append(np.full((n_channels, height, width), lo, dtype=np.int64))
            continue
        padded = np.zeros((n_channels, height + radius, width + 2 * radius), dtype=np.int64)
        cache = GridPmfCache(lo, hi)
        channel_index = np.arange(n_channels, dtype=np.int64)[:, None]
        for t in range(width + step * (height - 1)):
            # Rows y with 0 ≤ x = t − step·y < width, increasing y (the encoder's order).
            y_first = max(0, -(-(t - width + 1) // step))
            y_last = min(height - 1, t // step)
            ys = np.arange(y_first, y_last + 1, dtype=np.int64)
            xs = t - step * ys
            rows = radius + ys[:, None] + offsets[None, :, 0]
            columns = radius + xs[:, None] + offsets[None, :, 1]
            # (channel, y) rows of contexts, channel-major: the encoder's order in a wavefront.
            contexts = padded[:, rows, columns].reshape(-1, len(offsets))
            mu, scale = integer_arm(contexts, arm)
            symbols = decoder.decode(family, cache.rows(mu, scale)).astype(np.int64) + lo
            padded[channel_index, radius + ys, radius + xs] = symbols.reshape(n_channels, -1)
        level = padded[:, radius:, radius : radius + width].copy()
        if int(level.min()) != lo or int(level.max()) != hi:
            # The encoder stores the exact min and max: anything else is a corrupted stream.
            raise ValueError("decoded grid does not span its stored symbol range")
        levels.append(level)
    if not decoder.maybe_exhausted():
        raise ValueError("grid payload is longer than its symbols")
    levels.reverse()
    return levels
