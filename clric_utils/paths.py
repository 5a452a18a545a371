"""Where the project finds data and weights: environment variables first, then defaults."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variables the project reads (documented in the README).
KODAK_ENV = "CLRIC_KODAK_DIR"
CLIC_ENV = "CLRIC_CLIC_DIR"
PHOTOS_ENV = "CLRIC_PHOTOS_DIR"
TORCHVISION_WEIGHTS_ENV = "CLRIC_TORCHVISION_WEIGHTS"
MODELS_ENV = "CLRIC_MODELS_DIR"

PACKAGE_DIR = Path(__file__).resolve().parent


def env_path(name: str) -> Path | None:
    """Return the folder named by environment variable `name`, or None when it is unset."""
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Return the folder for downloaded data sets (``~/.cache/clric`` unless XDG says otherwise)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "clric"
