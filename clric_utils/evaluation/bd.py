"""Bjøntegaard delta rate and delta metric between two rate-distortion curves.

Two interpolations of each curve, in log-rate:

* ``"pchip"`` (default): piecewise cubic Hermite interpolation, as in the JCT-VC / JVET
  common-test-condition spreadsheets; well behaved for any number (≥ 2) of points.
* ``"cubic"``: the original VCEG-M33 method, a least-squares cubic polynomial (≥ 4 points).

Both integrate over the interval where the two curves overlap and average the difference.
Works for metrics where higher or lower is better (PSNR, LPIPS, …): only the sign of the
delta metric must then be read accordingly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

from ..errors import ParameterError

METHODS = ("pchip", "cubic")


def _curve(rate: Sequence[float], metric: Sequence[float], label: str) -> tuple[np.ndarray, ...]:
    """Validated (log rate, metric) arrays of one curve."""
    r = np.asarray(rate, dtype=np.float64)
    m = np.asarray(metric, dtype=np.float64)
    if r.ndim != 1 or r.shape != m.shape:
        raise ParameterError(f"{label}: rate and metric must be 1-D of equal length")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(m)) and np.all(r > 0)):
        raise ParameterError(f"{label}: rates must be positive and all values finite")
    return np.log(r), m


def _integral(x: np.ndarray, y: np.ndarray, low: float, high: float, method: str) -> float:
    """∫ y(x) dx over [low, high] of the curve through (x, y) interpolated by ``method``."""
    if method == "cubic":
        if len(x) < 4:
            raise ParameterError("the cubic BD method needs at least 4 points per curve")
        antiderivative = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(antiderivative, high) - np.polyval(antiderivative, low))
    if len(x) < 2:
        raise ParameterError("the pchip BD method needs at least 2 points per curve")
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    if np.any(np.diff(xs) == 0):
        raise ParameterError("interpolation points must be distinct (repeated x value)")
    return float(PchipInterpolator(xs, ys).integrate(low, high))


def _average_gap(
    xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, yb: np.ndarray, method: str
) -> float:
    """Mean of y_b(x) − y_a(x) over the x interval both curves cover."""
    if method not in METHODS:
        raise ParameterError(f"unknown BD method {method!r}; expected one of {METHODS}")
    low, high = max(xa.min(), xb.min()), min(xa.max(), xb.max())
    if not high > low:
        raise ParameterError("the two rate-distortion curves do not overlap")
    gap = _integral(xb, yb, low, high, method) - _integral(xa, ya, low, high, method)
    return gap / (high - low)


def bd_rate(
    rate_anchor: Sequence[float],
    metric_anchor: Sequence[float],
    rate_test: Sequence[float],
    metric_test: Sequence[float],
    method: str = "pchip",
) -> float:
    """Average rate difference of test vs anchor at equal quality, in percent (< 0: test saves)."""
    log_ra, ma = _curve(rate_anchor, metric_anchor, "anchor")
    log_rt, mt = _curve(rate_test, metric_test, "test")
    # log-rate as a function of quality, averaged over the common quality range
    return float(np.expm1(_average_gap(ma, log_ra, mt, log_rt, method)) * 100.0)


def bd_metric(
    rate_anchor: Sequence[float],
    metric_anchor: Sequence[float],
    rate_test: Sequence[float],
    metric_test: Sequence[float],
    method: str = "pchip",
) -> float:
    """Average metric difference (test − anchor) at equal rate, e.g. BD-PSNR in dB."""
    log_ra, ma = _curve(rate_anchor, metric_anchor, "anchor")
    log_rt, mt = _curve(rate_test, metric_test, "test")
    return float(_average_gap(log_ra, ma, log_rt, mt, method))


#: Smallest quality overlap (in the metric's units) over which a BD-rate is reported: below it
#: the two curves share too little of their range for an average to mean anything, and the
#: result is "no overlap" instead of a number.
MIN_OVERLAP = {"psnr": 1.0, "ms_ssim": 0.01, "lpips_alex": 0.05, "lpips_vgg": 0.05, "dists": 0.03}


def quality_overlap(
    metric_anchor: Sequence[float], metric_test: Sequence[float]
) -> tuple[float, float]:
    """(low, high) of the quality range both curves cover (low ≥ high: no overlap)."""
    ma = np.asarray(metric_anchor, dtype=np.float64)
    mt = np.asarray(metric_test, dtype=np.float64)
    return float(max(ma.min(), mt.min())), float(min(ma.max(), mt.max()))


def bd_rate_over_overlap(
    rate_anchor: Sequence[float],
    metric_anchor: Sequence[float],
    rate_test: Sequence[float],
    metric_test: Sequence[float],
    metric: str,
    method: str = "pchip",
) -> tuple[float | None, float, float]:
    """(BD-rate % or None, low, high): None when the quality overlap is below MIN_OVERLAP.

    The BD-rate integrates over exactly [low, high], the quality range both curves cover.
    """
    low, high = quality_overlap(metric_anchor, metric_test)
    if high - low < MIN_OVERLAP.get(metric, 0.0) or not high > low:
        return None, low, high
    return bd_rate(rate_anchor, metric_anchor, rate_test, metric_test, method), low, high


#: The usual name of :func:`bd_metric` when the metric is PSNR.
bd_psnr: Callable[..., float] = bd_metric
