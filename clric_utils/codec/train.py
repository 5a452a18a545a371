"""Overfit f_ψ to one latent: the encoder of the codec (CLRIC §3, Cool-chic training recipe).

Loss = D(y, ŷ) + λ · bits / (H·W): the distortion D (``distortion.py``; by default the MSE
averaged over the latent's elements, C × h × w, scaled latent of variance ≈ 1) and the bits
(latent grids, plus the networks once they are quantized) are divided by the number of pixels
of the *original image*, so that ``bits / (H·W)`` is the rate in bits per image pixel.

Phases: (1) soft-round + noise, Adam lr 1e-2 cosine-annealed, T 0.3→0.1, noise 0.25→0.1;
(2) straight-through rounding, lr 1e-4; (3) network weights quantized to power-of-two steps by
rate-distortion (``weight_quant``); (4) grids alone fine-tuned with the networks frozen.
The parameters with the lowest true (hard-rounded) loss seen are kept, phase by phase.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ..errors import ParameterError
from .arch import DEFAULT_PRESET, ArchConfig, get_preset
from .distortion import LATENT_MSE, Distortion
from .latent_start import start_from_latent, starting_step, supports_latent_start
from .model import OverfittedLatentModel
from .schedule import DEFAULT_EFFORT, HYPERPARAMETERS, Effort, Hyperparameters, get_effort
from .weight_quant import quantize_network_weights, total_weight_bits

if TYPE_CHECKING:
    from tqdm import tqdm


@dataclass
class FitResult:
    """An overfitted model and how it was obtained; rates are estimates (ideal code lengths)."""

    model: OverfittedLatentModel  # networks hold exact dyadic values n·2^-e, grids integers/16
    weight_exponents: dict[str, tuple[int, int]]  # network → (weight e, bias e), step 2^-e
    lmbda: float
    preset: str
    effort: str
    seed: int
    image_size: tuple[int, int]  # (H, W) of the original image: rates are per image pixel
    history: list[dict] = field(default_factory=list)  # iteration, phase, loss, bpp, mse
    estimated_latent_bits: float = 0.0
    estimated_weight_bits: float = 0.0
    latent_mse: float = 0.0  # plain MSE(y, ŷ), whatever the distortion
    seconds: float = 0.0
    distortion: str = "latent"  # the name of the distortion the fit minimised
    distortion_value: float | None = None  # D(y, ŷ) of that distortion (None: latent_mse)

    @property
    def n_pixels(self) -> int:
        """Pixels of the original image."""
        return self.image_size[0] * self.image_size[1]

    @property
    def estimated_bits(self) -> float:
        """Latent plus weight bits (no header)."""
        return self.estimated_latent_bits + self.estimated_weight_bits

    @property
    def estimated_bpp(self) -> float:
        """Estimated bits per image pixel, latents and weights (no header)."""
        return self.estimated_bits / self.n_pixels

    @property
    def loss(self) -> float:
        """The final true loss D + λ·bpp."""
        value = self.latent_mse if self.distortion_value is None else self.distortion_value
        return value + self.lmbda * self.estimated_bpp


def validate_lambda(lmbda: float) -> float:
    """λ as a float, or ParameterError unless it is a finite number > 0."""
    try:
        value = float(lmbda)
    except (TypeError, ValueError):
        raise ParameterError(f"λ (lmbda) must be a number, got {lmbda!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(
            f"λ (lmbda) must be finite and > 0, got {lmbda!r}; larger λ = fewer bits "
            "(typical 0.001 … 30, see clric_utils.codec.schedule.lambda_grid)"
        )
    return value


def validate_inputs(
    latent: torch.Tensor, image_size: tuple[int, int], arch: ArchConfig
) -> tuple[int, int]:
    """Check the latent and image size; return (H, W)."""
    if not isinstance(latent, torch.Tensor) or not latent.is_floating_point():
        raise ParameterError(f"latent must be a float tensor, got {type(latent).__name__}")
    if latent.ndim != 4 or latent.shape[0] != 1 or latent.shape[1] != arch.latent_channels:
        raise ParameterError(
            f"latent must be 1×{arch.latent_channels}×h×w, got {tuple(latent.shape)}"
        )
    if not torch.isfinite(latent).all():
        raise ParameterError("latent contains NaN or infinite values")
    try:
        height, width = (int(s) for s in image_size)
    except (TypeError, ValueError):
        raise ParameterError(f"image_size must be (H, W), got {image_size!r}") from None
    h, w = latent.shape[-2:]
    # The image is padded to a multiple of 8 before encoding: latent = ⌈H/8⌉ × ⌈W/8⌉.
    if height < 1 or width < 1 or (math.ceil(height / 8), math.ceil(width / 8)) != (h, w):
        raise ParameterError(
            f"image_size {height}×{width} does not match the {h}×{w} latent "
            f"(expected an image of {8 * h - 7}…{8 * h} × {8 * w - 7}…{8 * w} pixels)"
        )
    return height, width


class _Best:
    """The parameters with the lowest true loss seen so far."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.loss = math.inf
        self.state: dict[str, torch.Tensor] | None = None

    def offer(self, loss: float) -> None:
        """Remember the current parameters if ``loss`` beats the best."""
        if loss < self.loss:
            self.loss = loss
            self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def restore(self) -> None:
        """Put the best parameters back into the model."""
        if self.state is not None:
            self.model.load_state_dict(self.state)


