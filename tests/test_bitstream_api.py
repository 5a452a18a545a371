"""api: compress → bytes → decompress, with the seeded random ``tiny`` VAE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clric_utils.api import compress, decompress, decompress_latent, read_header
from clric_utils.codec.schedule import Effort
from clric_utils.errors import ClricFormatError, ImageReadError, ParameterError

QUICK = Effort("test", 40, 8, 4, check_every=40)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A smooth 40×56 test picture (not a multiple of 8: exercises padding and cropping)."""
    y, x = np.mgrid[0:40, 0:56]
    rgb = np.stack([x * 4, y * 6, (x + y) * 2], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_compress_decompress(image):
    torch.set_num_threads(1)
    result = compress(image, vae="tiny", lmbda=1e-3, effort=QUICK, progress=False)
    assert result.bpp == 8 * len(result.data) / (40 * 56)
    assert result.y_hat.shape == result.latent.shape == (1, 4, 5, 7)
    assert result.header_bytes == read_header(result.data).header_bytes
    assert result.estimated_bits == pytest.approx(result.fit.estimated_bits)
    latent = decompress_latent(result.data)
    assert torch.equal(latent.y_hat, result.y_hat)
    assert latent.header.vae_name == "tiny"
    picture = decompress(result.data)
    assert picture.shape == (1, 3, 40, 56)
    assert picture.min() >= -1 and picture.max() <= 1


@pytest.mark.filterwarnings("ignore:rate control:RuntimeWarning")
def test_compress_target_bpp(image):
    torch.set_num_threads(1)
    result = compress(image, vae="tiny", target_bpp=4.0, effort=QUICK, progress=False)
    assert result.bpp == 8 * len(result.data) / (40 * 56)
    assert result.fit.lmbda > 0


def test_bad_arguments(image, tmp_path):
    with pytest.raises(ParameterError, match="exactly one"):
        compress(image, vae="tiny")
    with pytest.raises(ParameterError, match="exactly one"):
        compress(image, vae="tiny", lmbda=1e-3, target_bpp=1.0)
    with pytest.raises(ImageReadError):
        compress(np.zeros((4, 4), dtype=np.uint8), vae="tiny", lmbda=1e-3)
    with pytest.raises(ImageReadError):
        compress(torch.full((1, 3, 16, 16), 3.0), vae="tiny", lmbda=1e-3)
    with pytest.raises(ClricFormatError, match="cannot read"):
        decompress_latent(tmp_path / "missing.clric")
    with pytest.raises(ClricFormatError):
        read_header(b"CLRC")
