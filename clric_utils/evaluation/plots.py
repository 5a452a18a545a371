"""Rate-distortion curves (data-set means per codec), written as PNG files.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot): no GUI backend,
no global figure list to leak, safe in worker processes and on headless machines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ..errors import ClricError

#: Axis label and direction of every metric column.
METRIC_LABELS = {
    "psnr": "PSNR (dB) ↑",
    "ms_ssim": "MS-SSIM ↑",
    "lpips_alex": "LPIPS-alex ↓",
    "lpips_vgg": "LPIPS-vgg ↓",
    "dists": "DISTS ↓",
}


def load_results(source: pd.DataFrame | str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """A results table from a DataFrame, one CSV, or several CSVs (concatenated).

    Only the valid rows of a CSV count (:func:`~.results_file.load_valid_rows`): damaged ones
    are left out with one warning per file, which is not changed; a CSV with no valid row left
    raises ClricError.
    """
    if isinstance(source, pd.DataFrame):
        return source
    from .results_file import load_valid_rows  # imports torch (the sweep's columns): on demand

    paths = [Path(source)] if isinstance(source, (str, Path)) else [Path(p) for p in source]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise ClricError(f"no results CSV at {', '.join(missing) or '(none given)'}")
    return pd.concat([load_valid_rows(p) for p in paths], ignore_index=True)


#: The columns that tell one rate-distortion curve from another (``preset`` and ``effort``
#: where present): CLRIC at two encoding efforts is two curves, each with its own BD-rates.
CURVE_COLUMNS = ("codec", "vae", "preset", "effort")


def curve_columns(frame: pd.DataFrame) -> list[str]:
    """The CURVE_COLUMNS that ``frame`` has."""
    return [column for column in CURVE_COLUMNS if column in frame.columns]


def rd_means(frame: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Data-set mean bpp and metrics per curve (codec, vae, preset, effort) and parameter."""
    # ``images`` counts the rows behind each mean, to spot a partially finished sweep.
    keys = curve_columns(frame)
    # As text, NaN keys (an all-empty column reads as float) would not group or match.
    frame = frame.astype({key: object for key in keys}).fillna({key: "none" for key in keys})
    if "image" in frame.columns:  # a point remeasured (e.g. another version): the newest row
        frame = frame.drop_duplicates(["image", *keys, "parameter"], keep="last")
    grouped = frame.groupby([*keys, "parameter"], dropna=False)
    means = grouped[["bpp", *metrics]].mean(numeric_only=True).reset_index()
    means["images"] = grouped.size().to_numpy()
    return means.sort_values([*keys, "bpp", "parameter"]).reset_index(drop=True)


def partial_points(means: pd.DataFrame) -> pd.Series:
    """True for the points of ``rd_means`` measured on fewer images than their curve's most
    complete point (e.g. a λ tried on a few images only): their mean is over other images, so
    curves and BD-rates leave them out."""
    keys = curve_columns(means)
    most = means.groupby(keys, dropna=False)["images"].transform("max")
    return means["images"] < most


def curve_label(codec: str, vae: str, preset: str = "none", effort: str = "none") -> str:
    """Legend entry: the codec, its preset, its VAE and its effort where they apply, e.g.
    ``clric wide (house, medium effort)``."""
    def given(value) -> bool:
        return not (pd.isna(value) or value in ("none", ""))

    name = f"{codec} {preset}" if given(preset) else codec
    details = [vae] if given(vae) else []
    if given(effort):
        details.append(f"{effort} effort")
    return f"{name} ({', '.join(details)})" if details else name


#: Major ticks of the log-scale rate axis (bits per pixel), labelled as plain numbers.
RATE_TICKS = (0.003, 0.01, 0.03, 0.1, 0.3, 1, 3)

#: Colours and markers of published anchors, distinct from our curves' C0, C1, …
ANCHOR_STYLES = (("black", "s"), ("darkgoldenrod", "^"), ("teal", "D"), ("indigo", "v"),
                 ("slategray", "P"))  # fmt: skip


