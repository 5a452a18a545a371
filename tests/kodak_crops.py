"""Small Kodak crops written as PNG files, for sweeps that must be quick."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image


def write_kodak_crops(kodak: Path, folder: Path,
                      boxes: Iterable[tuple[int, tuple[int, int, int, int]]]) -> list[Path]:
    """``folder/cropNN.png`` for each (Kodak number, (top, left, height, width)) in ``boxes``."""
    paths = []
    for number, (top, left, height, width) in boxes:
        image = np.asarray(Image.open(kodak / f"kodim{number:02d}.png").convert("RGB"))
        paths.append(folder / f"crop{number:02d}.png")
        Image.fromarray(image[top : top + height, left : left + width]).save(paths[-1])
    return paths
