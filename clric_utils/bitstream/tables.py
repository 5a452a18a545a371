"""Probability tables of the entropy coder, computed with exact, machine-independent arithmetic.

The ARM's (μ, log b) leave the integer network as fixed-point integers. μ is rounded to a grid
of 1/MU_STEPS and log b to one of SCALE_LEVELS table entries, both with integer arithmetic.
The probabilities of a discretized Laplace are then built as integers: every ``exp`` comes from
``decimal`` (software arithmetic, correctly rounded, identical on every machine) and powers are
taken by binary exponentiation in int64 with floor shifts. The integer pmf (every entry ≥ 1) is
handed to constriction as float64 (exact: the integers are < 2^53); constriction's categorical
model quantizes it with IEEE add/multiply only, so encoder and decoder see the same model
everywhere. constriction's ``QuantizedLaplace`` is not used: it calls the C library's ``exp``,
whose last bit may differ between platforms (and between FMA/non-FMA code paths).
"""

from __future__ import annotations

import decimal
from functools import lru_cache

import numpy as np

# Every constant of the tables is a rule of the format (rules.py: "Probability tables").
from .rules import (
    EXP_BITS,
    FRAC_BITS,
    GRID_FLOOR,
    LOG_SCALE_MAX_Q,
    LOG_SCALE_MIN_Q,
    MAX_GRID_RANGE,
    MU_BITS,
    MU_STEPS,
    PMF_BITS,
    SCALE_LEVELS,
    WEIGHT_FLOOR,
)

_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, Emin=-999999, Emax=999999)


def mu_index(mu_fixed: np.ndarray) -> np.ndarray:
    """μ (fixed point, FRAC_BITS) rounded half up to units of 1/MU_STEPS."""
    shift = FRAC_BITS - MU_BITS
    return (np.asarray(mu_fixed, dtype=np.int64) + (1 << (shift - 1))) >> shift


def scale_index(log_scale_fixed: np.ndarray) -> np.ndarray:
    """Nearest table index (0 … SCALE_LEVELS−1) of a fixed-point log-scale, clamped to the range."""
    span = LOG_SCALE_MAX_Q - LOG_SCALE_MIN_Q
    ls = np.clip(np.asarray(log_scale_fixed, dtype=np.int64), LOG_SCALE_MIN_Q, LOG_SCALE_MAX_Q)
    # round((ls − min) · (S−1) / span) in integers: ⌊(2·(ls−min)·(S−1) + span) / (2·span)⌋.
    return (2 * (ls - LOG_SCALE_MIN_Q) * (SCALE_LEVELS - 1) + span) // (2 * span)


def _decimal_scale(index: int) -> decimal.Decimal:
    """Scale b of table entry ``index``, as an exact-arithmetic Decimal."""
    c = _CONTEXT
    span = LOG_SCALE_MAX_Q - LOG_SCALE_MIN_Q
    log_q = c.add(
        decimal.Decimal(LOG_SCALE_MIN_Q),
        c.divide(decimal.Decimal(index * span), decimal.Decimal(SCALE_LEVELS - 1)),
    )
    return c.exp(c.divide(log_q, decimal.Decimal(1 << FRAC_BITS)))


def scale_value(index: int) -> float:
    """Scale b of table entry ``index`` (float64, correctly rounded from the exact value)."""
    return float(_decimal_scale(index))


def _power_table(step_over_scale: decimal.Decimal, n_bits: int) -> tuple[int, ...]:
    """round(2^EXP_BITS · exp(−2^j · step_over_scale)) for j = 0 … n_bits−1."""
    c = _CONTEXT
    one = decimal.Decimal(1 << EXP_BITS)
    table = []
    for j in range(n_bits):
        exponent = c.minus(c.multiply(decimal.Decimal(1 << j), step_over_scale))
        value = c.multiply(one, c.exp(exponent))
        table.append(int(value.to_integral_value(rounding=decimal.ROUND_HALF_EVEN)))
    return tuple(table)


