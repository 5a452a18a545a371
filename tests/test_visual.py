"""Matched-rate visual comparisons on small crops, with a cheap stand-in for CLRIC."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from clric_utils.errors import MissingWeightsError, ParameterError
from clric_utils.evaluation import visual
from clric_utils.evaluation.contenders import PillowCodec, make_codec
from clric_utils.paths import KODAK_ENV, TORCHVISION_WEIGHTS_ENV

SHARED = Path(__file__).resolve().parents[2] / "shared"
KODAK = Path(os.environ.get(KODAK_ENV) or SHARED / "data" / "kodak")
WEIGHTS = Path(os.environ.get(TORCHVISION_WEIGHTS_ENV) or SHARED / "weights" / "torchvision")

pytestmark = pytest.mark.skipif(
    not (KODAK / "kodim19.png").is_file(), reason="needs the Kodak images (CLRIC_KODAK_DIR)"
)


def _crop(size: tuple[int, int] = (96, 128)) -> np.ndarray:
    image = np.asarray(Image.open(KODAK / "kodim19.png").convert("RGB"))
    return np.ascontiguousarray(image[150 : 150 + size[0], 120 : 120 + size[1]])


def _stand_in() -> PillowCodec:
    """Any Codec works as the subject; a WebP named 'clric' is fast and reaches low rates."""
    return PillowCodec("clric", "WEBP", (), method=4)


def _baselines() -> list:
    names = ["jpeg", "webp"] + (["avif"] if features.check("avif") else [])
    return [make_codec(name) for name in names]


@pytest.fixture
def psnr_only(monkeypatch):
    """Panel metrics without the (slow) LPIPS and DISTS networks."""
    monkeypatch.setattr(visual, "PANEL_METRICS", {"psnr": visual.PANEL_METRICS["psnr"]})


def test_closest_quality_finds_the_nearest_file_size(psnr_only) -> None:
    image = _crop()
    jpeg = make_codec("jpeg")
    sizes = {q: 8 * len(jpeg.encode(image, q)) / image[..., 0].size for q in range(1, 101)}
    target = sizes[40] * 1.01
    quality, bpp = visual.closest_quality(image, jpeg, target)
    best = min(abs(rate - target) for rate in sizes.values())
    assert bpp == sizes[quality] and abs(bpp - target) == pytest.approx(best)
    assert visual.closest_quality(image, jpeg, 1e-6) == (1, sizes[1])  # floor: lowest quality
    assert visual.closest_quality(image, jpeg, 1e3) == (100, sizes[100])


def test_baselines_match_each_subject_rate_or_say_why(psnr_only, tmp_path: Path) -> None:
    image = _crop()
    figure, comparison = visual.visual_comparison(
        image, _stand_in(), [5, 60], _baselines(), tmp_path / "fig_visual_test.png", "test"
    )
    assert (tmp_path / "fig_visual_test.png").stat().st_size > 20_000
    for row in comparison.baselines.values():
        for target, match in zip(comparison.subject, row, strict=True):
            within = abs(match.bpp / target.bpp - 1) <= visual.RATE_TOLERANCE
            assert within or match.note, (match.caption(), target.bpp)
    titles = [axis.get_title() for axis in figure.axes]
    assert all(titles) and len(titles) == len(set(titles))  # no empty, no repeated panel
    distinct = {id(match) for row in comparison.baselines.values() for match in row}
    assert len(figure.axes) == 2 + 2 + len(distinct)  # original twice, subject twice, matches
    assert any(t.startswith("CLRIC λ=5, ") and "bpp" in t and "PSNR" in t for t in titles)
    assert any(t.startswith("JPEG q=") for t in titles)


def test_a_baseline_that_cannot_go_that_low_spans_both_rows(psnr_only) -> None:
    image = _crop()
    comparison = visual.compare_at_matched_rates(image, _stand_in(), [0, 1], [make_codec("jpeg")])
    first, second = comparison.baselines["jpeg"]
    assert first is second and first.parameter == 1  # JPEG's lowest quality, drawn once
    low, high = (r.bpp for r in comparison.subject)
    assert first.note == f"lowest quality; cannot reach {low:.4f} bpp or {high:.4f} bpp"
    figure = visual.draw_comparison(image, comparison)
    jpeg_panels = [axis for axis in figure.axes if axis.get_title().startswith("JPEG")]
    assert len(jpeg_panels) == 1 and "cannot reach" in jpeg_panels[0].get_title()
    assert max(len(line) for line in jpeg_panels[0].get_title().splitlines()[:-1]) <= 40


def test_missing_backbone_weights_leave_the_metric_out(monkeypatch) -> None:
    def no_weights(*_args, **_kwargs):
        raise MissingWeightsError("no weights here")

    monkeypatch.setattr(visual, "PANEL_METRICS", {
        "psnr": visual.PANEL_METRICS["psnr"],
        "lpips_alex": ("LPIPS", no_weights, "{:.3f}"),
    })  # fmt: skip
    panel = visual.reconstruct(_crop(), make_codec("jpeg"), 30)
    assert set(panel.metrics) == {"psnr"}
    assert "PSNR" in panel.caption() and "LPIPS" not in panel.caption()


@pytest.mark.skipif(
    not (WEIGHTS / "vgg16_features.pth").is_file(), reason="needs CLRIC_TORCHVISION_WEIGHTS"
)
def test_panels_name_psnr_lpips_and_dists() -> None:
    panel = visual.reconstruct(_crop((64, 64)), make_codec("jpeg"), 20)
    caption = panel.caption()
    assert caption.startswith("JPEG q=20, ") and "bpp" in caption
    assert all(name in caption for name in ("PSNR", "LPIPS", "DISTS"))


def test_detail_region_finds_the_busy_part_and_two_rates_are_required() -> None:
    image = np.full((64, 96, 3), 128, dtype=np.uint8)
    rng = np.random.default_rng(0)
    image[8:40, 50:82] = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    top, left, height, width = visual.detail_region(image, 32)
    assert (height, width) == (32, 32) and abs(top - 8) <= 4 and abs(left - 50) <= 4
    with pytest.raises(ParameterError, match="two or more"):
        visual.compare_at_matched_rates(image, _stand_in(), [5], [])
