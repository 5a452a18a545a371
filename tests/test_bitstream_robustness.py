"""Malformed .clric files: every one must raise ClricFormatError, quickly and cheaply."""

from __future__ import annotations

import struct
import sys
import tracemalloc
import zlib
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from clric_utils.bitstream import decode_file, parse_header
from clric_utils.bitstream.header import Header, WeightGroup, finish_file, pack_header
from clric_utils.codec.arch import SynthesisLayer
from clric_utils.errors import ClricFormatError

REPO = Path(__file__).resolve().parents[1]


# On sys.path (not loaded from a file path) so that the fuzzer's spawned worker, which
# inherits sys.path, can import it too.
sys.path.insert(0, str(REPO / "benchmarks"))
import fuzz_decoder as fuzzer  # noqa: E402


@pytest.fixture(scope="module")
def sample():
    """A small valid file and its header length."""
    return fuzzer.sample_file(seed=0)


def _fix_crc(data: bytes) -> bytes:
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]) & 0xFFFFFFFF)


def test_sample_decodes(sample):
    data, header_bytes = sample
    decoded = decode_file(data)
    assert decoded.header.header_bytes == header_bytes


def test_every_truncation_is_a_format_error(sample):
    data, _ = sample
    for length in range(len(data)):
        with pytest.raises(ClricFormatError):
            decode_file(data[:length])


def test_every_bit_flip_is_a_format_error(sample):
    data, _ = sample
    rng = np.random.default_rng(0)
    for position in range(len(data)):
        corrupted = bytearray(data)
        corrupted[position] ^= 1 << int(rng.integers(8))
        with pytest.raises(ClricFormatError):
            decode_file(bytes(corrupted))


def test_messages(sample):
    data, _ = sample
    with pytest.raises(ClricFormatError, match="not a .clric file"):
        decode_file(b"PNG\x89" + data[4:])
    with pytest.raises(ClricFormatError, match="not a .clric file"):
        decode_file(b"")
    message = r"unsupported .clric version 4 \(this decoder reads 1, 2 and 3\)"
    with pytest.raises(ClricFormatError, match=message):
        decode_file(data[:4] + b"\x04" + data[5:])
    with pytest.raises(ClricFormatError):  # a version-2 file read as version 1
        decode_file(_fix_crc(data[:4] + b"\x01" + data[5:]))
    with pytest.raises(ClricFormatError, match="trailing bytes"):
        decode_file(data + b"\0")
    with pytest.raises(ClricFormatError, match="trailing bytes"):
        decode_file(_fix_crc(data + b"garbage!"))
    with pytest.raises(ClricFormatError, match="CRC"):
        decode_file(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ClricFormatError):
        decode_file("not bytes")  # type: ignore[arg-type]


def _raw_header(**changes) -> bytes:
    """A header with arbitrary (possibly absurd) fields, packed without validation."""
    layers = [SynthesisLayer(4, 1, "linear", "none")]
    arch = SimpleNamespace(n_levels=1, arm_context=8, arm_hidden_layers=0, upsampling_taps=4,
                           latent_channels=4, synthesis=layers, level_channels=())
    header = Header(
        image_height=8, image_width=8, vae_name="tiny", vae_scaling_factor=1.0, preset="p",
        arch=arch, lmbda=1.0, estimated_bits=0.0,
        exponents={"arm": (8, 8), "upsampling": (8, 8), "synthesis": (8, 8)},
        weight_groups=[WeightGroup("arm", "weight", 1.0, 0), WeightGroup("arm", "bias", 1.0, 0),
                       WeightGroup("synthesis", "weight", 1.0, 0),
                       WeightGroup("synthesis", "bias", 1.0, 0)],
        grid_ranges=[(0, 0)],
    )
    arch_changes = {k: changes.pop(k) for k in list(changes) if hasattr(arch, k)}
    for key, value in arch_changes.items():
        setattr(arch, key, value)
    header = replace(header, **changes)
    return finish_file(pack_header(header), b"", b"")


def test_minimal_raw_header_decodes():
    decoded = decode_file(_raw_header())
    assert decoded.y_hat.shape == (1, 4, 1, 1)


