"""f_ψ: the overfitted function that turns transmitted grids into the latent estimate ŷ.

ŷ = synthesis(upsampling(round(grids))), and the rate is the ARM's −log2 P of every rounded
grid value: the two terms of CLRIC's loss  MSE(y, ŷ) + λ · bits / (image pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..bitstream.rules import is_bias
from .arch import ArchConfig
from .arm import Arm, gather_contexts
from .grids import LatentGrids
from .laplace import rate_bits
from .quantizer import quantize
from .synthesis import Synthesis
from .upsampling import Upsampling


@dataclass
class ForwardResult:
    """What one forward pass gives: the latent estimate, the rate and the quantized grids."""

    y_hat: torch.Tensor  # 1 × latent_channels × h × w
    bits: torch.Tensor  # scalar: total rate of the grids, in bits
    grids: list[torch.Tensor]  # the (relaxed) quantized grids, finest first, 1×c×h×w each


class OverfittedLatentModel(nn.Module):
    """Grids + ARM + upsampling + synthesis for one latent of size ``height × width``."""

    def __init__(self, height: int, width: int, arch: ArchConfig) -> None:
        super().__init__()
        self.arch = arch
        self.latent_size = (height, width)
        self.grids = LatentGrids(height, width, arch.n_levels, arch.channels_of_level)
        self.arm = Arm(arch.arm_context, arch.arm_hidden_layers)
        self.upsampling = Upsampling(len(self.grids.shapes), arch.upsampling_taps)
        self.synthesis = Synthesis(sum(self.grids.channels), arch.synthesis)

    def networks(self) -> dict[str, nn.Module]:
        """The three transmitted networks, by the names the bitstream uses."""
        return {"arm": self.arm, "upsampling": self.upsampling, "synthesis": self.synthesis}

    def quantized_grids(
        self,
        mode: str = "hard",
        temperature: float = 0.3,
        noise: float = 0.25,
        generator: torch.Generator | None = None,
    ) -> list[torch.Tensor]:
        """The grid values after (relaxed) quantization, finest first."""
        return [quantize(v, mode, temperature, noise, generator) for v in self.grids.values()]

    def rate(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """Total bits of the grids under the ARM's discretized Laplace."""
        # One ARM call on the contexts of all grids: same math as grid by grid, fewer ops.
        mu, log_scale = self.arm(gather_contexts(grids, self.arm.offsets))
        values = torch.cat([grid.reshape(-1) for grid in grids])
        return rate_bits(values, mu, log_scale).sum()

    def synthesize(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """ŷ from the grids: upsample every level to the latent size, then synthesis."""
        return self.synthesis(self.upsampling(grids))

    def forward(
        self,
        mode: str = "hard",
        temperature: float = 0.3,
        noise: float = 0.25,
        generator: torch.Generator | None = None,
    ) -> ForwardResult:
        """Quantize the grids, then compute ŷ and the rate."""
        grids = self.quantized_grids(mode, temperature, noise, generator)
        return ForwardResult(self.synthesize(grids), self.rate(grids), grids)


def model_from_integers(header, grids: list, values: dict) -> OverfittedLatentModel:
    """The float OverfittedLatentModel that a decoded file's integers describe (inspection).

    ``header``, ``grids`` and ``values`` as ``bitstream.decode_file`` returns them: every
    network parameter is n·2^-e with the header's exponent of its group, every grid value an
    integer.
    """
    model = OverfittedLatentModel(*header.latent_size, header.arch)
    with torch.no_grad():
        for network, module in model.networks().items():
            weight_exp, bias_exp = header.exponents[network]
            for name, param in module.named_parameters():
                exp = bias_exp if is_bias(name) else weight_exp
                ints = values[f"{network}.{name}"]
                param.copy_(torch.from_numpy(ints.astype(np.float64) * 2.0**-exp))
        model.grids.set_values([torch.from_numpy(g.astype(np.float32)) for g in grids])
    return model
