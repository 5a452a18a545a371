"""Image reading, conversion and writing (``clric_utils.images``)."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from clric_utils.errors import ImageReadError
from clric_utils.images import (
    MIN_SIDE,
    crop_center,
    image_to_tensor,
    read_image,
    save_png,
    tensor_to_image,
)


def _png_bytes(samples: np.ndarray, bit_depth: int, colour_type: int) -> bytes:
    """A minimal PNG file (no filtering) written by hand, e.g. 48-bit RGB that Pillow can't save."""
    height, width = samples.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\x00" + samples[row].astype(dtype).tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _read_quietly(path: Path) -> tuple[np.ndarray, list[str]]:
    """``read_image`` plus the messages of the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        array = read_image(path)
    return array, [str(w.message) for w in caught]


def test_rgb_png_reads_exactly(small_image, write_image):
    path = write_image(small_image, "rgb.png")
    array, messages = _read_quietly(path)
    assert array.dtype == np.uint8 and array.shape == (75, 100, 3)
    assert np.array_equal(array, small_image)
    assert messages == []


def test_grayscale_becomes_rgb(small_image, write_image):
    path = write_image(small_image, "gray.png", mode="L")
    array, messages = _read_quietly(path)
    assert array.shape == (75, 100, 3)
    assert np.array_equal(array[:, :, 0], array[:, :, 1])
    assert messages == []


def test_palette_becomes_rgb(small_image, write_image):
    path = write_image(small_image, "palette.png", mode="P")
    array, _ = _read_quietly(path)
    assert array.shape == (75, 100, 3) and array.dtype == np.uint8


def test_opaque_rgba_is_silent(small_image, write_image):
    rgba = np.dstack([small_image, np.full(small_image.shape[:2], 255, np.uint8)])
    array, messages = _read_quietly(write_image(rgba, "opaque.png"))
    assert np.array_equal(array, small_image)
    assert messages == []


def test_transparent_rgba_is_flattened_on_white(small_image, write_image):
    alpha = np.full(small_image.shape[:2], 255, np.uint8)
    alpha[:10] = 0
    alpha[10:20] = 128
    path = write_image(np.dstack([small_image, alpha]), "transparent.png")
    array, messages = _read_quietly(path)
    assert np.all(array[:10] == 255)
    expected = np.rint(small_image[10:20] * (128 / 255) + 255 * (127 / 255))
    assert np.abs(array[10:20].astype(int) - expected).max() <= 1
    assert np.array_equal(array[20:], small_image[20:])
    assert any("transparen" in m and "transparent.png" in m for m in messages)


def test_grayscale_alpha_becomes_rgb(small_image, write_image):
    la = np.dstack([small_image[:, :, 0], np.full(small_image.shape[:2], 255, np.uint8)])
    array, _ = _read_quietly(write_image(la, "la.png"))
    assert array.shape == (75, 100, 3)


def test_16bit_grayscale_is_reduced_with_warning(tmp_path):
    values = np.linspace(0, 65535, 16 * 16).reshape(16, 16).astype(np.uint16)
    path = tmp_path / "gray16.png"
    path.write_bytes(_png_bytes(values, 16, 0))
    array, messages = _read_quietly(path)
    assert array.shape == (16, 16, 3)
    assert np.abs(array[:, :, 0].astype(int) - np.rint(values / 257)).max() <= 1
    assert any("16-bit" in m and "gray16.png" in m for m in messages)


def test_48bit_rgb_is_reduced_with_warning(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 65536, size=(16, 16, 3), dtype=np.uint16)
    path = tmp_path / "rgb48.png"
    path.write_bytes(_png_bytes(values, 16, 2))
    array, messages = _read_quietly(path)
    assert array.shape == (16, 16, 3)
    assert np.abs(array.astype(int) - values / 257.0).max() <= 1.0
    assert any("16-bit" in m and "rgb48.png" in m for m in messages)


def test_jpeg_reads(small_image, write_image):
    array, _ = _read_quietly(write_image(small_image, "photo.jpg", quality=95))
    assert array.shape == (75, 100, 3)
    assert np.abs(array.astype(int) - small_image.astype(int)).mean() < 4


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ImageReadError, match=r"nothere\.png.*no such file"):
        read_image(tmp_path / "nothere.png")


def test_non_image_is_named(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    with pytest.raises(ImageReadError, match=r"notes\.png.*not an image"):
        read_image(path)


def test_truncated_png_is_an_error(small_image, write_image):
    path = write_image(small_image, "whole.png")
    data = path.read_bytes()
    truncated = path.with_name("cut.png")
    truncated.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageReadError, match=r"cut\.png.*truncated"):
        read_image(truncated)


def test_corrupted_png_is_an_error(kodim01_path, tmp_path):
    data = bytearray(kodim01_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "flipped.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=r"flipped\.png"):
        read_image(path)


def test_too_small_image_names_the_minimum(write_image):
    path = write_image(np.zeros((MIN_SIDE - 1, 50, 3), np.uint8), "sliver.png")
    with pytest.raises(ImageReadError, match=rf"sliver\.png.*at least {MIN_SIDE} pixels"):
        read_image(path)


def test_tensor_round_trip_is_exact():
    values = np.arange(256, dtype=np.uint8)
    array = np.stack([values, values[::-1], np.roll(values, 7)], axis=1).reshape(16, 16, 3)
    tensor = image_to_tensor(array)
    assert tensor.shape == (1, 3, 16, 16) and tensor.dtype == torch.float32
    assert tensor.min() == -1.0 and tensor.max() == 1.0
    assert np.array_equal(tensor_to_image(tensor), array)


def test_tensor_to_image_clamps_and_rounds():
    # -3 and 3 clamp to 0 and 255; 10.4 levels (in [-1, 1] units) round to 10.
    tensor = torch.tensor([-3.0, 3.0, 10.4 / 127.5 - 1.0]).reshape(1, 3, 1, 1)
    assert tensor_to_image(tensor).ravel().tolist() == [0, 255, 10]


def test_image_to_tensor_rejects_wrong_input():
    with pytest.raises(ValueError):
        image_to_tensor(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError):
        image_to_tensor(np.zeros((8, 8, 3), np.float32))


def test_save_png_round_trip(small_image, tmp_path):
    path = save_png(image_to_tensor(small_image), tmp_path / "sub" / "out.png")
    assert np.array_equal(read_image(path), small_image)


def test_crop_center(small_image):
    crop = crop_center(small_image, 32, 48)
    assert crop.shape == (32, 48, 3)
    assert np.array_equal(crop, small_image[21:53, 26:74])
    tensor_crop = crop_center(image_to_tensor(small_image), 32, 48)
    assert np.array_equal(tensor_to_image(tensor_crop), crop)
    with pytest.raises(ValueError):
        crop_center(small_image, 80, 10)


def test_image_files_lists_images_only(small_image, tmp_path):
    from clric_utils.errors import DatasetMissingError
    from clric_utils.images import image_files, save_png

    save_png(small_image, tmp_path / "b.png")
    save_png(small_image, tmp_path / "a.PNG")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in image_files(tmp_path)] == ["a.PNG", "b.png"]
    with pytest.raises(DatasetMissingError):
        image_files(tmp_path / "absent")
    with pytest.raises(ImageReadError):
        image_files(tmp_path / "b.png")


def test_32bit_integer_tiff_is_refused_not_white(tmp_path):
    """Issue 15, finding 7: mode I (32-bit) used to come out uniform white, called 16-bit."""
    from PIL import Image

    values = (np.arange(32 * 48).reshape(32, 48) * 100_000).astype(np.int32)
    path = tmp_path / "i32.tif"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "I"
    with pytest.raises(ImageReadError, match="32-bit integer"):
        read_image(path)


def test_16bit_pgm_in_mode_i_still_reads(tmp_path):
    """Pillow opens 16-bit PGM files in mode I: values within 16 bits keep working."""
    values = (np.arange(16 * 16).reshape(16, 16) * 200).astype(">u2")
    path = tmp_path / "gray.pgm"
    path.write_bytes(b"P5\n16 16\n65535\n" + values.tobytes())
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        array = read_image(path)
    expected = np.clip(np.rint(values.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
    assert np.array_equal(array[..., 0], expected)


def test_nul_in_path_is_an_image_read_error():
    with pytest.raises(ImageReadError, match="NUL"):
        read_image("a\0b.png")
