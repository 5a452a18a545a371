"""One image at many rates: encode and reload the points of a rate axis, and browse them.

Notebook 06 writes ``<folder>/point_NN.clric`` with ``points.csv`` and ``original.png``;
notebook 07 reads them back (``continuous_runs``) to redraw the paper's Fig. 3.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from PIL import Image as PILImage

from ..api import compress, decompress
from ..atomic import atomic_path
from ..images import read_image, save_png, tensor_to_image
from ..metrics.quality import METRIC_NAMES
from .scores import quality


def encode_points(x: np.ndarray, autoencoder, folder: str | Path,
                  lambdas: Sequence[float] | None = None,
                  target_bpps: Sequence[float] | None = None,
                  metrics: Sequence[str] = ("psnr",), preset: str = "paper", effort="fast",
                  seed: int = 0, device: str = "cpu",
                  progress: bool = True) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Compress ``x`` at each λ (or target bpp), writing ``folder/point_NN.clric``,
    ``folder/original.png`` and ``folder/points.csv``; return the table and decoded images,
    both sorted by rate."""
    if (lambdas is None) == (target_bpps is None):
        raise ValueError("give exactly one of lambdas and target_bpps")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_png(x, folder / "original.png")
    settings = [{"lmbda": float(v)} for v in lambdas] if lambdas is not None else [
        {"target_bpp": float(v)} for v in target_bpps]
    rows, images = [], []
    for i, setting in enumerate(settings):
        result = compress(x, vae=autoencoder, preset=preset, effort=effort, seed=seed,
                          device=device, progress=progress, **setting)
        path = result.save(folder / f"point_{i:02d}.clric")
        decoded = tensor_to_image(decompress(result.data, vae=autoencoder, device=device))
        label = (f"λ={setting['lmbda']:g}" if "lmbda" in setting
                 else f"target {setting['target_bpp']:g} bpp")
        rows.append({"label": label, "lambda": result.fit.lmbda,
                     "target_bpp": setting.get("target_bpp", math.nan), "bpp": result.bpp,
                     "estimated_bpp": result.fit.estimated_bpp,
                     "latent_mse": result.fit.latent_mse, "encode_s": result.fit.seconds,
                     **quality(x, decoded, metrics), "file": path.name})
        images.append(decoded)
    table = pd.DataFrame(rows)
    with atomic_path(folder / "points.csv") as temporary:
        table.to_csv(temporary, index=False)
    order = np.argsort(table["bpp"].to_numpy(), kind="stable")
    return table.iloc[order].reset_index(drop=True), [images[i] for i in order]


def load_points(folder: str | Path, autoencoder,
                device: str = "cpu") -> tuple[np.ndarray, pd.DataFrame, list[np.ndarray]]:
    """Decode the files of an ``encode_points`` folder: (original, table, images) by rate."""
    folder = Path(folder)
    table = pd.read_csv(folder / "points.csv").sort_values("bpp", kind="stable")
    table = table.reset_index(drop=True)
    images = [tensor_to_image(decompress(folder / name, vae=autoencoder, device=device))
              for name in table["file"]]
    return read_image(folder / "original.png"), table, images


def panels_of(table: pd.DataFrame, images: Sequence[np.ndarray]) -> list[dict[str, Any]]:
    """Rows of an ``encode_points`` table with their images, as panels for the strip/slider."""
    return [{**row, "image": image}
            for row, image in zip(table.to_dict("records"), images, strict=True)]


def _png(array: np.ndarray) -> bytes:
    """An image as PNG bytes."""
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def slider_label(panel: Mapping[str, Any]) -> str:
    """What the slider reads at a point: its λ and the file's bits per pixel."""
    return f"λ = {panel['lambda']:.3g} · {panel['bpp']:.3f} bpp"


def rate_slider(reference: np.ndarray, panels: Sequence[Mapping[str, Any]]):
    """An ipywidgets slider along the rate axis (it reads λ and bpp) showing each decoded
    image and its numbers next to the original."""
    encoded = [_png(p["image"]) for p in panels]
    captions = [", ".join(f"{k} {p[k]:.4g}" for k in ("lambda", "bpp", *METRIC_NAMES)
                          if k in p and p[k] == p[k]) for p in panels]
    labels = [slider_label(p) for p in panels]
    slider = widgets.SelectionSlider(options=list(zip(labels, range(len(panels)), strict=True)),
                                     value=0, description="rate", continuous_update=True,
                                     layout=widgets.Layout(width="640px"))
    width = min(reference.shape[1], 640)
    picture = widgets.Image(value=encoded[0], format="png", width=width)
    caption = widgets.HTML(captions[0])
    original = widgets.Image(value=_png(reference), format="png", width=width)

    def update(change: Mapping[str, Any]) -> None:
        picture.value = encoded[change["new"]]
        caption.value = captions[change["new"]]

    slider.observe(update, names="value")
    return widgets.VBox([slider, caption, widgets.HBox([picture, original]),
                         widgets.HTML("left: decoded at the chosen rate; right: original")])


def continuous_runs(results_dir: str | Path) -> list[Path]:
    """Folders written by notebook 06 (``results_dir/continuous/<vae>_<image>/``)."""
    folder = Path(results_dir) / "continuous"
    return sorted(p for p in folder.glob("*/") if (p / "points.csv").is_file())


HOW_TO_MAKE_RESULTS = """\
No saved results in {results_dir}. Produce them with one of:
  * notebook 05_evaluation (a small sweep on the tutorial image or Kodak), then 06 for Fig. 3;
  * the full Kodak table:  python benchmarks/kodak_rd.py --vae {vae}
    (writes results/kodak_{vae}.csv; CLRIC_KODAK_DIR must point to the Kodak images);
  * any sweep:  clric eval --codec jpeg webp vae-only clric --vae {vae} --out results/NAME.csv
Or rerun this notebook with make_missing = True to compute a small set here."""
