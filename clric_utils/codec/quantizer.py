"""Differentiable stand-ins for rounding (C3, arXiv 2312.02753 §3.2; Cool-chic v3).

Training relaxes ``round`` in three stages: soft-rounding plus uniform noise (annealed),
then a straight-through estimator, then true rounding.

Two forms of the first stage: ``softround`` = s_T(x) + u, the one the trainer uses, and
``softround-twice`` = s_T(s_T(x) + u), the form of C3 (§3.2) and Cool-chic (after Agustsson &
Theis 2020), whose outer s_T pulls the noisy value back towards an integer. Measured on `house`
latents (docs/codec.md, "Quantization proxy"; ``benchmarks/quantization_proxy.py``), the
reference form leaves the latent MSE about twice as high at the same schedule, so it is kept
as an option (``Hyperparameters.softround_mode``), not the default.
"""

from __future__ import annotations

import math

import torch

#: The two relaxed forms of the first training stage (see the module's docstring).
SOFTROUND_MODES = ("softround", "softround-twice")


def soft_round(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """s_T(x) = ⌊x⌋ + ½ + ½·tanh((x − ⌊x⌋ − ½)/T) / tanh(1/(2T)); → round(x) as T → 0."""
    # ⌊x⌋ has zero gradient: computed on x.detach(), it adds no autograd node that only adds
    # zeros (same values and gradients, two fewer backward ops per call).
    floor = torch.floor(x.detach())
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
        mode: ``"softround"`` (s_T(x) + u, u ~ U(−noise, noise)), ``"softround-twice"``
            (s_T(s_T(x) + u)), ``"ste"`` (round in the forward pass, identity gradient) or
            ``"hard"`` (round, no gradient).
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
    if mode in SOFTROUND_MODES:
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        # noise·(2u − 1) in place: the same three roundings, no temporaries (u needs no grad).
        noisy = soft_round(x, temperature) + u.mul_(2.0).sub_(1.0).mul_(noise)
        return soft_round(noisy, temperature) if mode == "softround-twice" else noisy
    raise ValueError(f"unknown quantization mode {mode!r}")
