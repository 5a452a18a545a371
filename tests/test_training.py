"""Training of the overfitted codec: loss falls, λ orders the rate, quantization, determinism.

All fits use one thread and a 16×24 latent (a 128×192 Kodak crop through the seeded ``tiny``
VAE; a smooth synthetic latent when Kodak is not on the machine), with a few hundred
iterations, so the whole file runs in well under a minute.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from pathlib import Path

import pytest
import torch

from clric_utils.bitstream.rules import WEIGHT_SCALE_FLOOR as SCALE_FLOOR
from clric_utils.codec import rate_control
from clric_utils.codec.arch import get_preset
from clric_utils.codec.model import OverfittedLatentModel
from clric_utils.codec.schedule import EFFORTS, LAMBDA_CALIBRATION, Effort, lambda_grid
from clric_utils.codec.train import FitResult, fit
from clric_utils.codec.weight_quant import (
    laplace_scale_for,
    quantize_network_weights,
    quantized_integers,
    total_weight_bits,
    weight_code_bits,
)
from clric_utils.errors import ParameterError

TINY_EFFORT = Effort("test", softround_iterations=200, ste_iterations=30, finetune_iterations=20,
                     check_every=50)
IMAGE_SIZE = (128, 192)


#: Codec work runs on one thread here (conftest's ``one_thread``).
pytestmark = pytest.mark.usefixtures("one_thread")


@functools.lru_cache(maxsize=1)
def _latent_cached() -> torch.Tensor:
    """1×4×16×24 scaled latent of a Kodak crop (tiny VAE), or a smooth synthetic stand-in."""
    folder = Path(os.environ.get("CLRIC_KODAK_DIR", "/work/shared/data/kodak"))
    path = folder / "kodim23.png"
    if path.is_file():
        from clric_utils.images import crop_center, image_to_tensor, read_image
        from clric_utils.vae.loading import load_vae

        image = image_to_tensor(crop_center(read_image(path), *IMAGE_SIZE))
        return load_vae("tiny").encode(image)
    generator = torch.Generator().manual_seed(0)
    coarse = torch.randn(1, 4, 4, 6, generator=generator)
    smooth = torch.nn.functional.interpolate(coarse, size=(16, 24), mode="bicubic")
    return smooth + 0.1 * torch.randn(1, 4, 16, 24, generator=generator)


def _latent() -> torch.Tensor:
    """A fresh copy of the test latent."""
    return _latent_cached().clone()


def _fit(lmbda: float, **kwargs) -> FitResult:
    """A short fit of the test latent."""
    kwargs.setdefault("effort", TINY_EFFORT)
    return fit(_latent(), IMAGE_SIZE, lmbda, progress=False, **kwargs)


@functools.lru_cache(maxsize=1)
def _default_fit() -> FitResult:
    """One short fit at λ = 0.02, seed 0, shared by the tests that only read it."""
    return _fit(0.02)


def test_loss_decreases_and_result_is_complete() -> None:
    """The hard loss falls during training; the result's fields are consistent."""
    result = _default_fit()
    losses = [h["loss"] for h in result.history if h["phase"] == "softround"]
    assert losses[-1] < 0.8 * losses[0]
    assert result.latent_mse < float(_latent().var())
    assert result.estimated_latent_bits > 0 and result.estimated_weight_bits > 0
    assert set(result.weight_exponents) == {"arm", "upsampling", "synthesis"}
    assert result.image_size == IMAGE_SIZE and result.seconds > 0
    assert {"iteration", "phase", "loss", "bpp", "mse"} <= set(result.history[0])
    assert math.isclose(result.estimated_bpp,
                        result.estimated_bits / (IMAGE_SIZE[0] * IMAGE_SIZE[1]))
    # The final model reproduces the reported numbers.
    with torch.no_grad():
        out = result.model("hard")
    assert math.isclose(float(out.bits), result.estimated_latent_bits, rel_tol=1e-6)
    mse = float(torch.mean((out.y_hat - _latent()) ** 2))
    assert math.isclose(mse, result.latent_mse, rel_tol=1e-5)


def test_lambda_orders_rate_and_distortion() -> None:
    """Larger λ: strictly fewer bits and strictly larger latent MSE."""
    results = [_fit(lmbda) for lmbda in (0.01, 1.0, 10.0)]
    bpps = [r.estimated_bpp for r in results]
    mses = [r.latent_mse for r in results]
    assert bpps[0] > bpps[1] > bpps[2], bpps
    assert mses[0] < mses[1] < mses[2], mses


