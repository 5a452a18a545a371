"""One row of a sweep: run a codec on one image at one parameter, measure, label the row.

Both the client (``sweep.py``, in-process runs and the CSV's columns) and the Dask workers
(``dask_tasks.py``) build rows with these functions; neither imports the other for them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ClricError
from ..metrics.quality import METRIC_NAMES, all_metrics
from .contenders import VAE_CODECS, Codec

#: What a row was made with, besides its codec, VAE and parameter (part of the resume key).
PROVENANCE = ("preset", "effort", "seed", "vae_weights", "version")

#: The CSV columns, in order.
COLUMNS = (
    "image", "codec", "vae", "parameter", *PROVENANCE, "bytes", "bpp",
    *METRIC_NAMES,
    "encode_s", "decode_s",
)  # fmt: skip

#: The columns of package 0.1's CSVs (no provenance): refused with a message, never resumed.
COLUMNS_0_1 = tuple(c for c in COLUMNS if c not in PROVENANCE)

#: ``vae`` column value of codecs that do not use a VAE (so one JPEG run serves every VAE);
#: also the value of provenance fields that do not apply to a codec.
NO_VAE = "none"


def codec_provenance(codec: Codec, vae: Any) -> dict[str, str]:
    """The provenance fields of ``codec``'s rows: its settings, the VAE's weights, the version."""
    settings = getattr(codec, "settings", {})
    weights = getattr(vae, "weights_sha256", None) if codec.uses_vae else None
    effort = settings.get("effort", NO_VAE)
    return {
        "preset": str(settings.get("preset", NO_VAE)),
        "effort": str(getattr(effort, "name", effort)),  # an Effort object: by its name
        "seed": str(settings.get("seed", NO_VAE)),
        "vae_weights": str(weights or NO_VAE),
        "version": __version__,
    }


def format_parameter(value: float) -> str:
    """Write a parameter compactly and losslessly: ``5`` for 5.0, ``0.05`` for 0.05."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def read_image_rgb(path: Path) -> np.ndarray:
    """The image as uint8 H×W×3 (through the project's reader)."""
    from ..images import read_image

    return read_image(path)


def evaluate_one(
    image: np.ndarray,
    image_name: str,
    codec: Codec,
    vae_label: str,
    parameter: float,
    metrics: Sequence[str] = METRIC_NAMES,
    device: str = "cpu",
    provenance: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Encode, decode and measure one image at one parameter; return the CSV row.

    ``provenance`` fills the PROVENANCE columns (default: all ``none``).
    """
    start = time.perf_counter()
    data = codec.encode(image, parameter)
    encode_s = time.perf_counter() - start
    return measured_row(image, image_name, codec, vae_label, parameter, data, encode_s, metrics,
                        device, provenance)


def evaluate_grid(
    image: np.ndarray,
    image_name: str,
    codec: Codec,
    vae_label: str,
    parameters: Sequence[float],
    metrics: Sequence[str] = METRIC_NAMES,
    device: str = "cpu",
    provenance: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """``evaluate_one`` at every parameter, encoded in one job by ``codec.encode_grid``.

    Each row's ``encode_s`` is the job's wall time divided by the number of parameters (the
    fits share every step, so no single one has a time of its own).
    """
    start = time.perf_counter()
    files = codec.encode_grid(image, parameters)
    encode_s = (time.perf_counter() - start) / len(parameters)
    return [measured_row(image, image_name, codec, vae_label, parameter, data, encode_s,
                         metrics, device, provenance)
            for parameter, data in zip(parameters, files, strict=True)]


def measured_row(
    image: np.ndarray,
    image_name: str,
    codec: Codec,
    vae_label: str,
    parameter: float,
    data: bytes,
    encode_s: float,
    metrics: Sequence[str] = METRIC_NAMES,
    device: str = "cpu",
    provenance: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Decode ``data`` (``codec``'s file of ``image`` at ``parameter``), measure it: the row."""
    start = time.perf_counter()
    decoded = codec.decode(data)
    decode_s = time.perf_counter() - start
    if decoded.shape != image.shape:
        raise ClricError(
            f"{codec.name} decoded {image_name} to {decoded.shape}, expected {image.shape}"
        )
    height, width = image.shape[:2]
    size = len(data) if codec.measures_rate else math.nan
    row: dict[str, Any] = {
        "image": image_name,
        "codec": codec.name,
        "vae": vae_label,
        "parameter": format_parameter(parameter),
        **{name: NO_VAE for name in PROVENANCE},
        **(provenance or {}),
        "bytes": size,
        "bpp": 8.0 * size / (height * width),
    }
    row.update(all_metrics(image, decoded, metrics, device))
    row.update(encode_s=encode_s, decode_s=decode_s)
    return row


def load_sweep_vae(vae: Any, codec_names: Iterable[str], device: str) -> Any:
    """The VAE object: loaded by name when a VAE codec needs one, else passed through."""
    if not isinstance(vae, str):
        return vae
    if not VAE_CODECS.intersection(codec_names):
        return None  # e.g. a JPEG-only sweep never touches the (possibly untrained) VAE
    from ..vae import load_vae

    return load_vae(vae, device)


def vae_label(codec: Codec, vae: Any, vae_name: Any) -> str:
    """``vae`` column value of ``codec``'s rows."""
    if not codec.uses_vae:
        return NO_VAE
    return str(getattr(vae, "name", None) or vae_name)
