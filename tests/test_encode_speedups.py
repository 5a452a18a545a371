"""The encoder's faster forms give the very values and gradients of the forms they replaced.

A fit is reproducible to the bit (same seed, same file), so a speed-up of the training step
must not move a single bit of the loss or of a gradient: each test computes both forms and
asks for ``torch.equal``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from clric_utils.bitstream.rules import context_radius
from clric_utils.codec.arch import get_preset
from clric_utils.codec.arm import gather_contexts
from clric_utils.codec.model import OverfittedLatentModel
from clric_utils.codec.quantizer import quantize
from clric_utils.codec.upsampling import upsample2x


def _unfold_contexts(grids, offsets):
    """The former gather: unfold every padded plane, keep the context columns."""
    radius = context_radius(offsets)
    window = (radius + 1, 2 * radius + 1)
    index = torch.tensor([(radius + dy) * window[1] + radius + dx for dy, dx in offsets])
    rows = []
    for grid in grids:
        planes = grid.reshape(-1, 1, *grid.shape[-2:])
        columns = F.unfold(F.pad(planes, (radius, radius, radius, 0)), window)
        rows.append(columns.index_select(1, index).transpose(1, 2).reshape(-1, len(offsets)))
    return torch.cat(rows)


def _random_grids(model, seed):
    """Random grids of the model's shapes, requiring gradients."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(1, c, h, w, generator=generator).requires_grad_()
            for c, (h, w) in zip(model.grids.channels, model.grids.shapes, strict=True)]


@pytest.mark.parametrize(("preset", "size"), [("wide", (13, 21)), ("paper", (9, 7)),
                                              ("lite", (5, 16))])
def test_gather_contexts_matches_unfold_values_and_gradients(preset, size):
    model = OverfittedLatentModel(*size, get_preset(preset))
    grids = _random_grids(model, 0)
    results = []
    for gather in (_unfold_contexts, gather_contexts):
        contexts = gather(grids, model.arm.offsets)
        upstream = torch.randn(contexts.shape, generator=torch.Generator().manual_seed(1))
        results.append((contexts, torch.autograd.grad(contexts, grids, upstream)))
    (old, old_grads), (new, new_grads) = results
    assert torch.equal(old, new)
    assert all(torch.equal(a, b) for a, b in zip(old_grads, new_grads, strict=True))


def test_upsampling_matches_level_by_level_kernels():
    """All levels' phases built at once: same stack and gradients as upsample2x per level."""
    torch.manual_seed(0)
    model = OverfittedLatentModel(12, 20, get_preset("wide"))
    with torch.no_grad():
        for kernel in model.upsampling.kernels:
            kernel.add_(0.01 * torch.randn_like(kernel))
    grids = _random_grids(model, 2)
    kernels = list(model.upsampling.kernels)

    def level_by_level():
        stack = grids[-1]
        for level in range(len(grids) - 2, -1, -1):
            up = upsample2x(stack, kernels[level])
            height, width = grids[level].shape[-2:]
            stack = torch.cat([grids[level], up[..., :height, :width]], dim=1)
        return stack

    results = []
    for upsample in (level_by_level, lambda: model.upsampling(grids)):
        out = upsample()
        upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
        results.append((out, torch.autograd.grad(out, grids + kernels, upstream)))
    (old, old_grads), (new, new_grads) = results
    assert torch.equal(old, new)
    assert all(torch.equal(a, b) for a, b in zip(old_grads, new_grads, strict=True))


def test_soft_round_and_noise_match_the_plain_formulas():
    """Detached ⌊x⌋ and the in-place noise: the values and gradients of the formulas."""
    x = (3 * torch.randn(500, generator=torch.Generator().manual_seed(4))).requires_grad_()
    temperature, noise = 0.17, 0.13  # not powers of two: every rounding shows

    def reference():
        floor = torch.floor(x)
        delta = x - floor - 0.5
        soft = floor + 0.5 + 0.5 * torch.tanh(delta / temperature) / math.tanh(0.5 / temperature)
        u = torch.rand(x.shape, generator=torch.Generator().manual_seed(5))
        return soft + noise * (2.0 * u - 1.0)

    new = quantize(x, "softround", temperature, noise, torch.Generator().manual_seed(5))
    old = reference()
    assert torch.equal(old, new)
    assert torch.equal(torch.autograd.grad(old.sum(), x)[0], torch.autograd.grad(new.sum(), x)[0])
