"""Entropy coding of the integer latent grids with the integer ARM's probabilities.

A level is c channels of one h × w size (version 1 files: c = 1); each channel is a grid of
its own for the ARM (the context never crosses channels), and all c channels share the level's
symbol range [min, max]. The ARM context of a value is its causal neighbours in *raster* order
(as in training), but values are coded in **wavefront order**: position (y, x) belongs to
wavefront t = x + (r+1)·y, r the context radius. Every context neighbour of a value lies on an
earlier wavefront (a neighbour (y, x−a) has t−a; a neighbour (y−b, x+c), b ≥ 1, |c| ≤ r, has
t + c − (r+1)b ≤ t−1), so the decoder evaluates the ARM for a whole wavefront at once instead
of value by value.

Levels are coded in **groups**, coarsest first, and the levels of a group are interleaved:
for t = 0, 1, …: for each level of the group still having wavefront t (coarsest first): its
values on t, by channel, then increasing y. Contexts never cross levels either, so one ARM call
serves wavefront t of every level of the group. Version 2 codes all levels as one group
(~w + (r+1)·h ARM calls per file); version 1 coded each level as a group of its own. The rate
is the same in any order: only the order of the (identical) probabilities changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import constriction
import numpy as np

from .fixed_point import ArmRunner, IntegerArm, grid_contexts
from .rules import context_radius, wavefront_order
from .tables import GridPmfCache


def _family():
    """The model family: categorical pmf rows (lazy, leaky, float64) — same on both sides."""
    return constriction.stream.model.Categorical(perfect=False)


def level_groups(n_levels: int, version: int) -> list[list[int]]:
    """Level indices (0 = finest) in coding order, grouped: coarsest first."""
    coarsest_first = list(range(n_levels - 1, -1, -1))
    return [coarsest_first] if version >= 2 else [[level] for level in coarsest_first]


@dataclass
class _Level:
    """One coded level of a group: its size, range, pmf cache and wavefront count."""

    index: int
    channels: int
    height: int
    width: int
    lo: int
    hi: int
    cache: GridPmfCache
    waves: int  # number of wavefronts: w + (r+1)·(h−1)


def _coded_levels(group, shapes, channels, ranges, step) -> list[_Level]:
    """The levels of ``group`` that are coded (constant levels are fully given by their range)."""
    return [
        _Level(i, channels[i], *shapes[i], *ranges[i], GridPmfCache(*ranges[i]),
               shapes[i][1] + step * (shapes[i][0] - 1))
        for i in group
        if ranges[i][0] != ranges[i][1]
    ]


def _runner(arm: IntegerArm, levels: list[_Level]) -> ArmRunner:
    """One ARM runner for a group: its worst case is the group's largest |value|."""
    return ArmRunner(arm, max(max(abs(lv.lo), abs(lv.hi)) for lv in levels))


def encode_grids(
    levels: list[np.ndarray], ranges: list[tuple[int, int]], arm: IntegerArm, version: int
) -> bytes:
    """Code the integer levels (finest first, c × h × w, within their (min, max)); the payload."""
    encoder = constriction.stream.queue.RangeEncoder()
    radius = context_radius(list(arm.offsets))
    step = radius + 1
    shapes = [level.shape[1:] for level in levels]
    channels = [level.shape[0] for level in levels]
    for group in level_groups(len(levels), version):
        coded = _coded_levels(group, shapes, channels, ranges, step)
        if not coded:
            continue
        run_arm = _runner(arm, coded)
        streams = []  # per level: symbols, μ/scale indices in coding order, wavefront bounds
        for lv in coded:
            mu, scale = run_arm(grid_contexts(levels[lv.index], arm.offsets))
            order = wavefront_order(lv.channels, lv.height, lv.width, radius)
            _, y, x = np.unravel_index(order, (lv.channels, lv.height, lv.width))
            bounds = np.searchsorted(x + step * y, np.arange(lv.waves + 1))
            symbols = (levels[lv.index].reshape(-1)[order] - lv.lo).astype(np.int32)
            streams.append((lv, symbols, mu[order], scale[order], bounds))
        for t in range(max(lv.waves for lv in coded)):
            for lv, symbols, mu, scale, bounds in streams:
                if t < lv.waves:
                    part = slice(bounds[t], bounds[t + 1])
                    encoder.encode(symbols[part], _family(), lv.cache.rows(mu[part], scale[part]))
    return encoder.get_compressed().astype("<u4").tobytes()


def decode_grids(
    payload: bytes,
    shapes: list[tuple[int, int]],
    channels: list[int],
    ranges: list[tuple[int, int]],
    arm: IntegerArm,
    version: int,
) -> list[np.ndarray]:
    """Decode the levels (returned finest first, c × h × w); loops bounded by the header."""
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    offsets = np.array(arm.offsets, dtype=np.int64)
    radius = context_radius(list(arm.offsets))
    step = radius + 1
    family = _family()
    out = [np.full((c, h, w), lo, dtype=np.int64)
           for c, (h, w), (lo, _) in zip(channels, shapes, ranges, strict=True)]
    for group in level_groups(len(shapes), version):
        coded = _coded_levels(group, shapes, channels, ranges, step)
        if not coded:
            continue
        run_arm = _runner(arm, coded)
        padded = {lv.index: np.zeros((lv.channels, lv.height + radius, lv.width + 2 * radius),
                                     dtype=np.int64) for lv in coded}
        for t in range(max(lv.waves for lv in coded)):
            active, positions, contexts = [], [], []
            for lv in coded:
                if t >= lv.waves:
                    continue
                # Rows y with 0 ≤ x = t − step·y < width, increasing y (the encoder's order).
                y_first = max(0, -(-(t - lv.width + 1) // step))
                ys = np.arange(y_first, min(lv.height - 1, t // step) + 1, dtype=np.int64)
                ys, xs = radius + ys, radius + t - step * ys
                # (channel, y) rows of contexts, channel-major: the encoder's order.
                rows, columns = ys[:, None] + offsets[:, 0], xs[:, None] + offsets[:, 1]
                contexts.append(padded[lv.index][:, rows, columns].reshape(-1, len(offsets)))
                active.append(lv)
                positions.append((ys, xs))
            mu, scale = run_arm(np.concatenate(contexts) if len(contexts) > 1 else contexts[0])
            start = 0
            for lv, (ys, xs), part in zip(active, positions, contexts, strict=True):
                stop = start + len(part)
                rows = lv.cache.rows(mu[start:stop], scale[start:stop])
                symbols = decoder.decode(family, rows).astype(np.int64) + lv.lo
                padded[lv.index][:, ys, xs] = symbols.reshape(lv.channels, -1)
                start = stop
        for lv in coded:
            level = padded[lv.index][:, radius:, radius : radius + lv.width]
            if int(level.min()) != lv.lo or int(level.max()) != lv.hi:
                # The encoder stores the exact min and max: anything else is a corrupted stream.
                raise ValueError("decoded grid does not span its stored symbol range")
            out[lv.index] = level.copy()
    if not decoder.maybe_exhausted():
        raise ValueError("grid payload is longer than its symbols")
    return out
