"""``taef2-c4``: the 4-channel perceptual VAE — its model, its training recipe, its export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from clric_utils.vae.registry import TAEF2_DIR
from clric_utils.vae.taef2 import load_taef2
from clric_utils.vae.taef2_c4 import WEIGHTS_FILE, Taef2C4, load_taef2_c4
from clric_utils.vae.train_taef2_c4 import TrainConfig, discriminator, export, train

TRAINED = ("squeeze.", "lift.", "taef2_decoder.")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Three smooth synthetic 'photos' (gradients and blobs), made by the test."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:320] / 64.0
    for index in range(3):
        phase = rng.uniform(0, 6, 3)
        image = np.stack([np.sin(xx + yy * (c + 1) + phase[c]) for c in range(3)], axis=-1)
        Image.fromarray(np.uint8(127.5 * (image + 1))).save(folder / f"{index:03d}.png")
    return folder


def test_shapes_and_interface():
    model = Taef2C4(load_taef2(TAEF2_DIR)).eval()
    x = torch.rand(1, 3, 64, 96) * 2 - 1
    latent = model.encode(x).latents
    assert latent.shape == (1, 4, 8, 12)
    assert model.decode(latent).sample.shape == (1, 3, 64, 96)
    assert model.config.latent_channels == 4
    assert set(model.trained_state()) == {
        name for name in model.state_dict() if name.startswith(TRAINED)}


def test_discriminator_scores_patches():
    logits = discriminator()(torch.zeros(2, 3, 128, 128))
    assert logits.shape == (2, 1, 16, 16)  # one logit per 8×8 patch


def test_training_resumes_and_exports_a_loadable_model(tmp_path, photos):
    """3 steps, then 2 more on resume (adversarial from step 2); the export loads, and its
    normalisation gives latents of zero mean and unit variance on the photos."""
    config = TrainConfig(photos_dir=str(photos), out_dir=str(tmp_path / "run"), steps=3,
                         batch=2, crop=64, adversarial_start=2, log_every=1,
                         checkpoint_every=1, threads=1)
    train(config)
    config.steps = 5
    checkpoint = train(config, resume=True)
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").open()]
    assert [record["step"] for record in history] == [1, 2, 3, 4, 5]
    assert "critic" not in history[0] and "critic" in history[-1]
    summary = export(checkpoint, tmp_path / "export", photos)
    assert summary["steps"] == 5
    assert summary["latent_rms_on_photos"] == pytest.approx(1.0, abs=0.01)  # per-photo stats
    model = load_taef2_c4(tmp_path / "export", TAEF2_DIR)
    stored = torch.load(tmp_path / "export" / WEIGHTS_FILE, weights_only=True)
    assert all(name.startswith(TRAINED) for name in stored)
    assert all(v.dtype == torch.float16 for v in stored.values() if v.is_floating_point())
    assert not any(p.requires_grad for p in model.parameters())


def test_missing_weights_say_how_to_train(tmp_path):
    from clric_utils.errors import MissingWeightsError

    with pytest.raises(MissingWeightsError, match="train_taef2_c4"):
        load_taef2_c4(tmp_path, TAEF2_DIR)


SHIPPED = Path(__file__).resolve().parents[1] / "clric_utils" / "weights" / "taef2_c4"


def test_shipped_weights_match_the_model_card():
    import hashlib
    import re

    card = (SHIPPED / "README.md").read_text()
    documented = re.search(r"SHA-256[^`]*`([0-9a-f]{64})`", card)
    weights = SHIPPED / WEIGHTS_FILE
    assert documented and hashlib.sha256(weights.read_bytes()).hexdigest() == documented.group(1)
    assert weights.stat().st_size <= 10 * 1024 * 1024


def test_shipped_model_reproduces_its_kodak_row(kodak_dir):
    """kodim23 through the shipped ``taef2-c4``: the PSNR of results/kodak_taef2_c4.csv."""
    import pandas as pd

    from clric_utils.images import read_image
    from clric_utils.metrics.quality import psnr
    from clric_utils.vae import load_vae

    rows = pd.read_csv(SHIPPED.parents[2] / "results" / "kodak_taef2_c4.csv")
    row = rows[(rows.codec == "vae-only") & (rows.image == "kodim23.png")].iloc[-1]
    vae = load_vae("taef2-c4")
    assert vae.latent_channels == 4 and vae.scaling_factor == 1.0
    image = read_image(kodak_dir / "kodim23.png")
    decoded = vae.decode_image(vae.encode_image(image), *image.shape[:2])
    assert psnr(image, decoded) == pytest.approx(row.psnr, abs=1e-3)
