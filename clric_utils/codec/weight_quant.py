"""Quantization of the networks' parameters to power-of-two steps, chosen by rate-distortion.

Cool-chic (arXiv 2307.12706 §3.3) sends each network's weights and biases as integers times a
step 2^-e. Here every network (``arm``, ``upsampling``, ``synthesis``) gets one exponent for its
weights and one for its biases, picked among ``EXPONENTS`` to minimise the true loss
``D + λ·(latent bits + weight bits)/(image pixels)`` with hard-rounded grids (D: the fit's
distortion, ``distortion.py``).

The integers of a group (all weights, or all biases, of one network, concatenated in
``state_dict`` order) are coded with a zero-mean discretized Laplace whose scale is
``laplace_scale_for(ints)``; ``weight_code_bits`` is the exact ideal code length of that model,
which the bitstream reproduces with ``constriction`` up to the coder's overhead.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..bitstream.rules import (
    MAX_WEIGHT_MAGNITUDE,
    NETWORKS,
    WEIGHT_PROBABILITY_FLOOR,
    WEIGHT_SCALE_FLOOR,
    is_bias,
)
from .distortion import LATENT_MSE, Distortion

if TYPE_CHECKING:
    from .model import OverfittedLatentModel

#: Candidate exponents e (step 2^-e) for weights and for biases.
EXPONENTS: tuple[int, ...] = tuple(range(0, 17))


def laplace_scale_for(ints: torch.Tensor) -> float:
    """Scale b = max(mean |n|, 0.1) of a group of integers, rounded to float32 (as stored)."""
    mean_abs = float(ints.detach().abs().to(torch.float64).mean()) if ints.numel() else 0.0
    return float(np.float32(max(mean_abs, WEIGHT_SCALE_FLOOR)))


def weight_code_bits(ints: torch.Tensor, scale: float | None = None) -> float:
    """Ideal code length (bits) of integers under the zero-mean discretized Laplace of scale b.

    P(n) = F(n + ½) − F(n − ½) with F the Laplace CDF, floored at 2^-24; ``scale`` defaults to
    ``laplace_scale_for(ints)``. Computed in float64 with the closed forms
    P(0) = 1 − e^{−1/(2b)} and P(n≠0) = ½·e^{−(|n|−½)/b}·(1 − e^{−1/b}).
    """
    if ints.numel() == 0:
        return 0.0
    b = laplace_scale_for(ints) if scale is None else float(scale)
    n = ints.detach().abs().to(torch.float64).flatten()
    log_p_zero = math.log(-math.expm1(-0.5 / b))
    log_p = math.log(0.5) - (n - 0.5) / b + math.log(-math.expm1(-1.0 / b))
    log_p = torch.where(n == 0, torch.full_like(n, log_p_zero), log_p)
    log_p = log_p.clamp_min(math.log(WEIGHT_PROBABILITY_FLOOR))
    return float(-log_p.sum() / math.log(2.0))


def quantize_tensor(values: torch.Tensor, exponent: int) -> torch.Tensor:
    """The integers round(v·2^e) (int64), clamped to ±MAX_WEIGHT_MAGNITUDE (the format's)."""
    scaled = torch.round(values.detach().to(torch.float64) * 2.0**exponent)
    return scaled.clamp(-MAX_WEIGHT_MAGNITUDE, MAX_WEIGHT_MAGNITUDE).to(torch.int64)


def quantized_integers(
    model: OverfittedLatentModel, weight_exponents: dict[str, tuple[int, int]]
) -> dict[str, dict[str, torch.Tensor]]:
    """Per network, the int64 tensors n = round(p·2^e) of each parameter, in state_dict order."""
    result: dict[str, dict[str, torch.Tensor]] = {}
    for net_name, network in model.networks().items():
        weight_exponent, bias_exponent = weight_exponents[net_name]
        result[net_name] = {
            name: quantize_tensor(value, bias_exponent if is_bias(name) else weight_exponent)
            for name, value in network.state_dict().items()
        }
    return result


def group_integers(integers: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """One network's integers concatenated into (all weights, all biases), state_dict order."""
    weights = [n.flatten() for name, n in integers.items() if not is_bias(name)]
    biases = [n.flatten() for name, n in integers.items() if is_bias(name)]
    empty = torch.zeros(0, dtype=torch.int64)
    return (torch.cat(weights) if weights else empty, torch.cat(biases) if biases else empty)


def network_weight_bits(integers: dict[str, torch.Tensor]) -> float:
    """Bits of one network: its weight group and its bias group, each with its own scale."""
    weights, biases = group_integers(integers)
    return weight_code_bits(weights) + weight_code_bits(biases)


def total_weight_bits(
    model: OverfittedLatentModel, weight_exponents: dict[str, tuple[int, int]]
) -> float:
    """Bits of all three networks at the given exponents."""
    integers = quantized_integers(model, weight_exponents)
    return sum(network_weight_bits(integers[name]) for name in NETWORKS)


def _exceeds_limit(values: torch.Tensor, exponent: int) -> bool:
    """Whether some round(v·2^e) lies beyond ±MAX_WEIGHT_MAGNITUDE (or is not finite)."""
    if values.numel() == 0:
        return False
    scaled = torch.round(values.detach().to(torch.float64) * 2.0**exponent)
    too_large = float(scaled.abs().max()) > MAX_WEIGHT_MAGNITUDE
    return not bool(torch.isfinite(scaled).all()) or too_large


@torch.no_grad()
def _write(network: torch.nn.Module, values: dict[str, torch.Tensor]) -> None:
    """Copy ``values`` (name → tensor) into the parameters of ``network``."""
    params = dict(network.named_parameters())
    for name, value in values.items():
        params[name].copy_(value.to(params[name].dtype))


class _PartialLoss:
    """The true loss with hard grids, recomputing only the part a network's change affects."""

    def __init__(self, model: OverfittedLatentModel, latent: torch.Tensor, lmbda: float,
                 n_pixels: int, distortion: Distortion = LATENT_MSE) -> None:
        self.model, self.latent, self.lmbda, self.n_pixels = model, latent, lmbda, n_pixels
        self.distortion = distortion
        self.grids = model.quantized_grids("hard")
        self.upsampled = model.upsampling(self.grids)
        self.latent_bits = float(model.rate(self.grids))
        self.mse = float(distortion(model.synthesis(self.upsampled), latent))

    def __call__(self, net_name: str, values: dict[str, torch.Tensor], bits: float) -> float:
        """Write ``values`` into network ``net_name``; loss counting only ``bits`` of weights."""
        _write(self.model.networks()[net_name], values)
        if net_name == "arm":  # the ARM changes the rate only
            self.latent_bits = float(self.model.rate(self.grids))
        else:  # upsampling and synthesis change ŷ only
            if net_name == "upsampling":
                self.upsampled = self.model.upsampling(self.grids)
            self.mse = float(self.distortion(self.model.synthesis(self.upsampled), self.latent))
        return self.mse + self.lmbda * (self.latent_bits + bits) / self.n_pixels


@torch.no_grad()
def quantize_network_weights(
    model: OverfittedLatentModel,
    latent: torch.Tensor,
    lmbda: float,
    n_pixels: int,
    exponents: tuple[int, ...] = EXPONENTS,
    distortion: Distortion = LATENT_MSE,
) -> dict[str, tuple[int, int]]:
    """Pick each network's (weight, bias) exponents by rate-distortion and write them in place.

    Networks are done in order ``arm``, ``upsampling``, ``synthesis``; for each, the weight
    exponent is chosen first (biases still in float), then the bias exponent. The grids are
    hard-rounded and fixed, so the ARM only changes the latent rate and the other two only
    the MSE: each candidate costs one partial forward pass. The bits of the other networks and
    groups are constant during a search and left out of the compared losses. A network without
    biases gets bias exponent 0 (never used). Afterwards every parameter equals n·2^-e exactly.
    """
    loss_of = _PartialLoss(model, latent, lmbda, n_pixels, distortion)
    chosen: dict[str, tuple[int, int]] = {}
    for net_name in NETWORKS:
        original = {n: p.detach().clone() for n, p in model.networks()[net_name].named_parameters()}
        current = dict(original)
        picked = []
        for bias_group in (False, True):
            names = [name for name in original if is_bias(name) == bias_group]
            if not names:
                picked.append(0)
                continue
            best_loss, best_exponent, best_values = math.inf, exponents[0], current
            for e in exponents:
                if any(_exceeds_limit(original[name], e) for name in names):
                    continue  # the file could not hold these integers: never clamp silently
                ints = {name: quantize_tensor(original[name], e) for name in names}
                candidate = dict(current)
                candidate.update({name: ints[name].to(torch.float64) * 2.0**-e for name in names})
                bits = weight_code_bits(torch.cat([ints[name].flatten() for name in names]))
                loss = loss_of(net_name, candidate, bits)
                if loss < best_loss:
                    best_loss, best_exponent, best_values = loss, e, candidate
            picked.append(best_exponent)
            current = best_values
        loss_of(net_name, current, 0.0)  # leave the chosen values in place
        chosen[net_name] = (picked[0], picked[1])
    return chosen
