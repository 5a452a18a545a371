"""Tables from sweep results: mean per codec × parameter, and BD-rates against an anchor."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from ..errors import ClricError
from ..metrics.quality import METRIC_NAMES
from .bd import bd_rate
from .plots import load_results, rd_means


def mean_table(
    results: pd.DataFrame | str | Path | Iterable[str | Path],
    metrics: Sequence[str] = METRIC_NAMES,
) -> pd.DataFrame:
    """Data-set means of bpp, metrics and timings per (codec, vae, parameter)."""
    frame = load_results(results)
    means = rd_means(frame, [*metrics, "encode_s", "decode_s"])
    return means[["codec", "vae", "parameter", "images", "bpp", *metrics, "encode_s", "decode_s"]]


def bd_rate_table(
    results: pd.DataFrame | str | Path | Iterable[str | Path],
    anchor: str = "jpeg",
    metrics: Sequence[str] = METRIC_NAMES,
    method: str = "pchip",
) -> pd.DataFrame:
    """BD-rate (%) of every rated curve against ``anchor``, per metric, on data-set mean curves.

    A cell is NaN where the curves do not overlap or have too few points.
    """
    means = rd_means(load_results(results), metrics).dropna(subset=["bpp"])
    curves = {key: curve for key, curve in means.groupby(["codec", "vae"], dropna=False)}
    anchors = [key for key in curves if key[0] == anchor]
    if len(anchors) != 1:
        raise ClricError(f"need exactly one {anchor!r} curve as anchor, found {len(anchors)}")
    base = curves[anchors[0]]
    rows = []
    for (codec, vae), curve in curves.items():
        row: dict[str, object] = {"codec": codec, "vae": vae}
        for metric in metrics:
            try:
                row[metric] = bd_rate(
                    base["bpp"], base[metric], curve["bpp"], curve[metric], method
                )
            except ClricError:  # no overlap, NaN metric column, too few points
                row[metric] = math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["codec", "vae", *metrics])
