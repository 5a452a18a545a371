"""The .clric bitstream: integer decoder, tables, round trips, rate, header."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from clric_utils.bitstream import decode_file, encode_model, integer_arm, parse_header, tables
from clric_utils.bitstream.encode import encode_integers
from clric_utils.bitstream.fixed_point import (
    grid_contexts,
    integer_arm_raw,
    integer_decoder_y_hat,
    network_integers,
    networks_from_values,
)
from clric_utils.bitstream.header import Header, finish_file, pack_header
from clric_utils.bitstream.rules import coding_groups, parameter_layout, wavefront_order
from clric_utils.codec.arch import ArchConfig, get_preset, parse_synthesis
from clric_utils.codec.arm import causal_offsets, context_radius
from clric_utils.codec.model import model_from_integers
from clric_utils.codec.weight_quant import group_integers, quantized_integers, weight_code_bits
from clric_utils.errors import ParameterError

sys.path.insert(0, str(Path(__file__).parent))
from test_bitstream_helpers import EXPONENTS, random_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _encode(model, image_size=(64, 96), exponents=EXPONENTS, estimated_bits=0.0):
    return encode_model(
        model, exponents, image_size=image_size, vae_name="tiny", vae_scaling_factor=1.5,
        preset="paper", lmbda=1e-3, estimated_bits=estimated_bits,
    )


@pytest.fixture(scope="module")
def small():
    """A small random model (8×12 latent) and its file."""
    model = random_model((8, 12), seed=3)
    return model, _encode(model)


@pytest.mark.parametrize("preset", ["paper", "lite", "wide"])
@pytest.mark.parametrize("latent_hw", [(8, 12), (5, 7), (1, 1)])
def test_layout_matches_model(preset, latent_hw):
    model = random_model(latent_hw, preset)
    expected = [
        (network, name, tuple(p.shape))
        for network, module in model.networks().items()
        for name, p in module.named_parameters()
    ]
    layout = parameter_layout(model.arch, len(model.grids.shapes))
    assert [(s.network, s.name, s.shape) for s in layout] == expected


@pytest.mark.parametrize("preset", ["paper", "lite"])
def test_integer_y_hat_matches_float_model(preset):
    torch.set_num_threads(1)
    model = random_model((16, 24), preset, seed=1)
    encoded = _encode(model, image_size=(128, 192))
    with torch.no_grad():
        float_y_hat = model("hard").y_hat.numpy()
    assert encoded.y_hat.dtype == np.float32 and encoded.y_hat.shape == float_y_hat.shape
    assert np.abs(encoded.y_hat - float_y_hat).max() < 1e-3
    assert np.abs(float_y_hat).max() > 0.05  # the synthesis is not trivially zero


def test_integer_arm_matches_float_arm():
    model = random_model((16, 24), seed=2)
    values = network_integers(model, EXPONENTS)
    nets = networks_from_values(model.arch, len(model.grids.shapes), values, EXPONENTS)
    grid = np.rint(model.grids.values()[0].detach().numpy()[0, 0]).astype(np.int64)
    contexts = grid_contexts(grid, nets.arm.offsets)
    mu, log_scale = integer_arm_raw(contexts, nets.arm)
    with torch.no_grad():
        mu_f, log_scale_f = model.arm(torch.from_numpy(contexts).float())
    assert np.abs(mu / 2**16 - mu_f.numpy()).max() < 1e-3
    assert np.abs(log_scale / 2**16 - log_scale_f.numpy()).max() < 1e-3
    mu_index, scale_index = integer_arm(contexts, nets.arm)
    assert np.abs(mu_index / tables.MU_STEPS - mu_f.numpy()).max() <= 0.5 / tables.MU_STEPS + 1e-3
    # Batched == one by one: integer arithmetic does not depend on the batch.
    for i in (0, 7, len(contexts) - 1):
        one_mu, one_scale = integer_arm(contexts[i : i + 1], nets.arm)
        assert (one_mu[0], one_scale[0]) == (mu_index[i], scale_index[i])


def test_grid_contexts_match_torch():
    from clric_utils.codec.arm import gather_context

    grid = np.random.default_rng(0).integers(-9, 9, (7, 11))
    for n in (8, 16, 24, 32):
        offsets = tuple(causal_offsets(n))
        ours = grid_contexts(grid, offsets)
        theirs = gather_context(torch.from_numpy(grid)[None, None].float(), list(offsets))
        assert np.array_equal(ours, theirs.numpy().astype(np.int64))


@pytest.mark.parametrize("channels", [1, 3])
def test_wavefront_order_is_causal(channels):
    for n in (8, 16, 24, 32):
        offsets = causal_offsets(n)
        radius = context_radius(offsets)
        height, width = 6, 9
        size = height * width
        order = wavefront_order(channels, height, width, radius)
        assert sorted(order.tolist()) == list(range(channels * size))
        rank = np.empty(channels * size, dtype=np.int64)
        rank[order] = np.arange(channels * size)
        for index in range(channels * size):
            c, (y, x) = index // size, divmod(index % size, width)
            for dy, dx in offsets:
                if 0 <= y + dy < height and 0 <= x + dx < width:
                    assert rank[c * size + (y + dy) * width + x + dx] < rank[index]


def test_tables_are_fixed():
    """Golden values: every machine must compute exactly these tables."""
    assert tables.scale_value(0) == pytest.approx(math.exp(-4.6), rel=1e-5)
    assert tables.scale_value(tables.SCALE_LEVELS - 1) == pytest.approx(math.exp(5.0), rel=1e-5)
    values = [tables.scale_value(i) for i in range(tables.SCALE_LEVELS)]
    assert values == sorted(values)
    ls = np.array([-10**9, tables.LOG_SCALE_MIN_Q, 0, tables.LOG_SCALE_MAX_Q, 10**9])
    assert tables.scale_index(ls).tolist() == [0, 0, 61, 127, 127]
    assert tables.mu_index(np.array([0, 2047, 2048, -2048, -2049, 65536])).tolist() == [
        0, 0, 1, 0, -1, 16,
    ]
    digest = hashlib.sha256()
    for s in range(0, tables.SCALE_LEVELS, 9):
        for phase in (0, 5, 15):
            digest.update(tables.relative_grid_pmf(s, phase, 40).astype(np.int64).tobytes())
    digest.update(tables.weight_pmf(3.25, 50).astype(np.int64).tobytes())
    assert digest.hexdigest()[:16] == GOLDEN_TABLE_DIGEST


GOLDEN_TABLE_DIGEST = "3c6220c795e4dff1"


def test_grid_pmf_matches_laplace():
    b = tables.scale_value(70)
    pmf = tables.relative_grid_pmf(70, 4, 30) / 2.0**tables.PMF_BITS
    mu = 4 / tables.MU_STEPS
    d = np.arange(-29, 30)

    def cdf(x):
        return np.where(x >= 0, 1 - 0.5 * np.exp(-x / b), 0.5 * np.exp(x / b))

    exact = np.maximum(cdf(d + 0.5 - mu) - cdf(d - 0.5 - mu), 2.0**-16)
    assert np.abs(pmf - exact).max() < 1e-8


def test_round_trip_bit_exact(small):
    model, encoded = small
    decoded = decode_file(encoded.data)
    assert np.array_equal(decoded.y_hat, encoded.y_hat)
    assert all(np.array_equal(a, b) for a, b in zip(decoded.grids, encoded.grids, strict=True))
    expected = network_integers(model, EXPONENTS)
    assert decoded.values.keys() == expected.keys()
    assert all(np.array_equal(decoded.values[k], expected[k]) for k in expected)
    rebuilt = model_from_integers(decoded.header, decoded.grids, decoded.values)
    with torch.no_grad():
        assert torch.equal(rebuilt("hard").y_hat, model("hard").y_hat)


def test_same_bytes_with_1_or_2_threads():
    model = random_model((24, 32), seed=5)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _encode(model, image_size=(192, 256))
        torch.set_num_threads(2)
        two = _encode(model, image_size=(192, 256))
        decoded_two = decode_file(one.data)
        torch.set_num_threads(1)
        decoded_one = decode_file(two.data)
    finally:
        torch.set_num_threads(previous)
    assert one.data == two.data
    assert np.array_equal(one.y_hat, two.y_hat)
    assert np.array_equal(decoded_one.y_hat, one.y_hat)
    assert np.array_equal(decoded_two.y_hat, one.y_hat)


_ENCODE_SCRIPT = """
import sys, numpy as np, torch
sys.path.insert(0, {tests!r})
torch.set_num_threads(2)
from test_bitstream_helpers import EXPONENTS, random_model
from clric_utils.bitstream import encode_model
model = random_model((16, 24), seed=11)
enc = encode_model(model, EXPONENTS, image_size=(128, 192), vae_name="tiny",
                   vae_scaling_factor=1.5, preset="paper", lmbda=1e-3, estimated_bits=0.0)
