"""Rate control: find the λ whose fit lands on a target rate (bits per image pixel).

The rate of a fit falls monotonically (up to training noise) as λ grows, and log(bpp) is close
to linear in log(λ). We therefore search in the log domain: a first guess interpolated in the
preset's ``schedule.LAMBDA_CALIBRATION`` (log-log), secant steps with the calibration's local
slope until the target is bracketed, then regula falsi
between the closest λ with too many bits and the closest λ with too few (bisection in log λ
when the secant would leave that bracket or creep). Each fit is warm-started from the fit whose
λ is nearest, which is both faster to converge and smoother in λ than a cold start.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch

from ..errors import ParameterError
from .schedule import lambda_calibration
from .train import FitResult, fit


def estimated_bpp(result: FitResult) -> float:
    """The model's own rate estimate: (latent + weight bits) / image pixels."""
    return result.estimated_bpp


#: Flattest log-bpp / log-λ slope used for a step: near saturation the measured curve is almost
#: flat, and a flatter slope would ask for absurd λ jumps (steps are capped at 8× anyway).
MIN_ABS_SLOPE = 0.15


def _calibration_segment(
    log_bpp: float, preset: str | None, latent_channels: int = 4
) -> tuple[float, float, float]:
    """(log λ, log bpp, slope) of ``preset``'s calibration segment nearest to ``log_bpp``."""
    table = lambda_calibration(preset, latent_channels)
    points = sorted((math.log(b), math.log(lm)) for lm, b in table)
    # The first segment whose upper end reaches log_bpp, else the last one (extrapolation).
    index = next((i for i in range(1, len(points)) if log_bpp <= points[i][0]), len(points) - 1)
    (y0, x0), (y1, x1) = points[index - 1], points[index]
    slope = (y1 - y0) / (x1 - x0)
    return x0, y0, min(slope, -MIN_ABS_SLOPE)


def initial_lambda(
    target_bpp: float, preset: str | None = None, latent_channels: int = 4
) -> float:
    """λ ``preset``'s calibration table predicts for ``target_bpp`` (log-log interpolation).

    Clamped to the table's λ range: beyond it (rate ceiling, weight floor, other image sizes)
    extrapolation gives absurd values, and the search's own steps do better from the end.
    """
    x0, y0, slope = _calibration_segment(math.log(target_bpp), preset, latent_channels)
    lmbdas = [lmbda for lmbda, _ in lambda_calibration(preset, latent_channels)]
    guess = math.exp(x0 + (math.log(target_bpp) - y0) / slope)
    return min(max(guess, min(lmbdas)), max(lmbdas))


