r"""Fit every λ of a grid to one latent in one job: B models, each op run once for all of them.

``train.fit`` overfits one model per λ; its per-step cost on a 64×96 latent is dominated by
per-op overhead (docs/codec.md §8). Here the B models of a grid λ_1 … λ_B share the latent but
keep their own parameters ψ_b, stacked along a leading axis, and one forward pass computes all
of them with ``torch.func.vmap`` over ``torch.func.functional_call`` (a conv of B models is
one grouped conv). The ARM runs outside the vmap, model by model on the contexts of all B
models gathered at once (plain ``index_select``: ``arm._GatherContexts``, a custom autograd
Function, has no vmap rule; and B separate ``addmm`` of N × C by C × C are faster on CPU than
the batched matmul plus bias add that vmap makes of a linear layer). The loss is

.. math::  \mathcal{L}(\psi_1, …, \psi_B) = \sum_b D(y, \hat y_b) + \lambda_b \, R_b / (H W),

and since the ψ_b are disjoint, :math:`\partial \mathcal{L} / \partial \psi_b` is exactly the
gradient of model b's own loss :math:`D(y, \hat y_b) + \lambda_b R_b / (HW)`. The rest of
``fit``'s recipe is per model:

* gradient clipping: :math:`g_b \leftarrow g_b \cdot \min(1, c / (\lVert g_b \rVert_2 +
  10^{-6}))` with :math:`\lVert g_b \rVert_2` over all of model b's parameters
  (``clip_grad_norm_`` per model, ``clip_per_model``);
* Adam (elementwise, so one update of the stacked tensors is B Adams) with a learning rate per
  model and parameter group: after a latent start (λ_b ≤ 0.1) phase 1 trains model b's
  synthesis at 0.1× the rate (``StackedAdam``);
* the best true-loss parameters (``_StackedBest``), the weight quantization (model by model,
  ``weight_quant``) and the final rounding.

Same models, seeds, schedules and phases as ``fit`` with the same ``seed`` for every λ: every
model starts from the same initialisation (then its own latent start) and sees the same
quantization noise, drawn once per step from the one seeded generator, as each ``fit`` draws it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap

from ..errors import ParameterError
from .arch import DEFAULT_PRESET, ArchConfig, get_preset
from .arm import context_index
from .distortion import LATENT_MSE, Distortion, LatentMSE
from .grids import LATENT_GAIN
from .laplace import rate_bits
from .model import OverfittedLatentModel
from .quantizer import soft_round
from .schedule import DEFAULT_EFFORT, HYPERPARAMETERS, Effort, Hyperparameters, get_effort
from .train import FitResult, finished_result, initial_model, validate_inputs, validate_lambda
from .weight_quant import quantize_network_weights, total_weight_bits

if TYPE_CHECKING:
    from tqdm import tqdm

#: Adam's defaults, as ``torch.optim.Adam`` (and so ``fit``) uses them.
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
#: ``clip_grad_norm_`` adds this to the norm before dividing (its own constant).
CLIP_EPS = 1e-6


def clip_per_model(grads: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale each model's slice of the stacked ``grads`` (B × …) in place to norm ≤ max_norm.

    The norm of model b is the L2 norm of all its gradients together, computed as
    ``clip_grad_norm_`` does (the norm of the per-tensor norms). Returns the B norms.
    """
    batch = grads[0].shape[0]
    per_tensor = torch.stack([torch.linalg.vector_norm(g.reshape(batch, -1), dim=1)
                              for g in grads], dim=1)
    norms = torch.linalg.vector_norm(per_tensor, dim=1)
    scale = (max_norm / (norms + CLIP_EPS)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *([1] * (g.ndim - 1))))
    return norms


