r"""The distortion term of the fit's loss ``D(y, ŷ) + λ·bits/(H·W)``: one object, one place.

``LatentMSE`` is the paper's: the mean squared error over the latent's ``C × h × w`` values,

.. math::  D(y, \hat y) = \frac{1}{C h w} \sum_{c,i,j} w_c \, (y_{cij} - \hat y_{cij})^2,

with every weight :math:`w_c = 1` by default. A VAE's decoder is not equally sensitive to
every latent channel: for TAEF2's 32 channels, the pixel error that unit noise in one channel
causes ranges over 25× from the least to the most sensitive channel (``vae/sensitivity.py``
measures it on the training photos). Weights :math:`w_c` proportional to that sensitivity,
normalised to mean 1 (so λ keeps its scale), make the fit spend its bits where the decoder
looks; the file format does not change, only what the encoder aims at.

The training loop (``train.py``), weight quantization (``weight_quant.py``) and ``FitResult``
take a distortion; the default ``LATENT_MSE`` is exactly the loss the package always used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ParameterError


@dataclass(frozen=True)
class LatentMSE:
    """Latent MSE, optionally weighted per channel (weights of mean 1)."""

    #: One weight per latent channel, or None for the plain MSE.
    channel_weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        weights = self.channel_weights
        if weights is None:
            return
        weights = tuple(float(w) for w in weights)
        if not weights or any(not (w > 0 and w < float("inf")) for w in weights):
            raise ParameterError(f"channel weights must be finite and > 0, got {weights}")
        mean = sum(weights) / len(weights)
        object.__setattr__(self, "channel_weights", tuple(w / mean for w in weights))

    @property
    def name(self) -> str:
        """``latent`` or ``weighted-latent`` (what result rows and files' provenance say)."""
        return "latent" if self.channel_weights is None else "weighted-latent"

    def __call__(self, y_hat: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """D(y, ŷ) of two ``1 × C × h × w`` tensors (a 0-dim tensor, differentiable)."""
        if self.channel_weights is None:
            return F.mse_loss(y_hat, latent)
        if len(self.channel_weights) != latent.shape[1]:
            raise ParameterError(f"{len(self.channel_weights)} channel weights for a "
                                 f"{latent.shape[1]}-channel latent")
        weights = torch.tensor(self.channel_weights, dtype=latent.dtype, device=latent.device)
        return torch.mean((y_hat - latent) ** 2 * weights.view(1, -1, 1, 1))


#: The paper's distortion: plain latent MSE.
LATENT_MSE = LatentMSE()


def weighted_latent_mse(weights: Sequence[float]) -> LatentMSE:
    """Latent MSE with per-channel weights (normalised to mean 1)."""
    return LatentMSE(tuple(weights))
