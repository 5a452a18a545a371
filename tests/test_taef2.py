"""TAEF2: our model code on the official weights, the loader's folders, and CLRIC on 32 channels."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from clric_utils.errors import MissingWeightsError
from clric_utils.paths import KODAK_ENV, MODELS_ENV, env_path
from clric_utils.vae import clear_vae_cache, load_vae
from clric_utils.vae import loading as loading_module
from clric_utils.vae.registry import TAEF2_DIR
from clric_utils.vae.taef2 import TAEF2_SHA256, Taef2

REPO = Path(__file__).resolve().parents[1]
KODAK = env_path(KODAK_ENV) or Path("/nonexistent")


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    """Every test loads anew, offline, with no models folder unless it sets one."""
    monkeypatch.delenv(MODELS_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clear_vae_cache()
    yield
    clear_vae_cache()


def _copy_weights(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in TAEF2_SHA256:
        shutil.copy(TAEF2_DIR / name, folder / name)
    return folder


def test_taef2_ships_in_the_package_and_loads_offline():
    vae = load_vae("taef2")
    assert Path(vae.source) == TAEF2_DIR
    assert vae.latent_shape(512, 768) == (32, 64, 96)
    assert vae.scaling_factor == 1.0
    # The licence and provenance travel with the weights.
    assert "MIT License" in (TAEF2_DIR / "LICENSE").read_text()
    assert "5cccb12" in (TAEF2_DIR / "README.md").read_text()
    sums = (TAEF2_DIR / "SHA256SUMS").read_text()
    assert all(f"{digest}  {name}" in sums for name, digest in TAEF2_SHA256.items())


def test_model_code_has_exactly_the_official_keys_and_shapes():
    model = Taef2()
    for name in TAEF2_SHA256:
        state = torch.load(TAEF2_DIR / name, map_location="cpu", weights_only=True)
        part = model.encoder if "encoder" in name else model.decoder
        ours = {k: tuple(v.shape) for k, v in part.state_dict().items()}
        assert ours == {k: tuple(v.shape) for k, v in state.items()}
        assert sum(v.numel() for v in state.values()) == pytest.approx(1.34e6, rel=0.01)


@pytest.mark.skipif(not (KODAK / "kodim23.png").is_file(), reason="Kodak images not found")
@pytest.mark.parametrize("name, psnr", [("kodim19", 29.98), ("kodim23", 33.34)])
def test_reconstruction_reproduces_the_measured_psnr(name, psnr):
    """encode → decode of the full-size image, as measured by hand with the official code."""
    from clric_utils.images import read_image
    from clric_utils.metrics.quality import psnr as psnr_of

    vae = load_vae("taef2")
    image = read_image(KODAK / f"{name}.png")
    decoded = vae.decode_image(vae.encode_image(image), *image.shape[:2])
    assert psnr_of(image, decoded) == pytest.approx(psnr, abs=0.05)


def test_models_dir_is_looked_at_first(tmp_path, monkeypatch):
    _copy_weights(tmp_path / "taef2")
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    assert Path(load_vae("taef2").source) == tmp_path / "taef2"


def test_a_folder_with_the_two_files_loads_as_taef2(tmp_path):
    folder = _copy_weights(tmp_path / "mine")
    vae = load_vae(str(folder))
    assert vae.latent_channels == 32 and vae.name == "mine"
    assert vae.channel_sensitivity == load_vae("taef2").channel_sensitivity


def test_weights_with_other_bytes_are_refused(tmp_path, monkeypatch):
    folder = _copy_weights(tmp_path / "taef2")
    data = bytearray((folder / "taef2_decoder.pth").read_bytes())
    data[-100] ^= 1
    (folder / "taef2_decoder.pth").write_bytes(bytes(data))
    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    with pytest.raises(MissingWeightsError, match="not the official"):
        load_vae("taef2")


def test_missing_everywhere_and_offline_names_the_official_urls(tmp_path, monkeypatch):
    monkeypatch.setattr(loading_module, "TAEF2_DIR", tmp_path / "package")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(MissingWeightsError) as caught:
        load_vae("taef2")
    message = str(caught.value)
    assert "HF_HUB_OFFLINE" in message
    assert "https://github.com/madebyollin/taesd/raw/5cccb12/taef2_encoder.pth" in message


def test_download_goes_to_the_cache_and_is_checked(tmp_path, monkeypatch):
    """Without a local copy and online, the official URLs are fetched (here: from the
    package's copy, standing in for the network) into the cache, then SHA-256 checked."""
    fetched = []

    def fake_fetch(url: str, destination: Path) -> None:
        fetched.append(url)
        shutil.copy(TAEF2_DIR / url.rsplit("/", 1)[1], destination)

    monkeypatch.setattr(loading_module, "TAEF2_DIR", tmp_path / "package")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(loading_module, "hf_offline", lambda: False)
    monkeypatch.setattr("clric_utils.data._fetch", fake_fetch)
    vae = load_vae("taef2")
    assert Path(vae.source) == tmp_path / "cache" / "clric" / "taef2"
    assert sorted(u.rsplit("/", 1)[1] for u in fetched) == sorted(TAEF2_SHA256)


def test_channel_sensitivity_is_stored_and_spread():
    """The stored per-channel sensitivity: 32 positive values, far from uniform (max/min)."""
    record = json.loads((TAEF2_DIR / "channel_sensitivity.json").read_text())
    values = record["sensitivity"]
    assert len(values) == 32 and min(values) > 0
    assert max(values) / min(values) > 5
    assert load_vae("taef2").channel_sensitivity == tuple(values)


def test_encode_and_decode_with_taef2_on_the_command_line(tmp_path):
    """`clric encode --vae taef2` and `clric decode` in fresh processes, with no shared folder:
    a version-3 file whose ŷ the decoder reproduces bit for bit."""
    from clric_utils.data import default_image_path
    from clric_utils.images import read_image, save_png

    crop = tmp_path / "crop.png"
    save_png(read_image(default_image_path())[40:104, 200:296], crop)
    out = tmp_path / "crop.clric"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("CLRIC_")}
    env["HF_HUB_OFFLINE"] = "1"

    def clric(*args):
        return subprocess.run([sys.executable, "-m", "clric_utils.cli", *args], cwd=REPO,
                              capture_output=True, text=True, timeout=300, env=env)

    encoder, decoder = tmp_path / "encoder.npy", tmp_path / "decoder.npy"
    result = clric("encode", str(crop), "-o", str(out), "--vae", "taef2", "--preset", "slim",
                   "--lmbda", "0.3", "--iterations", "40", "--quiet",
                   "--dump-latent", str(encoder))
    assert result.returncode == 0, result.stderr
    png = tmp_path / "decoded.png"
    result = clric("decode", str(out), "-o", str(png), "--dump-latent", str(decoder))
    assert result.returncode == 0, result.stderr
    a, b = np.load(encoder), np.load(decoder)
    assert a.shape == (1, 32, 8, 12) and a.tobytes() == b.tobytes()
    assert read_image(png).shape == (64, 96, 3)
    info = json.loads(clric("info", str(out), "--json").stdout)
    assert info["vae"] == "taef2" and info["version"] == 3
