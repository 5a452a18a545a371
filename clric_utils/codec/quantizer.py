"""Differentiable stand-ins for rounding (C3, arXiv 2312.02753 §3.2; Cool-chic v3).

Training relaxes ``round`` in three stages: soft-rounding plus uniform noise (annealed),
then a straight-through estimator, then true rounding.
"""

from __future__ import annotations

import math

import torch


def soft_round(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """s_T(x) = ⌊x⌋ + ½ + ½·tanh((x − ⌊x⌋ − ½)/T) / tanh(1/(2T)); → round(x) as T → 0."""
    floor = torch.floor(x)
    delta = x - floor - 0.5
    return floor + 0.5 + 0.5 * torch.tanh(delta / temperature) / math.tanh(0.5 / temperature)


def quantize(
    x: torch.Tensor,
    mode: str,
    temperature: float = 0.3,
    noise: float = 0.25,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Quantize ``x`` to integers the way the training ``mode`` asks.

    Args:
        x: continuous values.
        mode: ``"softround"`` (s_T(x) + u, u ~ U(−noise, noise)), ``"ste"`` (round in the
            forward pass, identity gradient) or ``"hard"`` (round, no gradient).
        temperature: soft-rounding temperature T.
        noise: half-width of the additive uniform noise.
        generator: random generator, so that a seed fixes the noise.

    Returns:
        The quantized (or relaxed) values, same shape as ``x``.
    """
    if mode == "hard":
        return torch.round(x)
    if mode == "ste":
        return x + (torch.round(x) - x).detach()
    if mode == "softround":
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return soft_round(x, temperature) + noise * (2.0 * u - 1.0)
    raise ValueError(f"unknown quantization mode {mode!r}")
