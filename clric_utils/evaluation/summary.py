"""Tables from sweep results: mean per codec × parameter, and BD-rates against an anchor."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from ..errors import ClricError
from ..metrics.quality import METRIC_NAMES
from .bd import bd_rate_over_overlap
from .plots import CURVE_COLUMNS, curve_columns, load_results, partial_points, rd_means


def mean_table(
    results: pd.DataFrame | str | Path | Iterable[str | Path],
    metrics: Sequence[str] = METRIC_NAMES,
) -> pd.DataFrame:
    """Data-set means of bpp, metrics and timings per curve (codec, vae, preset, effort) and
    parameter."""
    frame = load_results(results)
    means = rd_means(frame, [*metrics, "encode_s", "decode_s"])
    return means[[*curve_columns(means), "parameter", "images", "bpp", *metrics, "encode_s",
                  "decode_s"]]


def anchor_matches(key: Sequence[object], anchor: str) -> bool:
    """Whether curve ``key`` (codec, vae, preset, effort) is named by ``anchor``.

    An anchor is a codec name (``avif``) or, to pick one curve among several of a codec,
    its fields joined by colons in that order: ``clric:house``, ``clric:house:wide:medium``.
    """
    fields = anchor.split(":")
    return len(fields) <= len(key) and all(
        str(value) == field for value, field in zip(key, fields, strict=False)
    )


def anchor_curves(
    results: pd.DataFrame | str | Path | Iterable[str | Path], anchor: str
) -> list[str]:
    """Each rated curve ``anchor`` names, as a full ``codec:vae:preset:effort`` anchor."""
    means = rd_means(load_results(results), []).dropna(subset=["bpp"])
    keys = means[curve_columns(means)].drop_duplicates().itertuples(index=False, name=None)
    return [":".join(str(v) for v in key) for key in keys if anchor_matches(key, anchor)]


def bd_rate_table(
    results: pd.DataFrame | str | Path | Iterable[str | Path],
    anchor: str = "jpeg",
    metrics: Sequence[str] = METRIC_NAMES,
    method: str = "pchip",
) -> pd.DataFrame:
    """BD-rate (%) of every rated curve against ``anchor``, per metric, on data-set mean curves.

    ``anchor`` must name exactly one curve (``anchor_matches``: a codec, or
    ``codec:vae:preset:effort`` fields where a codec has several curves).

    Each BD-rate is computed over the quality range both curves cover, given beside it in the
    column ``<metric>_overlap`` ("low–high"). Where that range is narrower than
    ``bd.MIN_OVERLAP`` (1 dB PSNR, 0.01 MS-SSIM, 0.05 LPIPS, 0.03 DISTS) the value is NaN and
    the overlap column says "no overlap"; so does a curve with too few points. Points measured
    on fewer images than the rest of their curve are left out (``plots.partial_points``).
    """
    means = rd_means(load_results(results), metrics).dropna(subset=["bpp"])
    means = means[~partial_points(means)]
    columns = curve_columns(means)
    curves = {key: curve for key, curve in means.groupby(columns, dropna=False)}
    anchors = [key for key in curves if anchor_matches(key, anchor)]
    if len(anchors) != 1:
        raise ClricError(f"need exactly one {anchor!r} curve as anchor, found {len(anchors)}")
    base = curves[anchors[0]]
    rows = []
    for key, curve in curves.items():
        row: dict[str, object] = dict(zip(columns, key, strict=True))
        for metric in metrics:
            value, low, high = None, math.nan, math.nan
            try:
                value, low, high = bd_rate_over_overlap(
                    base["bpp"], base[metric], curve["bpp"], curve[metric], metric, method
                )
            except ClricError:  # NaN metric column, too few points
                pass
            row[metric] = math.nan if value is None else value
            row[f"{metric}_overlap"] = "no overlap" if value is None else f"{low:.3g}–{high:.3g}"
        rows.append(row)
    return pd.DataFrame(rows)


def matched_rate_table(
    results: pd.DataFrame | str | Path | Iterable[str | Path],
    rates: Sequence[float],
    metrics: Sequence[str] = METRIC_NAMES,
    codecs: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Each rated curve's data-set mean metrics at the given rates (bpp), for comparing curves
    at equal rate: linear interpolation in log(bpp) between the two measured points around each
    rate; NaN where a rate lies outside the curve's measured range (never extrapolated).
    ``codecs`` keeps only those codecs' curves. One row per curve and rate.
    """
    import numpy as np

    means = rd_means(load_results(results), metrics).dropna(subset=["bpp"])
    means = means[~partial_points(means)]
    columns = curve_columns(means)
    rows = []
    for key, curve in means.groupby(columns, dropna=False, sort=False):
        if codecs is not None and key[0] not in codecs:
            continue
        curve = curve.sort_values("bpp")
        log_bpp = np.log(curve["bpp"].to_numpy(dtype=float))
        for rate in rates:
            row: dict[str, object] = {**dict(zip(columns, key, strict=True)), "bpp": rate}
            inside = log_bpp[0] <= math.log(rate) <= log_bpp[-1]
            for metric in metrics:
                values = curve[metric].to_numpy(dtype=float)
                row[metric] = float(np.interp(math.log(rate), log_bpp, values)) if inside \
                    else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def format_bd_table(table: pd.DataFrame, metrics: Sequence[str] = METRIC_NAMES) -> pd.DataFrame:
    """``bd_rate_table`` for printing: "−12.3 % over 24.1–26" or "no overlap" per metric."""
    out = table[[c for c in table.columns if c in CURVE_COLUMNS]].copy()
    for metric in metrics:
        if metric not in table.columns:
            continue
        out[metric] = [
            "no overlap" if math.isnan(value) else f"{value:+.1f} % over {span}"
            for value, span in zip(table[metric], table[f"{metric}_overlap"], strict=True)
        ]
    return out