open({clric!r}, "wb").write(enc.data)
np.save({npy!r}, enc.y_hat)
"""

_DECODE_SCRIPT = """
import numpy as np, torch
torch.set_num_threads(1)
from clric_utils.api import decompress_latent
np.save({npy!r}, decompress_latent(open({clric!r}, "rb").read()).y_hat.numpy())
"""


def test_encode_and_decode_in_separate_processes(tmp_path):
    clric, encoder_npy, decoder_npy = tmp_path / "a.clric", tmp_path / "e.npy", tmp_path / "d.npy"
    tests = str(Path(__file__).parent)
    for script in (
        _ENCODE_SCRIPT.format(tests=tests, clric=str(clric), npy=str(encoder_npy)),
        _DECODE_SCRIPT.format(clric=str(clric), npy=str(decoder_npy)),
    ):
        subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO, timeout=120)
    a, b = np.load(encoder_npy), np.load(decoder_npy)
    assert a.dtype == b.dtype == np.float32
    assert a.tobytes() == b.tobytes()


def test_header_round_trip(small):
    _, encoded = small
    header = parse_header(encoded.data)
    assert header == encoded.header
    assert header.header_bytes == encoded.header.header_bytes
    assert header.total_bytes == len(encoded.data)
    assert header.bpp == 8 * len(encoded.data) / (64 * 96)
    assert header.vae_name == "tiny" and header.vae_scaling_factor == 1.5
    assert header.arch == get_preset("paper")
    assert header.exponents == EXPONENTS


def test_header_round_trip_custom_arch():
    arch = ArchConfig(
        n_levels=3, arm_context=24, arm_hidden_layers=0, upsampling_taps=4,
        synthesis=parse_synthesis("9-1-linear-none,3-5-linear-relu,3-3-residual-none"),
        latent_channels=3,
    )
    header = Header(
        image_height=1000, image_width=7, vae_name="ünïcode/vae", vae_scaling_factor=0.1875,
        preset="custom", arch=arch, lmbda=0.015625, estimated_bits=12345.5,
        exponents={"arm": (0, 24), "upsampling": (3, 0), "synthesis": (16, 1)},
        weight_groups=[], grid_ranges=[], weights_bytes=8, grids_bytes=0,
    )
    shapes = header.grid_shapes
    header.grid_ranges = [(-300, 1000)] + [(5, 5)] * (len(shapes) - 1)
    from clric_utils.bitstream.header import WeightGroup

    layout = parameter_layout(arch, len(shapes))
    groups = coding_groups(layout)
    header.weight_groups = [
        WeightGroup(n, k, 0.25 * (i + 1), 1000 * i) for i, (n, k) in enumerate(groups)
    ]
    data = finish_file(pack_header(header), b"\1\2\3\4\5\6\7\x08", b"")
    parsed = parse_header(data)
    assert parsed == header


def test_constant_grids_and_zero_weights():
    model = random_model((6, 10), seed=4)
    with torch.no_grad():
        model.arm.out.weight.zero_()
        model.arm.out.bias.zero_()
        model.grids.set_values([torch.full((1, 1, *s), 7.0) for s in model.grids.shapes])
    encoded = _encode(model, image_size=(48, 80))
    assert encoded.header.grid_ranges == [(7, 7)] * len(model.grids.shapes)
    assert encoded.grids_bits == 0
    decoded = decode_file(encoded.data)
    assert np.array_equal(decoded.y_hat, encoded.y_hat)
    assert np.array_equal(decoded.values["arm.out.weight"], np.zeros((2, 16), dtype=np.int64))


def test_rate_close_to_estimate():
    """Grids drawn from the model's own ARM: the file is within 1% of the ideal code length."""
    torch.set_num_threads(1)
    model = random_model((64, 96), seed=1, sample_from_arm=True)
    with torch.no_grad():
        latent_bits = float(model("hard").bits)
    integers = quantized_integers(model, EXPONENTS)
    weight_bits = sum(
        weight_code_bits(group)
        for network in integers.values()
        for group in group_integers(network)
    )
    encoded = _encode(model, image_size=(512, 768), estimated_bits=latent_bits + weight_bits)
    assert latent_bits > 10_000
    assert abs(encoded.grids_bits - latent_bits) < 0.01 * latent_bits
    assert abs(encoded.weights_bits - weight_bits) < 0.01 * weight_bits + 64
    payload = encoded.grids_bits + encoded.weights_bits
    assert abs(payload - (latent_bits + weight_bits)) < 0.01 * (latent_bits + weight_bits)
    assert len(encoded.data) == encoded.header.header_bytes + payload // 8 + 4
    assert encoded.header.header_bytes < 120
    assert encoded.header.estimated_bits == pytest.approx(latent_bits + weight_bits, rel=1e-6)


