"""The discretized Laplace distribution of the ARM and the rate it gives (SPEC §1.2).

A quantized value v has probability P(v) = F(v + ½) − F(v − ½), with F the Laplace CDF of
location μ and scale b; its rate is −log2 P(v) bits, with P floored at 2^-16 so that one
surprising value costs at most 16 bits and the gradient stays finite.
"""

from __future__ import annotations

import torch

# The ARM's log-scale range and the probability floor are the format's (its tables span them).
from ..bitstream.rules import LOG_SCALE_MAX, LOG_SCALE_MIN, PROBABILITY_FLOOR


def laplace_cdf(x: torch.Tensor, mu: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """F(x) = ½ + ½·sign(x − μ)·(1 − exp(−|x − μ|/b))."""
    z = x - mu
    return 0.5 + 0.5 * torch.sign(z) * (-torch.expm1(-z.abs() / scale))


def laplace_pmf(values: torch.Tensor, mu: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """P(v) = F(v + ½) − F(v − ½) of the discretized Laplace (μ, b) (broadcasting)."""
    return laplace_cdf(values + 0.5, mu, scale) - laplace_cdf(values - 0.5, mu, scale)


def rate_bits(values: torch.Tensor, mu: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Bits of each (quantized) value under the discretized Laplace (μ, exp(log_scale))."""
    scale = torch.exp(log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
    return -torch.log2(laplace_pmf(values, mu, scale).clamp_min(PROBABILITY_FLOOR))