@pytest.mark.parametrize(
    "changes",
    [
        {"image_height": 60000},
        {"image_width": 16385},
        {"image_height": 16384, "image_width": 16384},  # beyond the pixel budget
        {"image_height": 0},
        {"n_levels": 200},
        {"level_channels": (0,)},
        {"level_channels": (17,)},
        {"level_channels": (16,), "synthesis": [SynthesisLayer(4, 3, "residual", "none")]},
        {"n_levels": 0},
        {"arm_context": 7},
        {"arm_hidden_layers": 255},
        {"upsampling_taps": 255},
        {"upsampling_taps": 3},
        {"latent_channels": 0},
        {"synthesis": [SynthesisLayer(256, 9, "linear", "relu")] * 16
         + [SynthesisLayer(4, 1, "linear", "none")]},
        {"synthesis": [SynthesisLayer(200, 9, "linear", "relu"),
                       SynthesisLayer(200, 9, "linear", "relu"),
                       SynthesisLayer(4, 1, "linear", "none")]},  # too many parameters
        {"synthesis": [SynthesisLayer(5, 1, "linear", "none")]},  # ≠ latent channels
        {"synthesis": [SynthesisLayer(4, 3, "residual", "none")]},  # 1 grid ≠ 4 channels
        {"vae_scaling_factor": float("nan")},
        {"lmbda": float("inf")},
        {"estimated_bits": -1.0},
        {"exponents": {"arm": (8, 8), "upsampling": (8, 8), "synthesis": (-3, 8)}},
        {"exponents": {"arm": (25, 8), "upsampling": (8, 8), "synthesis": (8, 8)}},
        {"weight_groups": [WeightGroup("arm", "weight", 1.0, 2**30)] * 4},
        {"weight_groups": [WeightGroup("arm", "weight", 0.0, 1)] * 4},
        {"grid_ranges": [(0, 1_000_000)]},
        {"grid_ranges": [(-2**30, 0)]},
        {"weights_bytes": 4 * 2**30},
        {"grids_bytes": 4 * 1000},
    ],
)
def test_absurd_fields_are_refused_cheaply(changes):
    data = _raw_header(**changes)
    tracemalloc.start()
    try:
        with pytest.raises(ClricFormatError):
            decode_file(data)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 20 * 2**20  # refused before any allocation the claimed sizes would need


def test_strings_must_be_utf8_and_printable(sample):
    data, _ = sample
    position = data.index(b"\x04tiny")
    for bad in (b"\x04ti\xffy", b"\x04ti\ny"):
        with pytest.raises(ClricFormatError, match="header"):
            parse_header(_fix_crc(data[:position] + bad + data[position + 5 :]))


def test_overlong_varint_refused():
    data = _raw_header()
    # image height 8 is the byte 0x08 right after magic and version; 0x88 0x00 is overlong.
    assert data[5] == 8
    with pytest.raises(ClricFormatError, match="overlong"):
        parse_header(_fix_crc(data[:5] + b"\x88\x00" + data[6:]))


def test_payload_longer_than_its_symbols(sample):
    data, _ = sample
    header = parse_header(data)
    body = data[: header.header_bytes]
    start = header.header_bytes
    weights = data[start : start + header.weights_bytes]
    grids = data[start + header.weights_bytes : -4]
    longer = replace(header, grids_bytes=header.grids_bytes + 8)
    padded = finish_file(pack_header(longer), weights, grids + b"\x55" * 8)
    assert body != pack_header(longer)
    with pytest.raises(ClricFormatError):
        decode_file(padded)


def test_fuzz_mutations_never_crash_or_hang():
    """Seeded mutations (CRC-fixed ones included): each decodes or raises ClricFormatError."""
    counts, problems = fuzzer.fuzz(300, seed=1, timeout=10.0)
    assert problems == []
    assert counts["crash"] == counts["hang"] == 0
    assert counts["clean_error"] + counts["decoded"] == 300
    # The CRC-fixed mutations reach the parser and the decoder.
    crc_fixed = sum(v for k, v in counts.items() if k.startswith("crc_"))
    assert crc_fixed > 100