def test_unquantized_networks_refused():
    model = random_model((8, 12))
    with torch.no_grad():
        model.synthesis.layers[0].conv.weight[0, 0, 0, 0] += 1e-3
    with pytest.raises(ParameterError, match="not quantized"):
        _encode(model)


def test_fixed_point_overflow_refused():
    model = random_model((8, 12))
    big = {"arm": (8, 10), "upsampling": (8, 8), "synthesis": (24, 24)}
    with torch.no_grad():
        for layer in model.synthesis.layers:
            layer.conv.weight.fill_(60.0)
    with pytest.raises(ParameterError):
        _encode(model, exponents=big)


def test_integer_y_hat_independent_of_batching():
    """The integer decoder's ŷ equals a re-run (no hidden state, no float reductions)."""
    model = random_model((9, 13), seed=8)
    encoded = _encode(model, image_size=(72, 104))
    again = integer_decoder_y_hat(encoded.grids, encoded.networks, model.arch)
    assert np.array_equal(again, encoded.y_hat)


def test_encode_integers_checks_shapes():
    model = random_model((8, 12))
    values = network_integers(model, EXPONENTS)
    with pytest.raises(ParameterError, match="grid shapes"):
        encode_integers(
            [np.zeros((2, 2), dtype=np.int64)], values, EXPONENTS, model.arch,
            image_size=(64, 96), vae_name="tiny", vae_scaling_factor=1.0, preset="paper",
            lmbda=1.0, estimated_bits=0.0,
        )


