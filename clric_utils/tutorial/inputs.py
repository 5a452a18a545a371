"""The pictures a notebook works on: one image (optionally centre-cropped) or a data set."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data import default_image_path, kodak_images
from ..errors import DatasetMissingError
from ..images import crop_center, image_files, read_image, save_png


def slug(text: Any) -> str:
    """A file-name-safe version of ``text`` (e.g. a VAE given as a folder path)."""
    name = Path(str(text)).name or str(text)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "x"


def load_image(path: str | Path | None = None, crop: Sequence[int] | None = None) -> np.ndarray:
    """An image as uint8 H×W×3: ``path`` (default: the tutorial image), centre-cropped to
    ``crop`` = [height, width] when given (clipped to the image size)."""
    array = read_image(default_image_path() if path is None else path)
    if crop is not None:
        height, width = min(int(crop[0]), array.shape[0]), min(int(crop[1]), array.shape[1])
        array = np.ascontiguousarray(crop_center(array, height, width))
    return array


def image_name(path: str | Path | None = None, crop: Sequence[int] | None = None) -> str:
    """A short name for an image (file stem, plus the crop size when cropped)."""
    stem = Path(default_image_path() if path is None else path).stem
    return stem if crop is None else f"{stem}_{int(crop[0])}x{int(crop[1])}"


def dataset_images(
    dataset: str = "auto",
    max_images: int | None = None,
    crop: Sequence[int] | None = None,
    work_dir: str | Path = "../build/tutorial",
) -> tuple[str, list[Path]]:
    """(label, image paths) of the evaluation set.

    ``dataset``: ``"kodak"`` (needs the Kodak images, see ``CLRIC_KODAK_DIR``), ``"default"``
    (the tutorial image), ``"auto"`` (Kodak when it is on this machine, else the tutorial
    image), or a folder of images. With ``crop``, centre crops are written to ``work_dir``.
    """
    if dataset == "auto":
        try:
            paths, label = kodak_images(), "kodak"
        except DatasetMissingError:
            paths, label = [default_image_path()], "default"
    elif dataset == "kodak":
        paths, label = kodak_images(), "kodak"
    elif dataset == "default":
        paths, label = [default_image_path()], "default"
    else:
        folder = Path(dataset)
        paths = image_files(folder)
        label = slug(folder)
        if not paths:
            raise DatasetMissingError(f"{folder} holds no images")
    if max_images is not None:
        paths = paths[: int(max_images)]
    if crop is None:
        return label, list(paths)
    folder = Path(work_dir) / "crops"
    cropped = []
    for path in paths:
        target = folder / f"{image_name(path, crop)}.png"
        if not target.is_file():
            save_png(load_image(path, crop), target)
        cropped.append(target)
    return f"{label}_{int(crop[0])}x{int(crop[1])}", cropped
