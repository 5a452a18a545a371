"""Upsampling of the grids to the latent size: learned separable 2× filters, bicubic at start.

The coarsest grid is upsampled by 2, cropped to the next level's size and stacked with that
level; the stack is upsampled again, and so on, until all L levels sit at the finest size.
Each 2× step is a transposed convolution written in polyphase form: output 2m uses taps
``kernel[:T]`` on inputs m−T/2 … m+T/2−1, output 2m+1 uses ``kernel[T:]`` on m−T/2+1 … m+T/2
(replicate padding at borders, as bicubic interpolation does). One kernel per step, shared by
rows, columns and channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def bicubic_kernel(taps: int = 4, a: float = -0.75) -> torch.Tensor:
    """The polyphase kernel [even taps, odd taps] of 2× bicubic upsampling (Keys, a = −0.75)."""
    if taps != 4:
        raise ValueError("bicubic initialisation is defined for 4 taps per phase")

    def keys(d: float) -> float:
        d = abs(d)
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a

    # Output 2m sits at input coordinate m − ¼, output 2m+1 at m + ¼ (align_corners=False).
    even = [keys(d) for d in (1.75, 0.75, 0.25, 1.25)]  # inputs m−2, m−1, m, m+1
    odd = [keys(d) for d in (1.25, 0.25, 0.75, 1.75)]  # inputs m−1, m, m+1, m+2
    return torch.tensor(even + odd)


def upsample2x_1d(x: torch.Tensor, kernel: torch.Tensor, dim: int) -> torch.Tensor:
    """Upsample ``x`` (1×C×H×W) by 2 along ``dim`` (−1 columns, −2 rows) with ``kernel``."""
    taps = kernel.numel() // 2
    half = taps // 2
    if dim == -2:
        return upsample2x_1d(x.transpose(-1, -2), kernel, -1).transpose(-1, -2)
    channels = x.shape[1]
    padded = F.pad(x, (half, half, 0, 0), mode="replicate")
    weight_even = kernel[:taps].reshape(1, 1, 1, taps).expand(channels, 1, 1, taps)
    weight_odd = kernel[taps:].reshape(1, 1, 1, taps).expand(channels, 1, 1, taps)
    even = F.conv2d(padded[..., :-1], weight_even, groups=channels)
    odd = F.conv2d(padded[..., 1:], weight_odd, groups=channels)
    return torch.stack([even, odd], dim=-1).flatten(-2)


def polyphase_kernels(kernels: torch.Tensor) -> torch.Tensor:
    """The two phases of each 2T-tap kernel (rows of ``kernels``, K × 2T) as K × 2 × (T+1).

    Phase 0 is the even kernel zero-padded on the right, phase 1 the odd one zero-padded on
    the left, so that one convolution with two output channels computes both phases.
    """
    taps = kernels.shape[-1] // 2
    even = F.pad(kernels[:, :taps], (0, 1))
    odd = F.pad(kernels[:, taps:], (1, 0))
    return torch.stack([even, odd], dim=1)


def upsample2x_phases(x: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
    """``upsample2x`` with the kernel given as its phases (2 × (T+1), ``polyphase_kernels``)."""
    taps = phases.shape[-1] - 1
    half = taps // 2
    _, channels, height, width = x.shape
    x = x.reshape(channels, 1, height, width)
    columns = F.conv2d(F.pad(x, (half, half, 0, 0), mode="replicate"),
                       phases.reshape(2, 1, 1, taps + 1))  # C × 2 × H × W
    columns = columns.permute(0, 2, 3, 1).reshape(channels, 1, height, 2 * width)
    rows = F.conv2d(F.pad(columns, (0, 0, half, half), mode="replicate"),
                    phases.reshape(2, 1, taps + 1, 1))  # C × 2 × H × 2W
    return rows.permute(0, 2, 1, 3).reshape(1, channels, 2 * height, 2 * width)


def upsample2x(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Both passes of ``upsample2x_1d`` (columns, then rows) on 1×C×H×W: same values, faster.

    Channels are folded into the batch, and the even and odd phases are one convolution with
    two output channels (``polyphase_kernels``), so each pass is a single ``conv2d`` without
    transposes.
    """
    return upsample2x_phases(x, polyphase_kernels(kernel.reshape(1, -1))[0])


class Upsampling(nn.Module):
    """Brings L grids to the finest size: one learned 2× kernel per level transition."""

    def __init__(self, n_levels: int, taps: int = 4) -> None:
        super().__init__()
        self.kernels = nn.ParameterList(
            nn.Parameter(bicubic_kernel(taps)) for _ in range(max(0, n_levels - 1))
        )

    def forward(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """Stack the grids (finest first, each 1×c_i×h_i×w_i) into 1×(Σ c_i)×h_0×w_0."""
        stack = grids[-1]
        if len(grids) < 2:
            return stack
        # The phases of every level's kernel in four ops (copies only: same values and
        # gradients as building them level by level, with ~20 fewer autograd nodes a step).
        phases = polyphase_kernels(torch.stack(list(self.kernels)))
        for level in range(len(grids) - 2, -1, -1):
            up = upsample2x_phases(stack, phases[level])
            height, width = grids[level].shape[-2:]
            stack = torch.cat([grids[level], up[..., :height, :width]], dim=1)
        return stack
