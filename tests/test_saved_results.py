"""The saved Kodak results in results/ are what they say: real file sizes, one row per
measurement, and made with the VAE weights that ship with the package."""

from pathlib import Path

import pandas as pd
import pytest

RESULTS = Path(__file__).resolve().parents[1] / "results"
KODAK_PIXELS = 768 * 512  # every Kodak image, landscape or portrait
KODAK_CSVS = sorted(RESULTS.glob("kodak*.csv"))


def test_there_are_saved_kodak_results():
    names = {path.name for path in KODAK_CSVS}
    assert {"kodak_house.csv", "kodak_taef2.csv", "kodak_taef2_c4.csv"} <= names


@pytest.mark.parametrize("path", KODAK_CSVS, ids=lambda path: path.name)
def test_rates_are_the_real_file_sizes_and_rows_are_unique(path):
    from clric_utils.evaluation.sweep import row_key

    rows = pd.read_csv(path)
    sized = rows.dropna(subset=["bytes"])
    assert len(sized) > 0
    assert (sized["bpp"] == sized["bytes"] * 8 / KODAK_PIXELS).all()
    keys = [row_key(row) for row in rows.to_dict("records")]  # what `clric eval` resumes by
    assert len(set(keys)) == len(keys)
    assert rows["image"].str.fullmatch(r"kodim(0[1-9]|1\d|2[0-4])\.png").all()


@pytest.mark.parametrize("vae", ["taef2", "taef2-c4"])
def test_rows_were_made_with_the_shipped_weights(vae):
    from clric_utils.vae import load_vae

    rows = pd.read_csv(RESULTS / f"kodak_{vae.replace('-', '_')}.csv")
    made_with = set(rows.loc[rows["vae"] == vae, "vae_weights"])
    assert made_with == {load_vae(vae).weights_sha256}


def test_clric_on_taef2_c4_covers_every_image_at_every_lambda_down_to_002_bpp():
    """The sweep of the 4-channel VAE's issue: ≥ 6 λ, all 24 images, from ≤ 0.02 bpp."""
    rows = pd.read_csv(RESULTS / "kodak_taef2_c4.csv")
    clric = rows[rows["codec"] == "clric"]
    per_lambda = clric.groupby("parameter")
    assert len(per_lambda) >= 6
    assert (per_lambda["image"].nunique() == 24).all()
    assert per_lambda["bpp"].mean().min() <= 0.02