def exp_fixed(k: np.ndarray, powers: tuple[int, ...]) -> np.ndarray:
    """E(k) ≈ 2^EXP_BITS · exp(−k·step/b) for integers 0 ≤ k < 2^len(powers), exactly in int64."""
    k = np.asarray(k, dtype=np.int64)
    if k.size and (int(k.min()) < 0 or int(k.max()) >> len(powers)):
        raise ValueError("exponent argument out of the table's range")
    result = np.full(k.shape, 1 << EXP_BITS, dtype=np.int64)
    for j, power in enumerate(powers):
        bit = ((k >> j) & 1).astype(bool)
        # (≤ 2^30) · (≤ 2^30) < 2^61: no overflow; the floor shift is exact and portable.
        result = np.where(bit, (result * power) >> EXP_BITS, result)
    return result


#: Bits of k covered by the grid tables: k ≤ MU_STEPS · (2 · MAX_GRID_RANGE + 1).
_GRID_K_BITS = (MU_STEPS * (2 * MAX_GRID_RANGE + 1)).bit_length()


@lru_cache(maxsize=SCALE_LEVELS)
def _grid_powers(index: int) -> tuple[int, ...]:
    """Binary-exponentiation table of exp(−2^j / (MU_STEPS · b_index))."""
    c = _CONTEXT
    step = c.divide(1, c.multiply(decimal.Decimal(MU_STEPS), _decimal_scale(index)))
    return _power_table(step, _GRID_K_BITS)


@lru_cache(maxsize=2 * SCALE_LEVELS)
def _grid_exp_table(scale_idx: int, size: int) -> np.ndarray:
    """``exp_fixed(k)`` of scale entry ``scale_idx`` for every k < ``size``, once per process.

    Every pmf row of a scale reads its exponentials from here, whatever its μ phase: the table
    holds exactly the integers ``exp_fixed`` computes, so rows are identical to computing them
    one by one, at a fraction of the work.
    """
    table = exp_fixed(np.arange(size, dtype=np.int64), _grid_powers(scale_idx))
    table.flags.writeable = False
    return table


def relative_grid_pmfs(scale_idx: np.ndarray, phase: np.ndarray, width: int) -> np.ndarray:
    """Integer pmfs (as float64, n × (2·width−1)) of v − ⌊μ⌋ ∈ [−(width−1), width−1].

    Row i is for the scale-table entry ``scale_idx[i]`` and μ = ⌊μ⌋ + phase[i]/MU_STEPS. A grid
    value v with symbol range [lo, hi] (width = hi − lo + 1) and ⌊μ⌋ ∈ [lo, hi] has the pmf
    slice ``[lo − ⌊μ⌋ + width − 1 :][: width]``. Every entry is ≥ GRID_FLOOR:
    P = F(v + ½) − F(v − ½) with 2^PMF_BITS·F(x) = 2^PMF_BITS − E(|x|) for x ≥ 0, E(|x|) below,
    E(k) = 2^PMF_BITS · ½·exp(−k / (MU_STEPS·b)) in integers (``exp_fixed``).
    """
    scale_idx = np.asarray(scale_idx, dtype=np.int64).reshape(-1)
    phase = np.asarray(phase, dtype=np.int64).reshape(-1, 1)
    d = np.arange(-(width - 1), width, dtype=np.int64)
    low_edge = MU_STEPS * d[None, :] - MU_STEPS // 2 - phase  # (v − ½ − μ) in 1/MU_STEPS units
    # |x| < MU_STEPS·(width + 1) for both edges; a power of two keeps the tables reusable.
    size = 1 << (MU_STEPS * (width + 1)).bit_length()
    pmf = np.empty(low_edge.shape, dtype=np.int64)
    for s in np.unique(scale_idx).tolist():
        rows = np.nonzero(scale_idx == s)[0]
        table = _grid_exp_table(s, size)
        low = low_edge[rows]
        high = low + MU_STEPS
        cdf_high = np.where(high >= 0, (1 << PMF_BITS) - table[np.abs(high)], table[np.abs(high)])
        cdf_low = np.where(low >= 0, (1 << PMF_BITS) - table[np.abs(low)], table[np.abs(low)])
        pmf[rows] = cdf_high - cdf_low
    return np.maximum(pmf, GRID_FLOOR).astype(np.float64)


