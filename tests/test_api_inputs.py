"""Python API input checks (issue 15, finding 10): every bad argument raises the project's
error types before any heavy work, and no input is silently misread."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clric_utils.api import EncodeResult, compress, decompress, read_header
from clric_utils.codec.schedule import Effort
from clric_utils.errors import ClricFormatError, ImageReadError, ParameterError

QUICK = Effort("test", 3, 1, 1, check_every=3)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)


def _compress(image, **kwargs):
    return compress(image, **{"vae": "tiny", "effort": QUICK, "progress": False, **kwargs})


@pytest.mark.parametrize("tensor, match", [
    (torch.zeros(1, 3, 0, 0), "empty"),
    (torch.full((1, 3, 1, 1), -0.5), "at least 8"),
    (torch.full((1, 3, 4, 64), -0.5), "at least 8"),
    (torch.rand(1, 3, 32, 32), r"\[0, 1\]"),
])
def test_bad_tensors_are_image_read_errors(tensor, match):
    with pytest.raises(ImageReadError, match=match):
        _compress(tensor, lmbda=1.0)


def test_small_arrays_are_refused_like_on_the_command_line():
    with pytest.raises(ImageReadError, match="at least 8"):
        _compress(np.zeros((1, 1, 3), dtype=np.uint8), lmbda=1.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"preset": None}, "preset"),
    ({"preset": "huge"}, "preset"),
    ({"seed": "abc"}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"seed": 2**64}, "seed"),
    ({"seed": -1}, "seed"),
    ({"lmbda": "x"}, "λ"),
    ({"lmbda": None, "target_bpp": "x"}, "target"),
    ({"effort": "forever"}, "effort"),
    ({"max_memory": -1}, "max_memory"),
])
def test_bad_arguments_are_parameter_errors(image, kwargs, match):
    arguments = {"lmbda": 1.0, **kwargs}
    with pytest.raises(ParameterError, match=match):
        _compress(image, **arguments)


def test_nul_in_paths(image, tmp_path):
    with pytest.raises(ImageReadError, match="NUL"):
        _compress("photo\0.png", lmbda=1.0)
    with pytest.raises(ClricFormatError, match="NUL"):
        decompress("file\0.clric")
    result = EncodeResult(b"CLRC", None, None, None, 0.0, 0.0, 0)
    with pytest.raises(ParameterError, match="NUL"):
        result.save(str(tmp_path / "x\0.clric"))


def test_target_below_the_header_rate_is_refused_before_fitting(image):
    with pytest.raises(ParameterError, match="header alone"):
        _compress(image, target_bpp=1e-6)


def test_strict_target_names_the_closest_rate(image):
    with pytest.raises(ParameterError, match="closest is"):
        _compress(image, target_bpp=0.6, strict=True)


def test_a_valid_api_encode_still_works(image, tmp_path):
    result = _compress(torch.from_numpy(image).permute(2, 0, 1)[None] / 127.5 - 1, lmbda=1.0)
    path = result.save(tmp_path / "x.clric")
    assert read_header(path).image_width == 48