def test_encode_integers_refuses_what_the_decoder_refuses():
    model = random_model((8, 12))
    values = network_integers(model, EXPONENTS)
    grids = [np.zeros(shape, dtype=np.int64) for shape in [g.shape[1:] for g in
             model.quantized_grids("hard")]]
    kwargs = dict(vae_name="tiny", vae_scaling_factor=1.0, preset="paper", lmbda=1.0,
                  estimated_bits=0.0)
    wide = [g.copy() for g in grids]
    wide[0][0, 0, 0] = tables.MAX_GRID_RANGE  # span MAX_GRID_RANGE + 1 values
    with pytest.raises(ParameterError, match="spans"):
        encode_integers(wide, values, EXPONENTS, model.arch, image_size=(64, 96), **kwargs)
    with pytest.raises(ParameterError, match="image size"):
        encode_integers(grids, values, EXPONENTS, model.arch, image_size=(0, 96), **kwargs)
    huge = dict(values)
    huge["synthesis.layers.0.conv.bias"] = values["synthesis.layers.0.conv.bias"].copy()
    huge["synthesis.layers.0.conv.bias"][0] = np.iinfo(np.int64).min
    with pytest.raises(ParameterError, match="beyond"):
        encode_integers(grids, huge, EXPONENTS, model.arch, image_size=(64, 96), **kwargs)


@pytest.mark.parametrize("changes, match", [
    ({"synthesis": ()}, "at least one layer"),
    ({"upsampling_taps": 6}, "upsampling_taps"),
    ({"arm_hidden_layers": -1}, "arm_hidden_layers"),
    ({"synthesis": parse_synthesis("8-1-linear-relu,4-3-residual-none")}, "residual"),
    ({"n_levels": 3, "synthesis": parse_synthesis("4-3-residual-none")}, "residual"),
])
def test_arch_config_validation(changes, match):
    with pytest.raises(ParameterError, match=match):
        ArchConfig(**changes)