class StackedAdam:
    """Adam on stacked tensors (B × …) with one learning rate per model and tensor.

    ``lrs[i]`` is a B-vector: the learning rate of each model for ``params[i]``. Same update
    as ``torch.optim.Adam`` (no weight decay): m ← β1 m + (1−β1) g, v ← β2 v + (1−β2) g²,
    p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε). ``scale_lr`` multiplies every
    learning rate (the cosine schedule of phase 1).
    """

    def __init__(self, params: list[torch.Tensor], lrs: list[torch.Tensor]) -> None:
        self.params, self.lrs = params, lrs
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    @torch.no_grad()
    def step(self, scale_lr: float = 1.0) -> None:
        """One update from the parameters' ``.grad``."""
        self.t += 1
        beta1, beta2 = ADAM_BETAS
        correction1 = 1.0 - beta1**self.t
        root_correction2 = math.sqrt(1.0 - beta2**self.t)
        for p, lr, m, v in zip(self.params, self.lrs, self.m, self.v, strict=True):
            g = p.grad
            m.lerp_(g, 1.0 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
            denom = (v.sqrt() / root_correction2).add_(ADAM_EPS)
            step = (lr * (scale_lr / correction1)).view(-1, *([1] * (p.ndim - 1)))
            p.addcdiv_(m * step, denom, value=-1.0)


class _StackedBest:
    """Per model, the stacked parameters with the lowest true loss seen so far."""

    def __init__(self, params: dict[str, torch.Tensor]) -> None:
        self.params = params
        batch = next(iter(params.values())).shape[0]
        self.loss = torch.full((batch,), math.inf, dtype=torch.float64)
        self.state = {k: v.detach().clone() for k, v in params.items()}

    @torch.no_grad()
    def offer(self, losses: torch.Tensor) -> None:
        """Remember model b's parameters where ``losses[b]`` beats its best (strictly)."""
        better = losses.detach().to(torch.float64).cpu() < self.loss
        self.loss = torch.where(better, losses.detach().to(torch.float64).cpu(), self.loss)
        mask = better.to(next(iter(self.params.values())).device)
        for name, value in self.params.items():
            self.state[name][mask] = value.detach()[mask]

    @torch.no_grad()
    def restore(self) -> None:
        """Put each model's best parameters back (those never offered one stay as they are)."""
        for name, value in self.params.items():
            value.copy_(self.state[name])


@dataclass
class _Batch:
    """What the vmapped forward needs besides the parameters: the model's pieces and indices."""

    template: OverfittedLatentModel  # modules whose forward runs with the stacked parameters
    latent: torch.Tensor
    rows: torch.Tensor  # context_index flattened: row-major gather of the ARM's contexts
    n_context: int
    n_grids: int
    distortion: LatentMSE


def _quantize(x: torch.Tensor, mode: str, temperature: float, noise: float,
              u: torch.Tensor | None) -> torch.Tensor:
    """``quantizer.quantize`` with its uniform draw ``u`` given (drawn outside the vmap)."""
    if mode == "hard":
        return torch.round(x)
    if mode == "ste":
        return x + (torch.round(x) - x).detach()
    # noise·(2u − 1) after s_T: the same roundings as quantizer.quantize's "softround".
    noisy = soft_round(x, temperature) + (u * 2.0 - 1.0) * noise
    return soft_round(noisy, temperature) if mode == "softround-twice" else noisy


def _one_model(params: dict[str, torch.Tensor], us: list[torch.Tensor] | None, batch: _Batch,
               mode: str, temperature: float, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """D(y, ŷ) and the quantized grid values (flat) of one model's parameters.

    ``OverfittedLatentModel.forward`` up to the rate, which ``_rates`` computes outside the
    vmap: the ARM's linear layers are faster as B separate matmuls than as a batched one.
    """
    template = batch.template
    grids = []
    for i in range(batch.n_grids):
        u = None if us is None else us[i]
        grids.append(_quantize(LATENT_GAIN * params[f"grids.params.{i}"], mode, temperature,
                               noise, u))

    def sub(prefix: str) -> dict[str, torch.Tensor]:
        """The parameters of one network, named as inside it."""
        return {k[len(prefix) + 1:]: v for k, v in params.items() if k.startswith(prefix + ".")}

    upsampled = functional_call(template.upsampling, sub("upsampling"), (grids,))
    y_hat = functional_call(template.synthesis, sub("synthesis"), (upsampled,))
    values = torch.cat([grid.reshape(-1) for grid in grids])
    return batch.distortion(y_hat, batch.latent), values


def _rates(params: dict[str, torch.Tensor], values: torch.Tensor, batch: _Batch) -> torch.Tensor:
    """Bits of each model's grids (B × N ``values``) under its ARM: ``model.rate`` × B."""
    # The ARM's contexts as model.rate gathers them: [values, 0] at the cached index.
    padded = torch.cat([values, values.new_zeros(values.shape[0], 1)], dim=1)
    contexts = padded.index_select(1, batch.rows).view(values.shape[0], -1, batch.n_context)
    # unbind, not [b]: its backward stacks the B gradients in one op, where B selects would
    # each fill a zero tensor of the whole stack.
    hidden = [(params[f"arm.hidden.{i}.weight"].unbind(), params[f"arm.hidden.{i}.bias"].unbind())
              for i in range(len(batch.template.arm.hidden))]
    out = (params["arm.out.weight"].unbind(), params["arm.out.bias"].unbind())
    mus, log_scales = [], []
    for b, h in enumerate(contexts.unbind()):
        for weights, biases in hidden:
            h = h + F.relu(F.linear(h, weights[b], biases[b]))
        mu, log_scale = F.linear(h, out[0][b], out[1][b]).unbind(dim=-1)
        mus.append(mu)
        log_scales.append(log_scale)
    return rate_bits(values, torch.stack(mus), torch.stack(log_scales)).sum(dim=1)


class _GridTrainer:
    """``train._Trainer`` for B stacked models: the same phases, every op once for the grid."""

    def __init__(self, models: list[OverfittedLatentModel], latent: torch.Tensor,
                 lambdas: list[float], n_pixels: int, generator: torch.Generator,
                 hp: Hyperparameters, bar: tqdm, distortion: LatentMSE) -> None:
        template = models[0]
        shapes = tuple((g.shape[1], g.shape[2], g.shape[3]) for g in template.grids.params)
        offsets = tuple(tuple(o) for o in template.arm.offsets)
        self.batch = _Batch(template, latent, context_index(shapes, offsets).reshape(-1)
                            .to(latent.device), len(offsets), len(shapes), distortion)
        self.models, self.n_pixels, self.generator, self.hp, self.bar = (
            models, n_pixels, generator, hp, bar)
        self.lambdas = torch.tensor(lambdas, dtype=torch.float32, device=latent.device)
        self.weight_bits = torch.zeros_like(self.lambdas)  # per model, once quantized
        self.synthesis_lr_scale = torch.ones_like(self.lambdas)
        self.histories: list[list[dict]] = [[] for _ in models]
        self.iteration = 0
        self.params: dict[str, torch.Tensor] = {}
        self.stack()

    def stack(self) -> None:
        """(Re)build the stacked parameters from the B models (after they were changed)."""
        self.params = {name: torch.stack([m.state_dict()[name] for m in self.models]).detach()
                       for name, _ in self.models[0].named_parameters()}

    @torch.no_grad()
    def unstack(self) -> None:
        """Copy the stacked parameters back into the B models."""
        for b, model in enumerate(self.models):
            model.load_state_dict({k: v[b] for k, v in self.params.items()}, strict=False)

    def terms(self, mode: str, temperature: float = 0.3, noise: float = 0.25):
        """Per model (B-vectors): loss, D and bpp of one forward pass of the whole grid."""
        us = None
        if mode not in ("hard", "ste"):
            # One draw per grid, as quantize draws it in fit: shared by the B models.
            grids = [self.params[f"grids.params.{i}"] for i in range(self.batch.n_grids)]
            us = [torch.rand(p.shape[1:], generator=self.generator, device=p.device)
                  for p in grids]
        batched = vmap(_one_model, in_dims=(0, None, None, None, None, None))
        distortion, values = batched(self.params, us, self.batch, mode, temperature, noise)
        bits = _rates(self.params, values, self.batch)
        bpp = (bits + self.weight_bits) / self.n_pixels
        return distortion + self.lambdas * bpp, distortion, bpp

    @torch.no_grad()
    def evaluate(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per model: true (hard-rounded) loss, D and bpp."""
        return self.terms("hard")

    def log(self, phase: str, loss: torch.Tensor, mse: torch.Tensor, bpp: torch.Tensor) -> None:
        """Append each model's values to its history; refresh the progress bar."""
        for b, history in enumerate(self.histories):
            history.append({"iteration": self.iteration, "phase": phase, "loss": float(loss[b]),
                            "bpp": float(bpp[b]), "mse": float(mse[b])})
        self.bar.set_postfix_str(f"{phase} loss={float(loss.mean()):.4g} (mean of the grid)")

    def step(self, optimizer: StackedAdam, loss: torch.Tensor, names: list[str],
             scale_lr: float = 1.0) -> None:
        """One clipped Adam step of every model: Σ_b loss_b, per-model clipping, Adam."""
        params = [self.params[name] for name in names]
        for p in params:
            p.grad = None
        loss.sum().backward()
        clip_per_model([p.grad for p in params], self.hp.grad_clip)
        optimizer.step(scale_lr)
        self.iteration += 1
        self.bar.update(1)

    def _track(self, names: list[str]) -> None:
        """Make exactly ``names`` require gradients."""
        for name, value in self.params.items():
            value.requires_grad_(name in names)

    def softround_phase(self, n: int, check_every: int) -> None:
        """Phase 1 of ``fit``: soft-round + annealed noise, cosine lr, best hard loss kept."""
        if n <= 0:
            return
        hp, names = self.hp, list(self.params)
        ones = torch.ones_like(self.lambdas)
        lrs = [hp.learning_rate * (self.synthesis_lr_scale if name.startswith("synthesis.")
                                   else ones) for name in names]
        self._track(names)
        optimizer = StackedAdam([self.params[name] for name in names], lrs)
        best = _StackedBest(self.params)
        for i in range(n):
            frac = i / max(n - 1, 1)
            temperature = hp.temperature[0] + (hp.temperature[1] - hp.temperature[0]) * frac
            noise = hp.noise[0] + (hp.noise[1] - hp.noise[0]) * frac
            loss, _, _ = self.terms(hp.softround_mode, temperature, noise)
            # CosineAnnealingLR(T_max=n) in closed form: lr_i = lr_0 · (1 + cos(π i / n)) / 2.
            self.step(optimizer, loss, names, 0.5 * (1.0 + math.cos(math.pi * i / n)))
            if (i + 1) % check_every == 0 or i == n - 1:
                hard = self.evaluate()
                best.offer(hard[0])
                self.log("softround", *hard)
        best.restore()

    def ste_phase(self, n: int, lr: float, networks: bool, phase: str, check_every: int) -> None:
        """Straight-through phase of ``fit``; grids at ``lr / ste_grid_lr_divisor``."""
        if n <= 0:
            return
        names = [k for k in self.params if k.startswith("grids.") or networks]
        ones = torch.ones_like(self.lambdas)
        lrs = [ones * (lr / self.hp.ste_grid_lr_divisor if name.startswith("grids.") else lr)
               for name in names]
        self._track(names)
        optimizer = StackedAdam([self.params[name] for name in names], lrs)
        best = _StackedBest(self.params)
        for i in range(n):
            loss, mse, bpp = self.terms("ste")
            best.offer(loss)  # the loss of the parameters *before* this step
            self.step(optimizer, loss, names)
            if (i + 1) % check_every == 0 or i == n - 1:
                self.log(phase, loss.detach(), mse.detach(), bpp.detach())
        best.offer(self.evaluate()[0])  # the parameters after the last step
        best.restore()


def fit_lambda_grid(
    latent: torch.Tensor,
    image_size: tuple[int, int],
    lambdas: list[float] | tuple[float, ...],
    preset: str | ArchConfig = DEFAULT_PRESET,
    effort: str | Effort = DEFAULT_EFFORT,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    distortion: Distortion | None = None,
    threads: int | None = 1,
    hyperparameters: Hyperparameters = HYPERPARAMETERS,
) -> list[FitResult]:
    """``train.fit`` at every λ of ``lambdas``, as one batched job (see the module docstring).

    Arguments as ``fit``'s; ``seed`` is every λ's seed. Returns one FitResult per λ, in the
    order of ``lambdas``; each ``seconds`` is the wall time of the whole grid job.
    """
    from ..progress import progress_bar

    lambdas = [validate_lambda(lmbda) for lmbda in lambdas]
    distortion = LATENT_MSE if distortion is None else distortion
    if distortion.stochastic:
        raise ParameterError(f"the {distortion.name} tune decodes tiles of one model's ŷ at a "
                             "time and cannot be batched over λ; fit each λ with train.fit")
    channels = latent.shape[1] if isinstance(latent, torch.Tensor) and latent.ndim == 4 else 4
    arch = get_preset(preset, channels) if isinstance(preset, str) else preset
    plan, hp = get_effort(effort), hyperparameters
    height, width = validate_inputs(latent, image_size, arch)
    start = time.perf_counter()
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        latent = latent.detach().to(device=device, dtype=torch.float32)
        models, started = zip(*(initial_model(latent, arch, lmbda, seed, hp, device)
                                for lmbda in lambdas), strict=True)
        generator = torch.Generator(device=device).manual_seed(seed)
        bar = progress_bar(total=plan.total_iterations, desc=f"fit {len(lambdas)} λ",
                           disable=not progress, leave=False, dynamic_ncols=True)
        trainer = _GridTrainer(models, latent, lambdas, height * width, generator, hp, bar,
                               distortion)
        trainer.synthesis_lr_scale = torch.tensor(
            [hp.latent_start_synthesis_lr_scale if s else 1.0 for s in started], device=device)
        try:
            trainer.softround_phase(plan.softround_iterations, plan.check_every)
            trainer.ste_phase(plan.ste_iterations, hp.ste_learning_rate, True, "ste",
                              plan.check_every)
            trainer.unstack()
            exponents = [quantize_network_weights(m, latent, lmbda, height * width,
                                                  distortion=distortion)
                         for m, lmbda in zip(models, lambdas, strict=True)]
            weight_bits = [total_weight_bits(m, e) for m, e in zip(models, exponents,
                                                                    strict=True)]
            trainer.stack()  # the quantized networks
            trainer.weight_bits = torch.tensor(weight_bits, dtype=torch.float32, device=device)
            trainer.log("weight_quant", *trainer.evaluate())
            trainer.ste_phase(plan.finetune_iterations, hp.finetune_learning_rate, False,
                              "finetune", plan.check_every)
            trainer.unstack()
        finally:
            bar.close()
    finally:
        torch.set_num_threads(previous_threads)
    common = {"preset": preset if isinstance(preset, str) else "custom", "effort": plan.name,
              "seed": seed, "image_size": (height, width)}
    # Every result's ``seconds`` is the whole grid job's (``start`` is its beginning).
    return [finished_result(m, e, w, lmbda, latent, distortion, h, start, **common)
            for m, e, w, lmbda, h in zip(models, exponents, weight_bits, lambdas,
                                         trainer.histories, strict=True)]