def fit_to_target_bpp(
    latent: torch.Tensor,
    image_size: tuple[int, int],
    target_bpp: float,
    measure_bpp: Callable[[FitResult], float] | None = None,
    tolerance: float = 0.03,
    max_steps: int = 8,
    strict: bool = False,
    lmbda0: float | None = None,
    **fit_kwargs,
) -> FitResult:
    """Fit ``latent`` with the λ that gives ``target_bpp`` within ±``tolerance`` (relative).

    Args:
        latent, image_size: as for ``train.fit``.
        target_bpp: wanted rate in bits per pixel of the original image (> 0).
        measure_bpp: how a fit's rate is measured; default ``estimated_bpp`` (ideal code
            lengths of latents and weights, no header). Pass a function that writes the file
            and returns 8·bytes/(H·W) to control the real size.
        tolerance: accepted relative error |bpp/target − 1| (default 3 %).
        max_steps: most fits tried (each one is a full ``fit``).
        strict: when no fit lands within the tolerance, raise ``ParameterError`` instead of
            returning the closest fit with a ``RuntimeWarning``.
        lmbda0: first λ to try (default: from the calibrated power law).
        **fit_kwargs: passed to ``train.fit`` (preset, effort, seed, threads, progress, …);
            ``init`` and ``lmbda`` are chosen here.

    Returns:
        The first fit within the tolerance, else (not strict) the fit whose measured bpp is
        closest to the target in log terms.
    """
    try:
        target = float(target_bpp)
    except (TypeError, ValueError):
        raise ParameterError(f"target bpp must be a number, got {target_bpp!r}") from None
    if not math.isfinite(target) or target <= 0:
        raise ParameterError(f"target bpp must be finite and > 0, got {target_bpp!r}")
    if not 0 < tolerance < 1:
        raise ParameterError(f"tolerance must be in (0, 1), got {tolerance!r}")
    if int(max_steps) < 1:
        raise ParameterError(f"max_steps must be ≥ 1, got {max_steps!r}")
    for key in ("init", "lmbda"):
        if key in fit_kwargs:
            raise ParameterError(f"fit_to_target_bpp chooses {key!r} itself")
    measure = measure_bpp or estimated_bpp
    progress = fit_kwargs.get("progress", True)

    tried: list[tuple[float, float, FitResult]] = []  # (λ, measured bpp, fit)
    preset = fit_kwargs.get("preset")
    preset = preset if isinstance(preset, str) or preset is None else None  # custom: default
    channels = int(latent.shape[1]) if latent.ndim == 4 else 4
    lmbda = float(lmbda0) if lmbda0 is not None else initial_lambda(target, preset, channels)
    for step in range(int(max_steps)):
        init = min(tried, key=lambda t: abs(math.log(t[0] / lmbda)))[2] if tried else None
        result = fit(latent, image_size, lmbda, init=init, **fit_kwargs)
        bpp = float(measure(result))
        tried.append((lmbda, bpp, result))
        if progress:
            from tqdm.auto import tqdm

            tqdm.write(f"rate control step {step + 1}: λ={lmbda:.4g} → {bpp:.4f} bpp "
                       f"(target {target:.4f})")
        if abs(bpp / target - 1) <= tolerance:
            return result
        lmbda = _next_lambda(tried, target, preset, channels)

    closest = min(tried, key=lambda t: abs(math.log(t[1] / target)) if t[1] > 0 else math.inf)
    message = (
        f"rate control: no λ within ±{100 * tolerance:g}% of {target:g} bpp after {len(tried)} "
        f"fits; closest is λ={closest[0]:.4g} at {closest[1]:.4f} bpp "
        f"({100 * (closest[1] / target - 1):+.1f}%)"
    )
    if strict:
        raise ParameterError(message + "; the target may be outside what this preset reaches")
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    return closest[2]


def _next_lambda(
    tried: list[tuple[float, float, FitResult]], target: float, preset: str | None,
    latent_channels: int = 4,
) -> float:
    """The next λ to try, from every (λ, bpp) measured so far."""
    log_target = math.log(target)
    points = [(math.log(lm), math.log(max(bpp, 1e-9))) for lm, bpp, _ in tried]
    high = [p for p in points if p[1] > log_target]  # too many bits: λ must grow
    low = [p for p in points if p[1] < log_target]  # too few bits: λ must shrink
    if not high or not low:
        # No bracket yet: step on from the outermost λ tried in the direction the target lies
        # (the largest λ when every fit had too many bits, the smallest when too few), with
        # the calibration's local slope or the measured one, at most a factor 8 in λ per step.
        # Starting from the outermost point (not the nearest in rate) never proposes a λ
        # already tried, even where the measured rate is not monotone in λ.
        x0, y0 = max(points) if high else min(points)
        slope = _calibration_segment(y0, preset, latent_channels)[2]
        if len(points) >= 2:
            (xa, ya), (xb, yb) = points[-2], points[-1]
            if xa != xb:
                slope = min((yb - ya) / (xb - xa), -MIN_ABS_SLOPE)
        step = (log_target - y0) / slope
        return math.exp(x0 + max(-math.log(8), min(math.log(8), step)))
    # Bracket: the tightest λ on each side; regula falsi in log-log, bisection as safeguard.
    x_hi, y_hi = max(high, key=lambda p: p[0])  # largest λ still above the target...
    x_lo, y_lo = min(low, key=lambda p: p[0])  # ...and smallest λ below it
    if x_hi < x_lo and y_hi != y_lo:
        x = x_hi + (log_target - y_hi) * (x_lo - x_hi) / (y_lo - y_hi)
        margin = 0.1 * (x_lo - x_hi)  # keep away from the ends, or regula falsi creeps
        if x_hi + margin <= x <= x_lo - margin:
            return math.exp(x)
    return math.exp(0.5 * (x_hi + x_lo))
