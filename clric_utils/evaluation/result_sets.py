"""What a results table covers: its image set (Kodak, CLIC 2020, other) and a human title.

Published anchors are drawn only on a figure whose table holds the whole data set they were
measured on (a mean over 4 Kodak images is not comparable to a mean over 24).
"""

from __future__ import annotations

import pandas as pd

from ..data import CLIC2020_NAMES, KODAK_NAMES

#: Data set key → (its image file names, its name in figure titles).
DATASETS = {
    "kodak": (frozenset(KODAK_NAMES), "Kodak"),
    "clic2020": (frozenset(CLIC2020_NAMES), "CLIC 2020 Professional validation"),
}


def dataset_of(frame: pd.DataFrame) -> str | None:
    """``kodak`` / ``clic2020`` when the table's images are exactly that whole set, else None."""
    images = set(frame["image"].astype(str))
    for key, (names, _) in DATASETS.items():
        if images == names:
            return key
    return None


def _given(values: pd.Series) -> list[str]:
    """The distinct values of a column that are set (not NaN, empty or "none"), in order."""
    return [str(v) for v in dict.fromkeys(values.dropna()) if str(v) not in ("", "none", "nan")]


def results_title(frame: pd.DataFrame, fallback: str = "Results") -> str:
    """A figure title such as "Kodak (24 images), house VAE, CLRIC preset default".

    The image set is named when the table holds images of one known set (all of it or a
    subset), else ``fallback`` is used; the VAEs and presets are those of its rows.
    """
    images = set(frame["image"].astype(str))
    name = fallback
    for names, title in DATASETS.values():
        if images and images <= names:
            name = title if images == names else f"{title} subset"
            break
    parts = [f"{name} ({len(images)} image{'s' if len(images) != 1 else ''})"]
    vaes = _given(frame["vae"]) if "vae" in frame.columns else []
    if vaes:
        parts.append(f"{', '.join(vaes)} VAE{'s' if len(vaes) > 1 else ''}")
    presets = _given(frame["preset"]) if "preset" in frame.columns else []
    if presets:
        parts.append(f"CLRIC preset{'s' if len(presets) > 1 else ''} {', '.join(presets)}")
    return ", ".join(parts)
