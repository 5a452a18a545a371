"""The `house` VAE: the training script learns; the shipped weights are the documented ones."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clric_utils.paths import PACKAGE_DIR, PHOTOS_ENV, env_path
from clric_utils.vae.train_house import TrainConfig, train

HOUSE_DIR = PACKAGE_DIR / "weights" / "house"
WEIGHTS = HOUSE_DIR / "diffusion_pytorch_model.safetensors"


def test_training_script_loss_falls(tmp_path: Path) -> None:
    """A few steps on two photos lower the loss (MSE + LPIPS) clearly."""
    photos = env_path(PHOTOS_ENV)
    if photos is None or not photos.is_dir():
        pytest.skip(f"{PHOTOS_ENV} is not set")
    config = TrainConfig(
        photos_dir=str(photos),
        out_dir=str(tmp_path),
        steps=40,
        batch=4,
        crop=64,
        warmup=1,
        max_photos=2,
        log_every=1,
        checkpoint_every=20,
        threads=1,
    )
    checkpoint = train(config)
    assert checkpoint.is_file()
    losses = [json.loads(line)["loss"] for line in (tmp_path / "history.jsonl").open()]
    assert len(losses) == 40
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.5 * first, (first, last)


def test_shipped_weights_match_model_card() -> None:
    """The SHA-256 written in the model card is the one of the shipped safetensors file."""
    card = (HOUSE_DIR / "README.md").read_text()
    documented = re.search(r"SHA-256[^`]*`([0-9a-f]{64})`", card)
    assert documented, "model card must state the weights' SHA-256"
    assert hashlib.sha256(WEIGHTS.read_bytes()).hexdigest() == documented.group(1)
    assert WEIGHTS.stat().st_size <= 5 * 1024 * 1024


def test_house_loads_offline_and_reconstructs(kodim01_path: Path) -> None:
    """With HF_HUB_OFFLINE=1 and no models folder, `house` loads from the package and works."""
    code = f"""
import torch
from clric_utils.images import read_image, image_to_tensor, crop_center
from clric_utils.metrics.quality import psnr
from clric_utils.vae import load_vae
vae = load_vae("house")
x = image_to_tensor(crop_center(read_image({str(kodim01_path)!r}), 256, 256))
y = vae.encode(x)
assert y.shape == (1, 4, 32, 32), y.shape
assert 0.5 < float(y.std()) < 2.0, float(y.std())  # the scaling factor makes std ≈ 1
print(psnr(x, vae.decode(y, 256, 256)))
"""
    env = {k: v for k, v in os.environ.items() if k != "CLRIC_MODELS_DIR"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(Path("/nonexistent-hf-home")))
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.strip().splitlines()[-1]) > 21.8  # 22.30 dB when shipped


def test_load_photos_drops_small_levels_and_rejects_empty(tmp_path: Path) -> None:
    import numpy as np

    from clric_utils.errors import DatasetMissingError
    from clric_utils.images import save_png
    from clric_utils.vae.train_house import load_photos

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetMissingError):
        load_photos(empty)
    rng = np.random.default_rng(0)
    save_png(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8), tmp_path / "a.png")
    save_png(rng.integers(0, 256, (60, 60, 3), dtype=np.uint8), tmp_path / "tiny.png")
    pyramids = load_photos(tmp_path, crop=128)
    assert len(pyramids) == 1  # the 60×60 photo has no level of at least 128 pixels
    assert [tuple(level.shape[1:]) for level in pyramids[0]] == [(200, 300), (140, 210)]
    with pytest.raises(DatasetMissingError):
        load_photos(tmp_path, crop=400)


def test_sample_batch_colour_permutation_keeps_pixels() -> None:
    """``colour_permute=1`` shuffles each crop's channels; the multiset of values is unchanged."""
    import random

    import torch

    from clric_utils.vae.train_house import sample_batch

    # One 16×16 photo whose three channels are distinct constants, so a crop shows its order.
    photo = torch.stack([torch.full((16, 16), v, dtype=torch.uint8) for v in (0, 100, 255)])
    plain = sample_batch([[photo]], 32, 8, random.Random(0))
    shuffled = sample_batch([[photo]], 32, 8, random.Random(0), colour_permute=1.0)
    assert all(crop[:, 0, 0].tolist() == plain[0, :, 0, 0].tolist() for crop in plain)
    orders = {tuple(crop[:, 0, 0].tolist()) for crop in shuffled}
    assert len(orders) > 1  # several channel orders occur
    assert all(sorted(order) == sorted(plain[0, :, 0, 0].tolist()) for order in orders)
