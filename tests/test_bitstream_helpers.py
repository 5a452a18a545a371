"""Test helpers (no tests here): random quantized models, grids sampled from their own ARM."""

from __future__ import annotations

import numpy as np
import torch

from clric_utils.codec.arch import ArchConfig, get_preset
from clric_utils.codec.arm import context_radius, gather_context
from clric_utils.codec.model import OverfittedLatentModel

EXPONENTS = {"arm": (8, 10), "upsampling": (8, 8), "synthesis": (9, 11)}


def random_model(
    latent_hw: tuple[int, int],
    arch: ArchConfig | str = "paper",
    seed: int = 0,
    exponents: dict[str, tuple[int, int]] = EXPONENTS,
    grid_scale: float = 3.0,
    sample_from_arm: bool = False,
) -> OverfittedLatentModel:
    """A model with random dyadic network parameters and integer grids.

    With ``sample_from_arm``, each grid is drawn value by value from the model's own ARM, so
    the model's rate estimate is the true expected code length (a realistic rate test).
    """
    arch = get_preset(arch) if isinstance(arch, str) else arch
    generator = torch.Generator().manual_seed(seed)
    model = OverfittedLatentModel(*latent_hw, arch)
    with torch.no_grad():
        for network, module in model.networks().items():
            weight_exp, bias_exp = exponents[network]
            for name, param in module.named_parameters():
                is_bias = name.endswith("bias")
                exp = bias_exp if is_bias else weight_exp
                std = 0.05 if is_bias else 0.4 / max(1, param[0].numel()) ** 0.5
                if network == "upsampling":
                    value = param + 0.02 * torch.randn(param.shape, generator=generator)
                elif network == "arm" and name == "out.bias":
                    value = torch.tensor([0.0, 0.3])
                elif network == "arm" and sample_from_arm:
                    # A damped ARM: μ ≈ a weighted mean of the context, so samples stay bounded.
                    value = (
                        (0.3 if name == "out.weight" else 0.1)
                        * torch.randn(param.shape, generator=generator)
                        / param.shape[-1]
                    )
                else:
                    value = std * torch.randn(param.shape, generator=generator)
                param.copy_(torch.round(value * 2.0**exp) / 2.0**exp)
        levels = list(zip(model.grids.channels, model.grids.shapes, strict=True))
        if sample_from_arm:
            grids = [
                torch.cat([_sample_grid(model, shape, generator) for _ in range(c)], dim=1)
                for c, shape in levels
            ]
        else:
            grids = [
                torch.round(grid_scale * torch.randn((1, c, *shape), generator=generator))
                for c, shape in levels
            ]
        model.grids.set_values(grids)
    return model


def _sample_grid(model, shape, generator) -> torch.Tensor:
    """Draw one grid from the ARM, by wavefronts (every context is drawn before it is used)."""
    height, width = shape
    grid = torch.zeros(1, 1, height, width)
    radius = context_radius(model.arm.offsets)
    step = radius + 1
    y, x = np.divmod(np.arange(height * width), width)
    wave = x + step * y
    for t in range(int(wave.max()) + 1):
        index = torch.from_numpy(np.nonzero(wave == t)[0])
        mu, log_scale = model.arm(gather_context(grid, model.arm.offsets)[index])
        scale = torch.exp(log_scale.clamp(-4.6, 5.0))
        u = torch.rand(len(index), generator=generator) - 0.5
        sample = mu - scale * torch.sign(u) * torch.log1p(-2 * u.abs())
        grid.view(-1)[index] = torch.round(sample)
    return grid
