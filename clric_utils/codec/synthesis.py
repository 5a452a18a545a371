"""Synthesis: from the upsampled grids (Σ c_i channels) to the latent estimate ŷ (4 channels).

1×1 convolutions first (cheap, wide), then 3×3 residual convolutions (Cool-chic §3.1).
The output is a VAE latent, so there is no clamp to [0, 1] and no 8-bit rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .arch import SynthesisLayer


class SynthesisConv(nn.Module):
    """One layer: act(conv(x)) or, for residual layers, act(x + conv(x))."""

    def __init__(self, in_channels: int, layer: SynthesisLayer) -> None:
        super().__init__()
        if layer.kind == "residual" and in_channels != layer.out_channels:
            raise ValueError(f"residual layer {layer} needs {layer.out_channels} input channels")
        self.layer = layer
        self.conv = nn.Conv2d(in_channels, layer.out_channels, layer.kernel)
        if layer.kind == "residual":
            # Start as the identity so that stacking residual layers costs nothing at first.
            nn.init.zeros_(self.conv.weight)
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer; borders use replicate padding."""
        pad = self.layer.kernel // 2
        y = self.conv(F.pad(x, (pad,) * 4, mode="replicate") if pad else x)
        if self.layer.kind == "residual":
            y = y + x
        return F.relu(y) if self.layer.activation == "relu" else y


class Synthesis(nn.Module):
    """The stack of synthesis layers."""

    def __init__(self, in_channels: int, layers: tuple[SynthesisLayer, ...]) -> None:
        super().__init__()
        modules = []
        for layer in layers:
            modules.append(SynthesisConv(in_channels, layer))
            in_channels = layer.out_channels
        self.layers = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ŷ = synthesis(upsampled grids)."""
        return self.layers(x)
