"""Golden files: every format version this package ever wrote decodes to the same ŷ forever.

The files and how they were made: tests/data/golden/README.md. Pinned like CompressAI pins its
bitstreams: the SHA-256 of each file's bytes (the file itself never changes) and of the ŷ it
decodes to (the decoder never changes what a file means).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from clric_utils.bitstream import decode_file, encode_integers, parse_header

GOLDEN = Path(__file__).parent / "data" / "golden"

#: name → (format version, level channels, latent channels, SHA-256 of the file, of ŷ).
FILES = {
    "v1_paper_astronaut_64x96.clric": (
        1, [1, 1, 1, 1, 1], 4,
        "53ded2a593618adc27d3b57ffab98e19b21ca02176e21d9dc8154850d1230f09",
        "5c952a72e1741e142746d7a618490164cbab0343d3c06e551e6d8254076f3816",
    ),
    "v2_wide_astronaut_64x96.clric": (
        2, [4, 1, 1, 1, 1], 4,
        "2a4d3e93f22f3c6e2997e0e582fb0fe5232817cf6addc7fb405dc7dd1c163fc3",
        "d196b43025d59ba052e8d3baab96558207cdb668d23e063c5ed9b68e6e4ffb98",
    ),
    "v3_slim_taef2_astronaut_64x96.clric": (
        3, [8, 1, 1, 1, 1], 32,
        "33c3ac038b7689de8667aa7523ab1be91803ac94ac4c5bb083096a24e207c98c",
        "a517665a8d5ea3b5184d92dff3832143465cd00844d83c7fcdeacf22f0d2a7a1",
    ),
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_again(decoded):
    """Today's encoder on a decoded file's integers and header fields."""
    header = decoded.header
    return encode_integers(
        decoded.grids, decoded.values, header.exponents, header.arch,
        image_size=(header.image_height, header.image_width), vae_name=header.vae_name,
        vae_scaling_factor=header.vae_scaling_factor, preset=header.preset,
        lmbda=header.lmbda, estimated_bits=header.estimated_bits,
    )


@pytest.mark.parametrize("name", sorted(FILES))
def test_golden_file_decodes_to_pinned_y_hat(name):
    version, channels, latent_channels, file_hash, y_hash = FILES[name]
    data = (GOLDEN / name).read_bytes()
    assert _sha256(data) == file_hash
    header = parse_header(data)
    assert header.version == version
    assert header.level_channels == channels
    assert (header.image_height, header.image_width) == (64, 96)
    y_hat = decode_file(data).y_hat
    assert y_hat.shape == (1, latent_channels, 8, 12)
    assert _sha256(np.ascontiguousarray(y_hat, dtype="<f4").tobytes()) == y_hash


@pytest.mark.parametrize("name", ["v2_wide_astronaut_64x96.clric",
                                  "v3_slim_taef2_astronaut_64x96.clric"])
def test_writer_reproduces_the_golden_file(name):
    """Decoding a v2 or v3 golden file and writing its integers again gives the same bytes:
    today's encoder picks the same version (2 for 4-channel latents, 3 for TAEF2's 32)."""
    data = (GOLDEN / name).read_bytes()
    decoded = decode_file(data)
    again = _write_again(decoded)
    assert again.data == data
    assert np.array_equal(again.y_hat, decoded.y_hat)


def test_version_1_file_re_encodes_as_version_2_with_the_same_y_hat():
    """A v1 file's content written by today's encoder: a v2 file with the same ŷ."""
    data = (GOLDEN / "v1_paper_astronaut_64x96.clric").read_bytes()
    decoded = decode_file(data)
    header = decoded.header
    again = _write_again(decoded)
    assert again.header.version == 2
    assert np.array_equal(decode_file(again.data).y_hat, decoded.y_hat)
    # Version 2 adds one channel count per declared level and interleaves the levels' grids;
    # the weights payload is the same bytes, the grids payload codes the same values.
    start = header.header_bytes
    assert again.data[again.header.header_bytes :][: header.weights_bytes] == data[start:][
        : header.weights_bytes]
    assert abs(again.header.grids_bytes - header.grids_bytes) <= 8


def test_version_3_is_refused_by_the_version_2_limits():
    """The v3 golden file with its version byte set to 2 (CRC fixed) is refused: 32 latent
    channels exceed version 2's 16, so an old-format reader never misreads a TAEF2 file."""
    import struct
    import zlib

    from clric_utils.errors import ClricFormatError

    data = bytearray((GOLDEN / "v3_slim_taef2_astronaut_64x96.clric").read_bytes())
    data[4] = 2
    data[-4:] = struct.pack("<I", zlib.crc32(bytes(data[:-4])) & 0xFFFFFFFF)
    with pytest.raises(ClricFormatError, match="32 latent channels"):
        parse_header(bytes(data))
