"""Frozen VAEs (``clric_utils.vae``): shapes, padding, seeded weights, offline lookup."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from clric_utils.errors import MissingWeightsError, ParameterError
from clric_utils.images import image_to_tensor, read_image
from clric_utils.paths import MODELS_ENV
from clric_utils.vae import VAE_NAMES, VAES, FrozenVae, clear_vae_cache, load_vae
from clric_utils.vae.tiny import TINY_SCALING_FACTOR, build_tiny_vae, state_dict_sha256

#: SHA-256 of the tiny VAE's state dict (torch 2.14.1, diffusers 0.42.1); equal on every machine.
TINY_STATE_SHA256 = "7b81489f8e9f835dc238bb13dd825148d99405026845158cb250292b4d5cfae2"


_SUBPROCESS_CODE = """
import json
from clric_utils.errors import MissingWeightsError
from clric_utils.vae import load_vae
from clric_utils.vae.tiny import build_tiny_vae, state_dict_sha256
result = {"tiny_sha256": state_dict_sha256(build_tiny_vae())}
try:
    load_vae("sd")
except MissingWeightsError as error:
    result["missing"] = str(error)
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def offline_subprocess(tmp_path_factory):
    """One fresh interpreter (imports are slow) with an empty HF home and models dir, offline."""
    root = tmp_path_factory.mktemp("offline")
    models, hf_home = root / "models", root / "hf"
    models.mkdir()
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", MODELS_ENV: str(models)}
    env.pop("HF_HUB_CACHE", None)
    run = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS_CODE],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert "missing" in result, "load_vae('sd') did not raise MissingWeightsError"
    return {**result, "models": models, "hf_home": hf_home, "stderr": run.stderr}


@pytest.fixture
def fresh_vae_cache():
    """Empty ``load_vae``'s cache before and after a test that changes where weights live."""
    clear_vae_cache()
    yield
    clear_vae_cache()


def test_registry_names():
    assert set(VAE_NAMES) == {"sd", "sd-in", "sdxl", "taesd", "taesdxl", "house", "taef2",
                              "taef2-c4", "tiny"}
    assert VAES["taef2"].kind == "taef2" and VAES["taef2"].scaling_factor == 1.0
    assert VAES["sd"].repo_id == "stabilityai/sd-vae-ft-mse"
    assert VAES["sd"].scaling_factor == 0.18215
    assert VAES["sd-in"].subfolder == "vae"
    assert VAES["sdxl"].scaling_factor == 0.13025
    assert VAES["taesd"].scaling_factor == 1.0 and VAES["taesd"].kind == "tiny"


def test_tiny_round_trip_keeps_kodak_size(tiny_vae: FrozenVae, kodim01):
    latent = tiny_vae.encode_image(kodim01)
    assert latent.shape == (1, 4, 64, 96) and latent.dtype == torch.float32
    assert 0.5 < latent.std().item() < 2.0  # scaling factor gives roughly unit variance
    image = tiny_vae.decode(latent, 512, 768)
    assert image.shape == (1, 3, 512, 768)
    assert image.min() >= -1.0 and image.max() <= 1.0


def test_padding_and_cropping(tiny_vae: FrozenVae, small_image):
    x = image_to_tensor(small_image)  # 75×100
    latent = tiny_vae.encode(x)
    assert latent.shape == (1, 4, math.ceil(75 / 8), math.ceil(100 / 8)) == (1, 4, 10, 13)
    assert tiny_vae.latent_shape(75, 100) == (4, 10, 13)
    padded = F.pad(x, (0, 4, 0, 5), mode="replicate")  # 80×104, what encode must do
    assert torch.equal(tiny_vae.encode(padded), latent)
    assert tiny_vae.decode(latent, 75, 100).shape == (1, 3, 75, 100)
    assert tiny_vae.reconstruct(x).shape == (1, 3, 75, 100)
    assert tiny_vae.decode(latent).shape == (1, 3, 80, 104)
    with pytest.raises(ValueError):
        tiny_vae.decode(latent, 81, 100)
    with pytest.raises(ValueError):
        tiny_vae.encode(x[0])