def _log_rate_axis(axis) -> None:
    """Log-scale bpp axis with plain-number ticks, so 0.01–0.3 bpp is as readable as 1–2."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    axis.set_xscale("log")
    axis.xaxis.set_major_locator(FixedLocator(RATE_TICKS))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.set_xlabel("rate (bits per pixel, log scale)")


def _draw_anchors(axis, metric: str, dataset: str, styles: dict[str, tuple[str, str]]) -> list:
    """Dashed published curves of ``dataset`` that report ``metric``; returns those drawn."""
    from .anchors import published_curves

    drawn = []
    for curve in published_curves(dataset, metric):
        colour, marker = styles.setdefault(
            curve.name, ANCHOR_STYLES[len(styles) % len(ANCHOR_STYLES)]
        )
        axis.plot(curve.bpp, curve.metrics[metric], linestyle="--", marker=marker, markersize=3,
                  linewidth=1, color=colour, label=curve.label)  # fmt: skip
        drawn.append(curve)
    return drawn


#: One colour per codec in every figure (matplotlib's cycle colours, named), so that a codec
#: keeps its colour whichever curves a table holds; unknown codecs take the unused ones.
CODEC_COLOURS = {"clric": "C3", "clric-perceptual": "C6", "clric-pixel": "C9", "jpeg": "C0",
                 "webp": "C1", "avif": "C2", "avif-slow": "C8", "latent-quant": "C4",
                 "vae-only": "C7"}  # fmt: skip

#: Line styles and markers of a codec's first, second, … curve (other VAE, preset or effort):
#: 4 styles and 6 markers cycle together, so the first 12 curves of a codec all differ.
CURVE_LINES = ("-", "--", ":", "-.")
CURVE_MARKERS = ("o", "s", "^", "D", "v", "P")


def curve_styles(keys: Sequence[tuple]) -> dict[tuple, tuple[str, str, str]]:
    """(colour, line style, marker) of each curve key (codec first): the codec's colour, and
    the n-th curve of a codec the n-th line style and the n-th marker."""
    spare = iter(f"C{i}" for i in range(10) if f"C{i}" not in CODEC_COLOURS.values())
    extra: dict[str, str] = {}
    seen: dict[str, int] = {}
    styles = {}
    for key in keys:
        codec = str(key[0])
        if codec not in CODEC_COLOURS and codec not in extra:
            extra[codec] = next(spare, "k")
        colour = CODEC_COLOURS.get(codec) or extra[codec]
        n = seen.get(codec, 0)
        styles[key] = (colour, CURVE_LINES[n % len(CURVE_LINES)],
                       CURVE_MARKERS[n % len(CURVE_MARKERS)])
        seen[codec] = n + 1
    return styles


def plot_rd(
    results: pd.DataFrame | str | Path | Iterable[str | Path],
    metrics: Sequence[str] = ("psnr", "ms_ssim", "lpips_alex", "lpips_vgg", "dists"),
    out_path: str | Path | None = "figures/rd.png",
    title: str | None = None,
    anchors: str | None = None,
) -> Figure:
    """One panel per metric, one line per curve (mean bpp vs mean metric, log-scale bpp); PNG.

    Codecs without a rate (``vae-only``) are drawn as a dashed horizontal ceiling. A curve
    measured on fewer images than the table holds says so in its label; points measured on
    fewer images than the rest of their curve are left out (``partial_points``). ``anchors``
    names the data set (``kodak``, ``clic2020``) whose published curves are drawn dashed beside
    ours, labelled "<name> (published)", with their citations under the panels; they are never
    mixed into our rows. Give it only when the table holds that whole data set.
    """
    frame = load_results(results)
    means = rd_means(frame, metrics)
    means = means[~partial_points(means)]
    total = frame["image"].nunique() if "image" in frame.columns else None
    columns_per_row = min(len(metrics), 3)
    rows = math.ceil(len(metrics) / columns_per_row)
    figure = Figure(figsize=(4.4 * columns_per_row + 2.6, 3.6 * rows + 0.6), layout="constrained")
    grid = figure.subplots(rows, columns_per_row, squeeze=False).ravel()
    for spare in grid[len(metrics):]:
        spare.set_axis_off()
    axes = grid[: len(metrics)]
    columns = curve_columns(means)
    keys = means[columns].drop_duplicates().itertuples(index=False, name=None)
    styles = curve_styles(list(keys))
    anchor_styles: dict[str, tuple[str, str]] = {}
    cited: dict[str, str] = {}
    for axis, metric in zip(axes, metrics, strict=True):
        for key, curve in means.groupby(columns, sort=False, dropna=False):
            label, (colour, line, marker) = curve_label(*key), styles[key]
            if total is not None and curve["images"].max() < total:
                label += f" [{curve['images'].max()} of {total} images]"
            values = curve[metric]
            if values.isna().all():
                continue
            if curve["bpp"].isna().all():  # no rate: the VAE's quality ceiling
                axis.axhline(values.mean(), color=colour, linestyle="--", label=f"{label} ceiling")
            else:
                axis.plot(curve["bpp"], values, marker=marker, markersize=3, color=colour,
                          linestyle=line, label=label)
        if anchors is not None:
            for curve in _draw_anchors(axis, metric, anchors, anchor_styles):
                cited[curve.name] = curve.short_citation
        axis.set_ylabel(METRIC_LABELS.get(metric, metric))
        axis.grid(alpha=0.3, which="both")
        if not axis.lines:
            axis.text(0.5, 0.5, "no data", ha="center", va="center", transform=axis.transAxes)
        else:
            _log_rate_axis(axis)
    handles, labels = axes[0].get_legend_handles_labels()
    for axis in axes[1:]:  # a metric panel may hold curves the first one lacks
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if handles:
        figure.legend(handles, labels, loc="outside right center", fontsize="small")
    if cited:
        note = "; ".join(f"{name}: {citation}" for name, citation in cited.items())
        figure.supxlabel(f"Dashed: published results, not measured here ({note}); numbers and "
                         "links in clric_utils/evaluation/published/", fontsize="x-small")
    if title:
        figure.suptitle(title)
    if out_path is not None:
        _save(figure, out_path)
    return figure


def _save(figure: Figure, out_path: str | Path) -> Path:
    """Write ``figure`` as a PNG, creating folders."""
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path