def relative_grid_pmf(scale_idx: int, phase: int, width: int) -> np.ndarray:
    """One row of ``relative_grid_pmfs``."""
    return relative_grid_pmfs(np.array([scale_idx]), np.array([phase]), width)[0]


#: Widest symbol range whose pmf rows are kept for the whole process (≤ 16 MB per width).
SHARED_WIDTH = 512


def _new_rows(width: int) -> tuple[np.ndarray, np.ndarray]:
    """An empty row table for ``width`` (zeroed pages cost no memory until filled) and its mask."""
    table = np.zeros((SCALE_LEVELS * MU_STEPS, 2 * width - 1), dtype=np.float64)
    return table, np.zeros(SCALE_LEVELS * MU_STEPS, dtype=bool)


@lru_cache(maxsize=16)
def _shared_rows(width: int) -> tuple[np.ndarray, np.ndarray]:
    """The process-wide row table of ``width`` (filled on demand by every GridPmfCache)."""
    return _new_rows(width)


class GridPmfCache:
    """The pmf rows of one symbol range [lo, hi], each table row built once per file.

    A row depends only on (scale index, μ phase): it is computed the first time a symbol needs
    it (all missing rows of a call at once) and then sliced for every ⌊μ⌋, so the work per
    symbol is one table look-up.
    """

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.width = hi - lo + 1
        # The rows depend only on the width: up to SHARED_WIDTH they are kept for the whole
        # process (every file and level of that width reuses them), wider ones per cache.
        if self.width <= SHARED_WIDTH:
            self._table, self._filled = _shared_rows(self.width)
        else:
            self._table, self._filled = _new_rows(self.width)
        self._columns = np.arange(self.width, dtype=np.int64)
        self._mu_low, self._mu_high = lo * MU_STEPS, hi * MU_STEPS

    def rows(self, mu_idx: np.ndarray, scale_idx: np.ndarray) -> np.ndarray:
        """pmf rows (N × width, float64) for N symbols' (μ index, scale index)."""
        # μ outside the symbol range is clamped to it: encoder and decoder do the same.
        mu = np.minimum(np.maximum(mu_idx, self._mu_low), self._mu_high)
        key = scale_idx * MU_STEPS + (mu & (MU_STEPS - 1))
        missing = key[~self._filled[key]]
        if missing.size:
            missing = np.unique(missing)
            self._table[missing] = relative_grid_pmfs(missing >> MU_BITS, missing & (MU_STEPS - 1),
                                                      self.width)
            self._filled[missing] = True
        start = self.lo - (mu >> MU_BITS) + self.width - 1
        return self._table[key[:, None], start[:, None] + self._columns]


def weight_pmf(scale: float, magnitude: int) -> np.ndarray:
    """Integer pmf (as float64) of n ∈ [−M, M] under a zero-mean discretized Laplace(scale)."""
    c = _CONTEXT
    # Steps of ½: k = 2|n| ± 1 indexes the bin edges |n| ± ½.
    step = c.divide(decimal.Decimal(1), c.multiply(decimal.Decimal(2), decimal.Decimal(scale)))
    powers = _power_table(step, (2 * magnitude + 1).bit_length())
    n = np.arange(1, magnitude + 1, dtype=np.int64)
    tail = exp_fixed(2 * n + 1, powers)  # one side's mass beyond n + ½, in 2^-31 units
    inner = exp_fixed(2 * n - 1, powers)
    side = np.maximum(inner - tail, WEIGHT_FLOOR)
    centre = max((1 << PMF_BITS) - 2 * int(exp_fixed(np.array([1]), powers)[0]), WEIGHT_FLOOR)
    return np.concatenate([side[::-1], [centre], side]).astype(np.float64)
