"""Bjøntegaard deltas: exact constructed cases and published curve pairs."""

from __future__ import annotations

import numpy as np
import pytest

from clric_utils.errors import ParameterError
from clric_utils.evaluation.bd import bd_metric, bd_psnr, bd_rate

RATE = [0.1, 0.25, 0.5, 1.0, 2.0]
PSNR = [26.0, 28.9, 31.5, 34.2, 37.0]

# libx265 curves shipped with the FAU-LMS `bjontegaard` package (BSD-3-Clause); its PCHIP
# matches the JVET CTC spreadsheet to 10 decimals. Expected values from bjontegaard 1.3.0.
ANCHOR = ([9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851])
TEST = ([9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987])
# "Sample" curves of the public VCEG-M33 Python/Matlab implementations.
ANCHOR_M33 = ([686.76, 309.58, 157.11, 85.95], [40.28, 37.18, 34.24, 31.42])
TEST_M33 = ([893.34, 407.8, 204.93, 112.75], [40.39, 37.21, 34.17, 31.24])


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_scaled_rates_give_exact_bd_rate(method: str) -> None:
    scaled = [0.9 * r for r in RATE]
    assert bd_rate(RATE, PSNR, scaled, PSNR, method) == pytest.approx(-10.0, abs=1e-9)
    assert bd_rate(scaled, PSNR, RATE, PSNR, method) == pytest.approx(100 / 9, abs=1e-9)


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_identical_and_shifted_curves(method: str) -> None:
    assert bd_rate(RATE, PSNR, RATE, PSNR, method) == pytest.approx(0.0, abs=1e-12)
    assert bd_psnr(RATE, PSNR, RATE, PSNR, method) == pytest.approx(0.0, abs=1e-12)
    shifted = [p + 0.5 for p in PSNR]
    assert bd_metric(RATE, PSNR, RATE, shifted, method) == pytest.approx(0.5, abs=1e-9)


def test_lower_is_better_metric() -> None:
    lpips = [0.5, 0.4, 0.3, 0.2, 0.12]
    assert bd_rate(RATE, lpips, [1.25 * r for r in RATE], lpips) == pytest.approx(25.0, abs=1e-9)
    assert bd_metric(RATE, lpips, RATE, [v - 0.01 for v in lpips]) == pytest.approx(-0.01)


def test_published_pair_pchip() -> None:
    assert bd_rate(*ANCHOR, *TEST) == pytest.approx(-4.417485350589, abs=1e-8)
    assert bd_psnr(*ANCHOR, *TEST) == pytest.approx(0.119692785425, abs=1e-9)
    assert bd_rate(*ANCHOR_M33, *TEST_M33) == pytest.approx(31.379878202398, abs=1e-8)


def test_published_pair_cubic() -> None:
    assert bd_rate(*ANCHOR, *TEST, method="cubic") == pytest.approx(-4.420462706, abs=1e-7)
    assert bd_psnr(*ANCHOR, *TEST, method="cubic") == pytest.approx(0.120409419115, abs=1e-9)
    assert bd_rate(*ANCHOR_M33, *TEST_M33, method="cubic") == pytest.approx(31.397374055, abs=1e-7)
    assert bd_psnr(*ANCHOR_M33, *TEST_M33, method="cubic") == pytest.approx(-1.18489792177)


def test_point_order_does_not_matter() -> None:
    order = [2, 0, 3, 1]
    shuffled = ([ANCHOR[0][i] for i in order], [ANCHOR[1][i] for i in order])
    assert bd_rate(*shuffled, *TEST) == pytest.approx(bd_rate(*ANCHOR, *TEST), abs=1e-12)


def test_invalid_inputs() -> None:
    with pytest.raises(ParameterError, match="overlap"):
        bd_rate(RATE, PSNR, RATE, [p + 20 for p in PSNR])
    with pytest.raises(ParameterError, match="4 points"):
        bd_rate(RATE[:3], PSNR[:3], RATE[:3], PSNR[:3], "cubic")
    with pytest.raises(ParameterError, match="positive"):
        bd_rate([0.0, *RATE[1:]], PSNR, RATE, PSNR)
    with pytest.raises(ParameterError, match="finite"):
        bd_rate(RATE, [np.nan, *PSNR[1:]], RATE, PSNR)
    with pytest.raises(ParameterError, match="distinct"):
        bd_rate(RATE, [26.0, 28.9, 28.9, 34.2, 37.0], RATE, PSNR)
    with pytest.raises(ParameterError, match="method"):
        bd_rate(RATE, PSNR, RATE, PSNR, "akima")


def test_points_on_fewer_images_than_their_curve_are_partial():
    """A λ tried on one image of two is flagged (and so left out of curves and BD-rates)."""
    import pandas as pd

    from clric_utils.evaluation.plots import partial_points, rd_means

    rows = [{"image": image, "codec": "a", "vae": "none", "preset": "none", "parameter": p,
             "bpp": p / 10, "psnr": 20 + p} for image in ("i1", "i2") for p in (1.0, 2.0, 3.0)]
    rows.append({"image": "i1", "codec": "a", "vae": "none", "preset": "none",
                 "parameter": 2.5, "bpp": 0.25, "psnr": 40.0})
    rows += [{"image": "i1", "codec": "b", "vae": "none", "preset": "none", "parameter": p,
              "bpp": p / 10, "psnr": 21 + p} for p in (1.0, 2.0)]  # complete on its one image
    means = rd_means(pd.DataFrame(rows), ["psnr"])
    flagged = means[partial_points(means)]
    assert list(zip(flagged["codec"], flagged["parameter"], strict=True)) == [("a", 2.5)]
