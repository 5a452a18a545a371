"""Shared test set-up: data folders from ``../shared`` by default, offline hub, common fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from clric_utils.paths import KODAK_ENV, PHOTOS_ENV, TORCHVISION_WEIGHTS_ENV

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"

#: Environment defaults used when the variable is unset and the folder exists.
_DEFAULT_FOLDERS = {
    KODAK_ENV: SHARED_DIR / "data" / "kodak",
    PHOTOS_ENV: SHARED_DIR / "data" / "photos",
    TORCHVISION_WEIGHTS_ENV: SHARED_DIR / "weights" / "torchvision",
}
for _name, _folder in _DEFAULT_FOLDERS.items():
    if not os.environ.get(_name, "").strip() and _folder.is_dir():
        os.environ[_name] = str(_folder)
# Tests never download: fail fast instead of retrying the network (HF_HUB_OFFLINE=0 overrides).
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``slow`` marker (also declared in pyproject.toml)."""
    config.addinivalue_line("markers", "slow: longer tests (notebooks, training)")


@pytest.fixture(scope="session")
def kodak_dir() -> Path:
    """The Kodak folder (``CLRIC_KODAK_DIR``); the test is skipped when it is unavailable."""
    from clric_utils.data import kodak_dir as find_kodak
    from clric_utils.errors import DatasetMissingError

    try:
        return find_kodak()
    except DatasetMissingError as error:
        pytest.skip(f"Kodak images unavailable: {error}")


@pytest.fixture(scope="session")
def kodim01_path(kodak_dir: Path) -> Path:
    """Path of kodim01.png (768×512)."""
    return kodak_dir / "kodim01.png"


@pytest.fixture(scope="session")
def kodim01(kodim01_path: Path) -> np.ndarray:
    """kodim01 as a 512×768×3 uint8 array (read-only: copy before changing it)."""
    from clric_utils.images import read_image

    array = read_image(kodim01_path)
    array.setflags(write=False)
    return array


@pytest.fixture(scope="session")
def small_image() -> np.ndarray:
    """A deterministic smooth 75×100×3 uint8 test picture (sides not multiples of 8)."""
    y, x = np.mgrid[0:75, 0:100]
    red = 128 + 100 * np.sin(x / 9.0)
    green = 128 + 100 * np.cos(y / 7.0)
    blue = (x + 2 * y) % 256
    return np.stack([red, green, blue], axis=2).round().clip(0, 255).astype(np.uint8)


@pytest.fixture
def write_image(tmp_path: Path):
    """Factory: ``write_image(array, name, mode=None, **save_options) -> Path`` in tmp_path."""
    from PIL import Image

    def write(array: np.ndarray, name: str = "image.png", mode: str | None = None, **options):
        image = Image.fromarray(array)
        if mode is not None:
            image = image.convert(mode)
        path = tmp_path / name
        image.save(path, **options)
        return path

    return write


@pytest.fixture
def random_png(tmp_path: Path) -> Path:
    """A 32×48 PNG of seeded random pixels (``tmp_path/a.png``): quick CLI encodes."""
    from PIL import Image

    path = tmp_path / "a.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def one_thread():
    """Codec work runs on one thread (fastest on small latents, and reproducible); modules
    whose every test needs it say ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_vae():
    """The seeded ``tiny`` VAE (plumbing only: its reconstructions are noise)."""
    from clric_utils.vae import load_vae

    return load_vae("tiny")


@pytest.fixture(scope="session")
def house_vae():
    """The shipped ``house`` VAE; the test is skipped while its weights are absent."""
    from clric_utils.vae import load_vae
    from clric_utils.vae.registry import house_dir

    if not (house_dir() / "config.json").is_file():
        pytest.skip(f"house VAE weights not in {house_dir()} yet")
    return load_vae("house")


@pytest.fixture(scope="session")
def tutorial_runs(tmp_path_factory):
    """Fast-mode runs of the tutorial notebooks, each executed at most once per session."""
    from tutorial_runs import TutorialRuns

    return TutorialRuns(tmp_path_factory.mktemp("tutorial"))
