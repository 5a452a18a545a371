"""Start the fit from the latent itself: the finest grid holds y / Δ, the synthesis passes it on.

Grids that start at zero must grow, one Adam step at a time, to values of ±1/Δ before ŷ can
resolve the latent at step Δ; measured on ``house`` latents, 2 000–3 000 soft-rounding steps
leave the ``wide`` function 0.6–0.7 dB below the VAE whatever λ (docs/codec.md §3). When the
finest level has at least as many channels as the latent, the fit can instead start at

    ŷ₀ = Δ · round(y / Δ),   Δ = clip(√(6λ / (16 ln 2)), Δ_min, Δ_max),

the uniform quantizer whose step balances the two terms of the loss at high rate: per latent
element, D(Δ) = Δ²/12 and R(Δ) = (1/16)·(−log₂ Δ + const) bits per image pixel (4 elements
per 64 pixels, i.e. 1/16 per element), so d(D + λR)/dΔ = 0 gives Δ² = 6λ / (16 ln 2).
Training then moves information to the coarser levels and the ARM where that saves bits.

The synthesis is set to the identity on the first ``C`` (latent) channels, through its ReLUs:
the first 1×1 layer computes (+Δ·g, −Δ·g), the second adds them back (+Δg − (−Δg) after ReLU is
Δg) plus an offset B that keeps every value positive through later ReLUs, and the last layer's
bias removes B. Every other weight keeps its usual initialisation.
"""

from __future__ import annotations

import math

import torch

from .arch import ArchConfig
from .grids import LATENT_GAIN
from .model import OverfittedLatentModel

#: Smallest and largest starting step Δ (latent units): below 1/32 the integers need > 9 bits
#: of range on unit-variance latents; above 1 the start carries almost nothing.
STEP_RANGE = (1.0 / 32.0, 1.0)
#: The offset B carried through the ReLUs (latents of the supported VAEs stay within ±B).
RELU_OFFSET = 16.0


def starting_step(lmbda: float) -> float:
    """Δ = √(6λ / (16 ln 2)), clipped to STEP_RANGE."""
    step = math.sqrt(6.0 * lmbda / (16.0 * math.log(2.0)))
    return min(max(step, STEP_RANGE[0]), STEP_RANGE[1])


def supports_latent_start(arch: ArchConfig) -> bool:
    """Whether ``arch`` can start from the latent.

    Needs: a finest level with ≥ C channels; then a 1×1 linear ReLU layer of ≥ 2C channels, a
    1×1 linear layer of C channels without activation, and only residual layers after it, the
    last of them without activation (it removes the offset B).
    """
    c = arch.latent_channels
    layers = arch.synthesis
    return (
        arch.channels_of_level(0) >= c
        and len(layers) >= 2
        and (layers[0].kernel, layers[0].kind, layers[0].activation) == (1, "linear", "relu")
        and layers[0].out_channels >= 2 * c
        and (layers[1].kernel, layers[1].kind, layers[1].activation) == (1, "linear", "none")
        and layers[1].out_channels == c
        and all(layer.kind == "residual" for layer in layers[2:])
        and layers[-1].activation == "none"
    )


@torch.no_grad()
def start_from_latent(model: OverfittedLatentModel, latent: torch.Tensor, step: float) -> None:
    """Set the finest grid to round(y / Δ) and the synthesis to pass Δ·grid through to ŷ."""
    if not supports_latent_start(model.arch):
        raise ValueError(f"architecture {model.arch} cannot start from the latent")
    c = model.arch.latent_channels
    finest = model.grids.params[0]
    finest.zero_()
    finest[:, :c] = torch.round(latent / step) / LATENT_GAIN
    for other in model.grids.params[1:]:
        other.zero_()
    first, second, *rest = (module.conv for module in model.synthesis.layers)
    eye = step * torch.eye(c)
    first.weight[: 2 * c] = 0.0
    first.weight[:c, :c, 0, 0] = eye
    first.weight[c : 2 * c, :c, 0, 0] = -eye
    first.bias[: 2 * c] = 0.0
    second.weight.zero_()
    second.weight[:, :c, 0, 0] = torch.eye(c)  # ReLU(Δg) − ReLU(−Δg) = Δg
    second.weight[:, c : 2 * c, 0, 0] = -torch.eye(c)
    second.bias.fill_(RELU_OFFSET)
    for conv in rest:
        conv.weight.zero_()
        conv.bias.zero_()
    if rest:
        rest[-1].bias.fill_(-RELU_OFFSET)
    else:
        second.bias.zero_()
