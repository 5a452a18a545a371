"""The overfitted function f_ψ: shapes, and the fast code paths equal the reference ones."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from clric_utils.codec.arch import get_preset
from clric_utils.codec.arm import gather_context, gather_contexts
from clric_utils.codec.laplace import rate_bits
from clric_utils.codec.model import OverfittedLatentModel
from clric_utils.codec.upsampling import bicubic_kernel, upsample2x, upsample2x_1d

#: Codec work runs on one thread here (conftest's ``one_thread``).
pytestmark = pytest.mark.usefixtures("one_thread")


def _model(preset: str = "paper", height: int = 11, width: int = 17) -> OverfittedLatentModel:
    """A model with random (non-zero) parameters, seeded."""
    torch.manual_seed(3)
    model = OverfittedLatentModel(height, width, get_preset(preset))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("preset", ["paper", "lite"])
def test_forward_shapes_and_finite(preset: str) -> None:
    """ŷ has the latent's shape, the rate is a positive finite scalar."""
    model = _model(preset)
    out = model("hard")
    assert out.y_hat.shape == (1, 4, 11, 17)
    assert out.bits.ndim == 0 and torch.isfinite(out.bits) and out.bits > 0
    assert [g.shape[-2:] for g in out.grids] == [torch.Size(s) for s in model.grids.shapes]


def test_batched_contexts_equal_per_grid_contexts() -> None:
    """gather_contexts (unfold) is bit-identical to gather_context grid by grid."""
    model = _model()
    grids = model.quantized_grids("softround", 0.2, 0.1, torch.Generator().manual_seed(0))
    reference = torch.cat([gather_context(g, model.arm.offsets) for g in grids])
    assert torch.equal(gather_contexts(grids, model.arm.offsets), reference)


def test_batched_rate_equals_per_grid_rate() -> None:
    """One ARM call on all grids gives the per-grid sum of bits (up to summation order)."""
    model = _model()
    grids = model.quantized_grids("hard")
    reference = sum(
        rate_bits(g.reshape(-1), *model.arm(gather_context(g, model.arm.offsets))).sum()
        for g in grids
    )
    torch.testing.assert_close(model.rate(grids), reference, rtol=1e-6, atol=1e-3)


def test_fused_upsampling_equals_two_passes() -> None:
    """upsample2x (both passes in two convolutions) equals upsample2x_1d columns then rows."""
    x = torch.randn(1, 3, 5, 7)
    kernel = bicubic_kernel() + 0.05 * torch.randn(8)
    reference = upsample2x_1d(upsample2x_1d(x, kernel, -1), kernel, -2)
    torch.testing.assert_close(upsample2x(x, kernel), reference, rtol=0, atol=1e-6)


def test_bicubic_start_matches_interpolate() -> None:
    """At initialisation one 2× step is bicubic interpolation (away from the borders)."""
    x = torch.randn(1, 1, 8, 10)
    ours = upsample2x(x, bicubic_kernel())
    theirs = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
    torch.testing.assert_close(ours[..., 4:-4, 4:-4], theirs[..., 4:-4, 4:-4], atol=1e-5, rtol=0)


def test_gradients_reach_every_parameter() -> None:
    """A soft-rounded training loss has a gradient for grids, ARM, upsampling and synthesis."""
    model = _model("lite")
    out = model("softround", 0.3, 0.25, torch.Generator().manual_seed(0))
    (out.y_hat.square().mean() + 1e-3 * out.bits).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