def test_same_seed_same_result_and_other_seed_differs() -> None:
    """Same seed → bit-identical ŷ and rate; the global RNG is left untouched."""
    state = torch.random.get_rng_state()
    a, b = _fit(0.02, seed=5), _fit(0.02, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    with torch.no_grad():
        out_a, out_b = a.model("hard"), b.model("hard")
    assert torch.equal(out_a.y_hat, out_b.y_hat)
    assert a.estimated_latent_bits == b.estimated_latent_bits
    assert a.weight_exponents == b.weight_exponents
    c = _fit(0.02, seed=6)
    with torch.no_grad():
        assert not torch.equal(c.model("hard").y_hat, out_a.y_hat)


def test_networks_hold_exact_dyadic_values() -> None:
    """After the fit every network parameter is n·2^-e, and the grids are integers / 16."""
    result = _default_fit()
    integers = quantized_integers(result.model, result.weight_exponents)
    for net_name, network in result.model.networks().items():
        w_exp, b_exp = result.weight_exponents[net_name]
        for name, value in network.state_dict().items():
            e = b_exp if name.endswith("bias") else w_exp
            n = integers[net_name][name]
            assert n.dtype == torch.int64
            assert torch.equal(n.to(torch.float64) * 2.0**-e, value.to(torch.float64)), name
    for value in result.model.grids.values():
        assert torch.equal(value, torch.round(value))
    bits = total_weight_bits(result.model, result.weight_exponents)
    assert math.isclose(bits, result.estimated_weight_bits)


def test_weight_quantization_keeps_latent_mse() -> None:
    """Quantizing the trained networks changes the latent MSE by a few % at most."""
    latent = _latent()
    torch.manual_seed(0)
    model = OverfittedLatentModel(16, 24, get_preset("paper"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    n_pixels = IMAGE_SIZE[0] * IMAGE_SIZE[1]
    for _ in range(200):
        out = model("softround", 0.2, 0.15, generator)
        loss = torch.mean((out.y_hat - latent) ** 2) + 0.02 * out.bits / n_pixels
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        before = float(torch.mean((model("hard").y_hat - latent) ** 2))
        exponents = quantize_network_weights(model, latent, 0.02, n_pixels)
        after = float(torch.mean((model("hard").y_hat - latent) ** 2))
    assert all(0 <= e <= 16 for pair in exponents.values() for e in pair)
    assert abs(after / before - 1) < 0.03, (before, after)


def test_weight_code_bits_is_the_discretized_laplace_code_length() -> None:
    """weight_code_bits = Σ −log2(F(n+½) − F(n−½)) with b = max(mean|n|, 0.1) in float32."""
    ints = torch.tensor([0, 0, 1, -1, 3, -7, 40, 0, 2], dtype=torch.int64)
    b = laplace_scale_for(ints)
    assert b == float(torch.tensor(ints.abs().double().mean().item(), dtype=torch.float32))

    def cdf(x: float) -> float:
        return 0.5 + 0.5 * math.copysign(1.0, x) * (1.0 - math.exp(-abs(x) / b))

    expected = sum(-math.log2(max(cdf(n + 0.5) - cdf(n - 0.5), 2.0**-24)) for n in ints.tolist())
    assert math.isclose(weight_code_bits(ints), expected, rel_tol=1e-9)
    zeros = torch.zeros(10, dtype=torch.int64)
    assert laplace_scale_for(zeros) == pytest.approx(SCALE_FLOOR)
    assert weight_code_bits(zeros) == pytest.approx(-10 * math.log2(1 - math.exp(-0.5 / 0.1)))
    assert weight_code_bits(torch.zeros(0, dtype=torch.int64)) == 0.0
    huge = torch.tensor([0, 0, 0, 0, 0, 0, 0, 0, 0, 10**6])  # floor: at most 24 bits each
    assert weight_code_bits(huge) <= 24 * 10


@pytest.mark.parametrize("bad", [0.0, -1e-3, float("nan"), float("inf"), "a lot", None])
def test_bad_lambda_is_a_parameter_error(bad) -> None:
    """λ must be a finite number > 0."""
    with pytest.raises(ParameterError, match="λ"):
        fit(_latent(), IMAGE_SIZE, bad, progress=False, effort=TINY_EFFORT)


def test_bad_inputs_are_parameter_errors() -> None:
    """Wrong latent shape, non-finite latent, mismatched image size, unknown names."""
    latent = _latent()
    with pytest.raises(ParameterError, match="1×4×h×w"):
        fit(latent[0], IMAGE_SIZE, 0.01, progress=False)
    with pytest.raises(ParameterError, match="NaN"):
        fit(latent * float("nan"), IMAGE_SIZE, 0.01, progress=False)
    with pytest.raises(ParameterError, match="does not match"):
        fit(latent, (192, 128), 0.01, progress=False)
    with pytest.raises(ParameterError, match="effort"):
        fit(latent, IMAGE_SIZE, 0.01, effort="ludicrous", progress=False)
    with pytest.raises(ParameterError, match="preset"):
        fit(latent, IMAGE_SIZE, 0.01, preset="huge", progress=False)


def test_threads_are_restored_and_warm_start_runs() -> None:
    """fit sets its thread count only for its duration; init warm-starts from a result."""
    first = _default_fit()
    torch.set_num_threads(2)  # (no work runs at 2 threads: that would be slow on 2 busy cores)
    _fit(0.02, threads=1, effort=Effort("short", 20, 5, 5, 10))
    assert torch.get_num_threads() == 2
    second = _fit(0.04, init=first, effort=Effort("warm", 50, 10, 10, 25))
    assert second.estimated_bpp < first.estimated_bpp * 1.5
    with pytest.raises(ParameterError, match="init"):
        _fit(0.02, init=first, preset="lite")


def test_efforts_and_lambda_grid_are_ordered() -> None:
    """fast < medium < slow in iterations; the λ grid runs from low to high rate."""
    totals = [EFFORTS[name].total_iterations for name in ("fast", "medium", "slow")]
    assert totals == sorted(totals) and len(set(totals)) == 3
    for preset, table in LAMBDA_CALIBRATION.items():
        grid = lambda_grid(preset)
        assert list(grid) == sorted(grid, reverse=True) and len(set(grid)) == len(grid)
        rates = [bpp for _, bpp in table]
        assert rates == sorted(rates)  # more bits as λ falls
    assert lambda_grid() == lambda_grid("wide")  # the default preset's


class _FakeResult:
    """Stands in for a FitResult in rate-control tests: bpp = 0.02 · λ^-0.6 exactly."""

    def __init__(self, lmbda: float) -> None:
        self.lmbda = lmbda
        self.estimated_bpp = 0.02 * lmbda**-0.6


def test_rate_control_search_converges(monkeypatch: pytest.MonkeyPatch) -> None:
    """The λ search lands within the tolerance in a few fits and warm-starts each one."""
    calls = []

    def fake_fit(latent, image_size, lmbda, init=None, **kwargs):
        calls.append((lmbda, init))
        return _FakeResult(lmbda)

    monkeypatch.setattr(rate_control, "fit", fake_fit)
    for target in (0.01, 0.1, 1.0):
        calls.clear()
        result = rate_control.fit_to_target_bpp(_latent(), IMAGE_SIZE, target, progress=False)
        assert abs(result.estimated_bpp / target - 1) <= 0.03
        assert len(calls) <= 5
        assert calls[0][1] is None and all(init is not None for _, init in calls[1:])


def test_rate_control_unreachable_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable rate returns the closest fit with a warning, or raises when strict."""
    monkeypatch.setattr(rate_control, "fit", lambda *a, lmbda=None, init=None, **k: _FakeResult(
        a[2] if len(a) > 2 else lmbda))
    measure = lambda r: min(r.estimated_bpp, 0.5)  # noqa: E731 - saturating rate
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = rate_control.fit_to_target_bpp(_latent(), IMAGE_SIZE, 2.0, measure_bpp=measure,
                                                max_steps=4, progress=False)
    assert any(issubclass(w.category, RuntimeWarning) for w in caught)
    assert measure(result) == 0.5
    with pytest.raises(ParameterError, match="no λ within"):
        rate_control.fit_to_target_bpp(_latent(), IMAGE_SIZE, 2.0, measure_bpp=measure,
                                       max_steps=3, strict=True, progress=False)
    with pytest.raises(ParameterError, match="target bpp"):
        rate_control.fit_to_target_bpp(_latent(), IMAGE_SIZE, -1.0)


@pytest.mark.slow
def test_rate_control_on_house_latents_hits_the_real_file_size() -> None:
    """On a real house latent, rate control lands within ±3 % of a target in real file bits."""
    from clric_utils.api import write_fit
    from clric_utils.images import crop_center, image_to_tensor, read_image
    from clric_utils.vae.loading import load_vae

    folder = Path(os.environ.get("CLRIC_KODAK_DIR", "/work/shared/data/kodak"))
    if not (folder / "kodim23.png").is_file():
        pytest.skip("needs Kodak (CLRIC_KODAK_DIR)")
    vae = load_vae("house")
    size = (256, 384)
    latent = vae.encode(image_to_tensor(crop_center(read_image(folder / "kodim23.png"), *size)))

    def real_bpp(result: FitResult) -> float:
        return write_fit(result, vae.name, vae.scaling_factor).bpp

    for target in (0.4, 0.5):  # between the weights' floor and this short fit's ceiling
        result = rate_control.fit_to_target_bpp(latent, size, target, measure_bpp=real_bpp,
                                                effort=TINY_EFFORT, progress=False, strict=True)
        assert abs(real_bpp(result) / target - 1) <= 0.03


@pytest.mark.slow
def test_rate_control_real_fit() -> None:
    """With real (short) fits, the estimated rate lands within 5 % of a reachable target."""
    reference = _fit(0.3).estimated_bpp
    result = rate_control.fit_to_target_bpp(_latent(), IMAGE_SIZE, reference, tolerance=0.05,
                                            max_steps=8, effort=TINY_EFFORT, progress=True)
    assert abs(result.estimated_bpp / reference - 1) <= 0.05