def test_vae_is_frozen(tiny_vae: FrozenVae, small_image):
    assert not any(p.requires_grad for p in tiny_vae.model.parameters())
    assert not tiny_vae.model.training
    x = image_to_tensor(small_image).requires_grad_(True)
    assert not tiny_vae.encode(x).requires_grad


def test_load_vae_is_cached(tiny_vae: FrozenVae):
    assert load_vae("tiny") is tiny_vae
    assert load_vae("tiny", torch.device("cpu")) is tiny_vae
    assert tiny_vae.scaling_factor == TINY_SCALING_FACTOR and tiny_vae.name == "tiny"


def test_tiny_build_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_vae()
    assert torch.equal(torch.rand(3), expected)


def test_tiny_weights_identical_across_processes(offline_subprocess):
    """Same state dict here and in a fresh interpreter, and equal to the pinned digest."""
    assert offline_subprocess["tiny_sha256"] == state_dict_sha256(build_tiny_vae())
    assert offline_subprocess["tiny_sha256"] == TINY_STATE_SHA256


def test_unknown_name_is_a_parameter_error():
    with pytest.raises(ParameterError, match="sd-vae-ft-mse"):
        load_vae("no-such-vae")
    with pytest.raises(MissingWeightsError, match="no such folder"):
        load_vae("./no/such/folder")


def test_local_folder_and_models_dir(tmp_path, monkeypatch, small_image, fresh_vae_cache):
    """A diffusers folder loads by path, and by short name from CLRIC_MODELS_DIR layouts."""
    model = build_tiny_vae()
    model.save_pretrained(tmp_path / "local")
    vae = load_vae(tmp_path / "local")
    assert vae.kind == "kl" and vae.scaling_factor == pytest.approx(TINY_SCALING_FACTOR)
    x = image_to_tensor(small_image)
    assert torch.allclose(vae.encode(x), load_vae("tiny").encode(x))

    models = tmp_path / "models"
    model.save_pretrained(models / "sd")  # <short name>/
    model.save_pretrained(models / "stable-diffusion-v1-5--stable-diffusion-inpainting" / "vae")
    monkeypatch.setenv(MODELS_ENV, str(models))
    sd = load_vae("sd")
    assert sd.scaling_factor == 0.18215 and sd.repo_id == "stabilityai/sd-vae-ft-mse"
    assert sd.source == str(models / "sd")
    sd_in = load_vae("sd-in")
    assert sd_in.source.endswith("stable-diffusion-inpainting/vae")


def test_offline_missing_weights_message(offline_subprocess):
    """With HF_HUB_OFFLINE=1, empty CLRIC_MODELS_DIR and empty HF cache: one clear error."""
    message = offline_subprocess["missing"]
    assert "stabilityai/sd-vae-ft-mse" in message
    assert str(offline_subprocess["models"] / "sd") in message
    assert str(offline_subprocess["hf_home"]) in message
    assert "hf download stabilityai/sd-vae-ft-mse" in message
    assert "Traceback" not in offline_subprocess["stderr"]


def test_house_vae(house_vae: FrozenVae, kodim01_path):
    """Runs once the trained weights are in clric_utils/weights/house (skipped before)."""
    assert house_vae.kind == "tiny" and house_vae.scaling_factor > 0
    x = image_to_tensor(read_image(kodim01_path))
    latent = house_vae.encode(x)
    assert latent.shape == (1, 4, 64, 96)
    assert 0.3 < latent.pow(2).mean().sqrt().item() < 3.0
    y = house_vae.decode(latent, 512, 768)
    psnr = 10 * math.log10(4.0 / F.mse_loss(y, x).item())
    assert psnr > 22.5, f"house VAE reconstruction of kodim01 at {psnr:.2f} dB"  # 22.98 shipped


def test_load_vae_rejects_bad_device() -> None:
    from clric_utils.errors import ParameterError
    from clric_utils.vae import load_vae

    with pytest.raises(ParameterError, match="device"):
        load_vae("tiny", device="nonsense")
