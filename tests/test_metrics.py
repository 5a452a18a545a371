"""Quality metrics: known answers, input forms, edge cases and offline weight handling."""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from clric_utils.errors import ImageReadError, MissingWeightsError
from clric_utils.metrics import quality
from clric_utils.metrics.backbones import backbone_features_state
from clric_utils.metrics.lpips_offline import load_lpips
from clric_utils.paths import KODAK_ENV, TORCHVISION_WEIGHTS_ENV

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _folder(env: str, fallback: Path) -> Path:
    """The folder named by ``env``, else the shared test-data folder beside the repository."""
    return Path(os.environ.get(env) or fallback)


WEIGHTS = _folder(TORCHVISION_WEIGHTS_ENV, SHARED / "weights" / "torchvision")
KODAK = _folder(KODAK_ENV, SHARED / "data" / "kodak")

pytestmark = pytest.mark.skipif(
    not (WEIGHTS / "vgg16_features.pth").is_file() or not (KODAK / "kodim01.png").is_file(),
    reason="needs Kodak and the torchvision backbone weights (CLRIC_KODAK_DIR, "
    "CLRIC_TORCHVISION_WEIGHTS)",
)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # On a shared 2-core machine, two intra-op threads contending with other jobs run the
    # small metric networks several times slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _offline_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TORCHVISION_WEIGHTS_ENV, str(WEIGHTS))


def _clear_model_caches() -> None:
    backbone_features_state.cache_clear()
    load_lpips.cache_clear()
    quality.load_dists.cache_clear()


def _kodak(number: int) -> np.ndarray:
    return np.asarray(Image.open(KODAK / f"kodim{number:02d}.png").convert("RGB")).copy()


def _jpeg(image: np.ndarray, quality_setting: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality_setting)
    return np.asarray(Image.open(buffer).convert("RGB")).copy()


def test_lpips_alex_known_answer_kodim01_jpeg_q5() -> None:
    image = _kodak(1)
    assert quality.lpips(image, _jpeg(image, 5), "alex") == pytest.approx(0.389, abs=0.01)


def test_psnr_matches_numpy_formula() -> None:
    image = _kodak(3)[:200, :240]
    distorted = _jpeg(image, 20)
    mse = np.mean((image.astype(np.float64) - distorted.astype(np.float64)) ** 2)
    assert quality.psnr(image, distorted) == pytest.approx(10 * np.log10(255.0**2 / mse), abs=1e-9)


def test_identical_images() -> None:
    crop = _kodak(2)[:64, :96]
    scores = quality.all_metrics(crop, crop)
    assert scores["psnr"] == math.inf
    assert math.isnan(scores["ms_ssim"])  # below 161 px: undefined with 5 scales
    for name in ("lpips_alex", "lpips_vgg", "dists"):
        assert abs(scores[name]) < 1e-5, name


def test_tensor_and_uint8_inputs_agree() -> None:
    reference = _kodak(4)[100:276, 100:276]  # 176² so MS-SSIM is defined
    distorted = _jpeg(reference, 10)

    def as_tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).permute(2, 0, 1).float() / 127.5 - 1.0

    from_arrays = quality.all_metrics(reference, distorted)
    from_tensors = quality.all_metrics(as_tensor(reference)[None], as_tensor(distorted)[None])
    mixed = quality.all_metrics(as_tensor(reference), distorted)  # 3×H×W and uint8
    assert list(from_arrays) == list(quality.METRIC_NAMES)
    assert all(math.isfinite(v) for v in from_arrays.values())
    for name, value in from_arrays.items():
        assert from_tensors[name] == pytest.approx(value, abs=1e-6), name
        assert mixed[name] == pytest.approx(value, abs=1e-6), name
    assert 0 < from_arrays["ms_ssim"] < 1
    assert from_arrays["psnr"] == pytest.approx(quality.psnr(reference, distorted))


def test_ms_ssim_threshold() -> None:
    image = _kodak(5)[:161, :200]
    assert 0 < quality.ms_ssim(image, _jpeg(image, 30)) <= 1
    assert math.isnan(quality.ms_ssim(image[:160], _jpeg(image[:160], 30)))


def test_bad_inputs() -> None:
    image = _kodak(6)[:32, :32]
    with pytest.raises(ImageReadError):
        quality.psnr(image, image[:16])
    with pytest.raises(ImageReadError):
        quality.psnr(image.astype(np.float32), image)
    with pytest.raises(ImageReadError):
        quality.psnr(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8))


def test_missing_weights_names_variable_and_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(TORCHVISION_WEIGHTS_ENV, str(tmp_path))
    _clear_model_caches()  # the loaders cache per backbone, not per folder
    image = np.zeros((32, 32, 3), np.uint8)
    try:
        with pytest.raises(MissingWeightsError, match="alexnet_features.pth") as caught:
            quality.lpips(image, image, "alex")
        assert TORCHVISION_WEIGHTS_ENV in str(caught.value)
        with pytest.raises(MissingWeightsError, match="vgg16_features.pth") as caught:
            quality.dists(image, image)
        assert TORCHVISION_WEIGHTS_ENV in str(caught.value)
    finally:
        _clear_model_caches()


def test_models_load_without_deprecation_warnings() -> None:
    _clear_model_caches()
    image = np.zeros((32, 32, 3), np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quality.lpips(image, image, "alex")
        quality.dists(image, image)
    assert not [w for w in caught if "deprecated" in str(w.message)]


def test_dists_weights_file_is_found() -> None:
    path = quality.dists_weights_path()
    assert path.is_file()
    weights = torch.load(path, weights_only=True)
    assert weights["alpha"].shape == (1, 1475, 1, 1)