class _Trainer:
    """Shared pieces of the training phases for one (model, latent, λ)."""

    def __init__(
        self,
        model: OverfittedLatentModel,
        latent: torch.Tensor,
        lmbda: float,
        n_pixels: int,
        generator: torch.Generator,
        hp: Hyperparameters,
        bar: tqdm,
        history: list[dict],
        distortion: Distortion = LATENT_MSE,
    ) -> None:
        self.model, self.latent, self.lmbda, self.n_pixels = model, latent, lmbda, n_pixels
        self.distortion = distortion
        self.generator, self.hp, self.bar, self.history = generator, hp, bar, history
        self.weight_bits = 0.0  # constant term once the networks are quantized
        self.synthesis_lr_scale = 1.0  # phase 1's synthesis learning rate, relative
        self.iteration = 0

    def terms(self, mode: str, temperature: float = 0.3, noise: float = 0.25):
        """(loss, D, bpp) of one forward pass; bpp includes the (constant) weight bits."""
        out = self.model(mode, temperature, noise, self.generator)
        # A training step's estimate draws from the generator (a decoded tune's tile); the
        # hard evaluation is exact and draws nothing.
        mse = self.distortion(out.y_hat, self.latent, None if mode == "hard" else self.generator)
        bpp = (out.bits + self.weight_bits) / self.n_pixels
        return mse + self.lmbda * bpp, mse, bpp

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float, float]:
        """True (hard-rounded) loss, MSE and bpp."""
        loss, mse, bpp = self.terms("hard")
        return float(loss), float(mse), float(bpp)

    def log(self, phase: str, loss: float, mse: float, bpp: float) -> None:
        """Append to the history and refresh the progress bar."""
        self.history.append(
            {"iteration": self.iteration, "phase": phase, "loss": loss, "bpp": bpp, "mse": mse}
        )
        self.bar.set_postfix_str(f"{phase} loss={loss:.4g} bpp={bpp:.4f} mse={mse:.4g}")

    def step(self, optimizer, loss: torch.Tensor, params: list[torch.nn.Parameter]) -> None:
        """One clipped Adam step."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, self.hp.grad_clip)
        optimizer.step()
        self.iteration += 1
        self.bar.update(1)

    def softround_phase(self, n: int, check_every: int) -> None:
        """Phase 1: soft-round + annealed noise, cosine-annealed lr; keep the best hard loss."""
        if n <= 0:
            return
        hp, params = self.hp, list(self.model.parameters())
        synthesis = list(self.model.synthesis.parameters())
        others = [p for p in params if all(p is not s for s in synthesis)]
        groups = [{"params": others},
                  {"params": synthesis, "lr": hp.learning_rate * self.synthesis_lr_scale}]
        optimizer = torch.optim.Adam(groups, lr=hp.learning_rate, fused=True)  # 4× faster on CPU
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n)
        best = _Best(self.model)
        for i in range(n):
            frac = i / max(n - 1, 1)
            temperature = hp.temperature[0] + (hp.temperature[1] - hp.temperature[0]) * frac
            noise = hp.noise[0] + (hp.noise[1] - hp.noise[0]) * frac
            loss, _, _ = self.terms(hp.softround_mode, temperature, noise)
            self.step(optimizer, loss, params)
            schedule.step()
            if (i + 1) % check_every == 0 or i == n - 1:
                hard = self.evaluate()
                best.offer(hard[0])
                self.log("softround", *hard)
        best.restore()

    def ste_phase(self, n: int, lr: float, networks: bool, phase: str, check_every: int) -> None:
        """Straight-through phase: the forward value is the true loss, so track the best free.

        The grids always train, at ``lr / ste_grid_lr_divisor``; the networks only if asked.
        """
        if n <= 0:
            return
        groups = [{"params": list(self.model.grids.parameters()),
                   "lr": lr / self.hp.ste_grid_lr_divisor}]
        if networks:
            nets = [p for net in self.model.networks().values() for p in net.parameters()]
            groups.append({"params": nets, "lr": lr})
        params = [p for group in groups for p in group["params"]]
        optimizer = torch.optim.Adam(groups, fused=True)
        best = _Best(self.model)
        # A stochastic distortion's step value is an estimate: compare evaluations instead.
        exact = not self.distortion.stochastic
        for i in range(n):
            loss, mse, bpp = self.terms("ste")
            if exact:
                best.offer(loss.item())  # loss of the parameters *before* this step
            elif i % check_every == 0:
                best.offer(self.evaluate()[0])
            self.step(optimizer, loss, params)
            if (i + 1) % check_every == 0 or i == n - 1:
                self.log(phase, loss.item(), mse.item(), bpp.item())
        best.offer(self.evaluate()[0])  # the parameters after the last step
        best.restore()


def fit(
    latent: torch.Tensor,
    image_size: tuple[int, int],
    lmbda: float,
    preset: str | ArchConfig = DEFAULT_PRESET,
    effort: str | Effort = DEFAULT_EFFORT,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    threads: int | None = 1,
    init: FitResult | None = None,
    hyperparameters: Hyperparameters = HYPERPARAMETERS,
    distortion: Distortion | None = None,
) -> FitResult:
    """Overfit a model to ``latent`` (1×C×h×w scaled VAE latent) at rate-distortion trade-off λ.

    Args:
        latent: the scaled latent y of an image of ``image_size`` (padded to 8 before encoding).
        image_size: (H, W) of the original image; rates are per pixel of it.
        lmbda: λ > 0 in ``MSE(latent) + λ · bits/(H·W)``; larger λ = fewer bits.
        preset: a name of ``arch.PRESETS`` (sized to the latent's channels) or an
            ``ArchConfig``.
        effort: ``fast`` / ``medium`` / ``slow`` (``schedule.EFFORTS``) or an ``Effort``.
        seed: fixes the initialisation and the quantization noise (same seed, same threads,
            same machine → bit-identical result).
        device: torch device to train on.
        progress: show a tqdm progress bar.
        threads: torch intra-op threads during the fit (restored afterwards); None = unchanged.
            1 is the fastest on latents of a few thousand values (see docs/codec.md).
        init: warm start from this result's parameters (same preset and latent size).
        hyperparameters: learning rates, annealing and clipping (default: the recipe's).
        distortion: the D of the loss (``distortion.py``); None: plain latent MSE.

    Returns:
        A FitResult whose model has quantized networks and the best grids found.
    """
    from ..progress import progress_bar

    lmbda = validate_lambda(lmbda)
    distortion = LATENT_MSE if distortion is None else distortion
    channels = latent.shape[1] if isinstance(latent, torch.Tensor) and latent.ndim == 4 else 4
    arch = get_preset(preset, channels) if isinstance(preset, str) else preset
    preset_name = preset if isinstance(preset, str) else "custom"
    plan = get_effort(effort)
    height, width = validate_inputs(latent, image_size, arch)
    n_pixels = height * width
    start = time.perf_counter()
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        latent = latent.detach().to(device=device, dtype=torch.float32)
        distortion = distortion.bind(latent)
        model, started = initial_model(latent, arch, lmbda, seed, hyperparameters, device, init)
        generator = torch.Generator(device=device).manual_seed(seed)
        history: list[dict] = []
        bar = progress_bar(total=plan.total_iterations, desc=f"fit λ={lmbda:g}",
                           disable=not progress, leave=False, dynamic_ncols=True)
        trainer = _Trainer(model, latent, lmbda, n_pixels, generator, hyperparameters, bar,
                           history, distortion)
        hp = hyperparameters
        if started:
            trainer.synthesis_lr_scale = hp.latent_start_synthesis_lr_scale
        try:
            trainer.softround_phase(plan.softround_iterations, plan.check_every)
            trainer.ste_phase(plan.ste_iterations, hp.ste_learning_rate, True, "ste",
                              plan.check_every)
            exponents = quantize_network_weights(model, latent, lmbda, n_pixels,
                                                 distortion=distortion)
            trainer.weight_bits = total_weight_bits(model, exponents)
            trainer.log("weight_quant", *trainer.evaluate())
            for network in model.networks().values():
                network.requires_grad_(False)
            trainer.ste_phase(plan.finetune_iterations, hp.finetune_learning_rate, False,
                              "finetune", plan.check_every)
        finally:
            bar.close()
        common = {"preset": preset_name, "effort": plan.name, "seed": seed,
                  "image_size": (height, width)}
        return finished_result(model, exponents, trainer.weight_bits, lmbda, latent, distortion,
                               history, start, **common)
    finally:
        torch.set_num_threads(previous_threads)


def initial_model(latent: torch.Tensor, arch: ArchConfig, lmbda: float, seed: int,
                  hyperparameters: Hyperparameters, device: str | torch.device,
                  init: FitResult | None = None) -> tuple[OverfittedLatentModel, bool]:
    """The model a fit starts from, and whether it started from the latent.

    Initialised from ``seed`` (without touching the caller's RNG), or copied from ``init``;
    for λ ≤ ``latent_start_max_lambda`` (and a preset that allows it) the grids start from the
    latent itself (``latent_start.py``).
    """
    with torch.random.fork_rng(devices=[]):  # the seed never disturbs the caller's RNG
        torch.manual_seed(seed)
        model = OverfittedLatentModel(latent.shape[2], latent.shape[3], arch).to(device)
    if init is not None:
        if init.model.arch != arch or init.model.latent_size != model.latent_size:
            raise ParameterError("init must come from a fit with the same preset and latent")
        model.load_state_dict(init.model.state_dict())
    started = (init is None and hyperparameters.latent_start and supports_latent_start(arch)
               and lmbda <= hyperparameters.latent_start_max_lambda)
    if started:
        start_from_latent(model, latent, starting_step(lmbda))
    return model, bool(started)


def finished_result(model: OverfittedLatentModel, exponents: dict, weight_bits: float,
                    lmbda: float, latent: torch.Tensor,
                    distortion: Distortion,
                    history: list[dict], start: float, **common) -> FitResult:
    """Round the trained grids to the integers they are coded as and measure the model.

    ``start``: ``time.perf_counter()`` when the fit began; ``common``: preset, effort, seed and
    image size of the FitResult.
    """
    with torch.no_grad():
        # Store the grids as the integers they are coded as (exact: LATENT_GAIN = 2^4).
        model.grids.set_values([torch.round(v) for v in model.grids.values()])
        out = model("hard")
        latent_bits = float(out.bits)
        mse = float(F.mse_loss(out.y_hat, latent))
        distortion_value = float(distortion(out.y_hat, latent))
    model.requires_grad_(True)
    return FitResult(
        model=model, weight_exponents=exponents, lmbda=lmbda, history=history,
        estimated_latent_bits=latent_bits, estimated_weight_bits=weight_bits,
        latent_mse=mse, seconds=time.perf_counter() - start, distortion=distortion.name,
        distortion_value=distortion_value, **common,
    )
