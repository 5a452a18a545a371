r"""The distortion term of the fit's loss ``D(y, ŷ) + λ·bits/(H·W)``: one object, one place.

``LatentMSE`` is the paper's: the mean squared error over the latent's ``C × h × w`` values,

.. math::  D(y, \hat y) = \frac{1}{C h w} \sum_{c,i,j} w_c \, (y_{cij} - \hat y_{cij})^2,

with every weight :math:`w_c = 1` by default. A VAE's decoder is not equally sensitive to
every latent channel: for TAEF2's 32 channels, the pixel error that unit noise in one channel
causes ranges over 25× from the least to the most sensitive channel (``vae/sensitivity.py``
measures it on the training photos). Weights :math:`w_c` proportional to that sensitivity,
normalised to mean 1 (so λ keeps its scale), make the fit spend its bits where the decoder
looks; the file format does not change, only what the encoder aims at.

``DecodedDistortion`` looks through the frozen VAE decoder :math:`g` (the *tunes* ``pixel``
and ``perceptual``; Cool-chic 4.2's ``--tune`` aims at pixels the same way, Ballé et al.,
arXiv 2412.00505). It keeps the latent MSE as an anchor and adds what the decoder makes of one
tile :math:`T` of the latent,

.. math::  D(y, \hat y) = \frac{1}{C h w}\lVert y - \hat y \rVert^2
           + \beta_{\mathrm{pix}}\, \mathrm{MSE}\big(g(\hat y_T), g(y_T)\big)
           + \beta_{\mathrm{lp}}\, \mathrm{LPIPS}\big(g(\hat y_T), g(y_T)\big),

against the image itself where the caller gives it (``api.compress`` does: the fit may then
find latents whose picture is closer to the image than the VAE encoder's, whose latent was
never optimised for this image), else against the decoder's picture of the true latent
:math:`g(y_T)`. Each tile is decoded with a margin of neighbours around it, left out of the
terms, so that it looks as it does in the whole picture. During training each step draws
a tile with probability ``1/every`` and weighs its terms by ``every`` (an unbiased estimate of
the average over tiles at ``1/every`` of the decoder's cost); evaluations (the best-parameters
tracking, weight quantization, the result) use a fixed set of tiles, so the value they compare
is deterministic. The decoder's weights stay frozen; gradients flow to :math:`\hat y` only.

The training loop (``train.py``), weight quantization (``weight_quant.py``) and ``FitResult``
take a distortion; the default ``LATENT_MSE`` is exactly the loss the package always used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from ..errors import ParameterError
from .tunes import TUNE_WEIGHTS


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

    #: The value is the same at every call (a training step's equals an evaluation's).
    stochastic = False

    @property
    def name(self) -> str:
        """``latent`` or ``weighted-latent`` (what result rows and files' provenance say)."""
        return "latent" if self.channel_weights is None else "weighted-latent"

    def bind(self, latent: torch.Tensor) -> LatentMSE:
        """The distortion for fits to ``latent``: this one (it keeps nothing per latent)."""
        return self

    def __call__(self, y_hat: torch.Tensor, latent: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """D(y, ŷ) of two ``1 × C × h × w`` tensors (a 0-dim tensor, differentiable).

        ``generator`` (a training step's random source) is not used: the value is exact.
        """
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


@dataclass(eq=False)
class DecodedDistortion:
    """Latent MSE plus pixel and LPIPS terms on tiles decoded by the frozen VAE decoder."""

    #: Scaled latent (1×C×t×t) → pixels in about [-1, 1], differentiable, weights frozen.
    decoder: Callable[[torch.Tensor], torch.Tensor]
    name: str  # the tune: "pixel" or "perceptual"
    pixel_weight: float  # β_pix
    lpips_weight: float  # β_lp
    # Side of the tile the terms compare, in latent pixels (8 image pixels each): 64 image
    # pixels, enough for LPIPS-alex's deepest features (a 2×2 map and more).
    tile: int = 8
    # Latent pixels decoded around the tile and left out of the terms: a tile decoded alone
    # differs from the whole picture near its edges, where the decoder's padding replaces the
    # neighbours; these pixels give it its neighbours (not at the latent's own border, where
    # the whole picture is padded too).
    margin: int = 4
    # A training step decodes a tile with probability 1/every: one decoded window (forward and
    # backward through the decoder and LPIPS) costs several plain ``wide`` steps on one core, so
    # the tune's encode time is a few times the latent tune's (measured: docs/codec.md §10).
    every: int = 3
    evaluation_tiles: int = 4  # fixed tiles, spread over the latent, for every evaluation
    lpips_net: str = "alex"
    downsampling: int = 8  # image pixels per latent pixel along a side
    #: The image (1×3×H×W in [-1, 1]) the latent came from: the target of the decoded terms
    #: when given (``aimed_at``), else the decoder's picture of the true latent.
    image: torch.Tensor | None = field(default=None, repr=False)
    _latent: torch.Tensor | None = field(default=None, repr=False)
    _targets: dict = field(default_factory=dict, repr=False)

    stochastic = True

    def __post_init__(self) -> None:
        weights = (self.pixel_weight, self.lpips_weight)
        if any(not (math.isfinite(w) and w >= 0) for w in weights) or not any(weights):
            raise ParameterError(f"tune weights must be finite, ≥ 0 and not both 0, got {weights}")
        if self.tile < 1 or self.every < 1 or self.evaluation_tiles < 1 or self.margin < 0:
            raise ParameterError("tile, every and evaluation_tiles must be ≥ 1, margin ≥ 0")

    def aimed_at(self, image: torch.Tensor) -> DecodedDistortion:
        """A copy whose decoded terms compare with ``image`` (1×3×H×W in [-1, 1]), padded to
        whole latent pixels as the VAE's encoder pads it (edge replication)."""
        d = self.downsampling
        pad_h, pad_w = -image.shape[-2] % d, -image.shape[-1] % d
        padded = F.pad(image.detach().float(), (0, pad_w, 0, pad_h), mode="replicate")
        return replace(self, image=padded, _targets={})

    def bind(self, latent: torch.Tensor) -> DecodedDistortion:
        """A copy for fits to ``latent``, which keeps the decoded target of each tile."""
        return replace(self, _latent=latent, _targets={})

    def tiles(self, latent: torch.Tensor) -> list[tuple[int, int]]:
        """Top-left corners of the tiles covering ``latent`` (the last row and column flush)."""
        h, w = latent.shape[-2:]
        t_h, t_w = min(self.tile, h), min(self.tile, w)
        rows = sorted({*range(0, h - t_h + 1, t_h), h - t_h})
        cols = sorted({*range(0, w - t_w + 1, t_w), w - t_w})
        return [(i, j) for i in rows for j in cols]

    def _window(self, latent: torch.Tensor, corner: tuple[int, int]):
        """(latent slices of the decoded window, pixel slices of the tile inside its picture)."""
        spans = []
        for start, size in zip(corner, latent.shape[-2:], strict=True):
            low, high = max(start - self.margin, 0), min(start + self.tile + self.margin, size)
            tile_end = min(start + self.tile, size)
            d = self.downsampling
            spans.append((slice(low, high), slice(d * (start - low), d * (tile_end - low))))
        return (spans[0][0], spans[1][0]), (spans[0][1], spans[1][1])

    def _picture(self, x: torch.Tensor, corner: tuple[int, int]) -> torch.Tensor:
        """The decoder's picture of the tile at ``corner``, decoded with its margin."""
        (rows, cols), (tile_rows, tile_cols) = self._window(x, corner)
        return self.decoder(x[..., rows, cols])[..., tile_rows, tile_cols]

    def _target(self, latent: torch.Tensor, corner: tuple[int, int], keep: bool) -> torch.Tensor:
        """The image's tile, or g(y_T); with ``keep``, decoded once per tile of the bound latent
        (the evaluation tiles: a training step's tile is anywhere, keeping them would grow)."""
        if self.image is not None:
            (i, j), d, t = corner, self.downsampling, self.tile
            return self.image[..., d * i:d * (i + t), d * j:d * (j + t)].to(latent.device)
        if not keep or self._latent is None or latent is not self._latent:
            with torch.no_grad():
                return self._picture(latent, corner)
        if corner not in self._targets:
            with torch.no_grad():
                self._targets[corner] = self._picture(latent, corner)
        return self._targets[corner]

    def decoded_terms(self, y_hat: torch.Tensor, latent: torch.Tensor,
                      corner: tuple[int, int], keep: bool = True) -> torch.Tensor:
        """β_pix·MSE + β_lp·LPIPS between the decoder's pictures of tile ``corner``."""
        picture = self._picture(y_hat, corner)
        target = self._target(latent, corner, keep)
        value = self.pixel_weight * F.mse_loss(picture, target)
        if self.lpips_weight:
            from ..metrics.lpips_offline import load_lpips

            lpips = load_lpips(self.lpips_net, str(picture.device))
            value = value + self.lpips_weight * lpips(picture, target).mean()
        return value

    def __call__(self, y_hat: torch.Tensor, latent: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """D(y, ŷ): a training step's estimate with ``generator``, else the fixed tiles' value.

        A training step's tile starts anywhere in the latent (so no tile edge sits at the same
        place every time); its terms are weighed by ``every``.
        """
        value = F.mse_loss(y_hat, latent)
        if generator is not None:
            draw = torch.rand(3, generator=generator, device=generator.device).tolist()
            if draw[0] * self.every >= 1.0:
                return value
            h, w = latent.shape[-2:]
            corner = (min(int(draw[1] * max(h - self.tile + 1, 1)), max(h - self.tile, 0)),
                      min(int(draw[2] * max(w - self.tile + 1, 1)), max(w - self.tile, 0)))
            return value + self.every * self.decoded_terms(y_hat, latent, corner, keep=False)
        terms = [self.decoded_terms(y_hat, latent, c) for c in self.evaluation_corners(latent)]
        return value + torch.stack(terms).mean()

    def evaluation_corners(self, latent: torch.Tensor) -> list[tuple[int, int]]:
        """The fixed tiles of every evaluation: ``evaluation_tiles`` spread over the tile list."""
        corners = self.tiles(latent)
        count = min(self.evaluation_tiles, len(corners))
        return [corners[(k * len(corners)) // count] for k in range(count)]


#: What the fit's loss takes as D (``train.fit``, ``weight_quant``, ``FitResult``).
Distortion = LatentMSE | DecodedDistortion


def vae_decoder(vae) -> Callable[[torch.Tensor], torch.Tensor]:
    """The differentiable decoder of a ``FrozenVae`` on scaled latents (pixels not clamped)."""
    def decode(latent: torch.Tensor) -> torch.Tensor:
        z = latent.to(vae.device) / vae.scaling_factor + vae.shift_factor
        return vae.model.decode(z).sample.to(latent.device)

    return decode


def tuned_distortion(tune: str, vae, **options) -> DecodedDistortion:
    """The ``pixel`` or ``perceptual`` tune through ``vae``'s decoder (options: see the class)."""
    if tune not in TUNE_WEIGHTS:
        raise ParameterError(f"unknown tune {tune!r}; choose one of {', '.join(TUNE_WEIGHTS)}")
    pixel_weight, lpips_weight = TUNE_WEIGHTS[tune]
    return DecodedDistortion(vae_decoder(vae), tune, pixel_weight, lpips_weight,
                             downsampling=int(getattr(vae, "downsampling", 8)), **options)
