"""The notebooks' figures (``matplotlib.figure.Figure``, no pyplot), saved as PNG and shown.

Each ``plot_*`` draws one kind of figure from plain arrays, tables or a fitted model; ``show``
saves it to ``out_dir`` and displays it inline.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from IPython import get_ipython
from IPython.display import Image, display
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..atomic import write_bytes_atomic
from ..codec.laplace import laplace_pmf
from ..evaluation.plots import METRIC_LABELS
from ..metrics.quality import psnr


def show(figure: Figure, out_dir: str | Path | None = None, name: str | None = None,
         dpi: int = 110) -> None:
    """Save ``figure`` as ``out_dir/name`` (PNG) when both are given, and show it inline.

    Returns None, so that a notebook cell ending with ``T.show(...)`` prints nothing more.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    png = buffer.getvalue()
    if out_dir is not None and name is not None:
        write_bytes_atomic(Path(out_dir) / name, png)
    if get_ipython() is not None:  # plain Python without a kernel: saving is enough
        display(Image(data=png))


def _symmetric_limit(values: np.ndarray) -> float:
    """A colour limit for a diverging colour map (robust to a few outliers)."""
    limit = float(np.quantile(np.abs(values), 0.995)) if values.size else 1.0
    return limit if limit > 0 else 1.0


def plot_latent_channels(latent: torch.Tensor, title: str | None = None) -> Figure:
    """The channels of a 1×C×h×w latent as images, with each channel's histogram below."""
    y = latent.detach().float().cpu().numpy()[0]
    channels = y.shape[0]
    limit = _symmetric_limit(y)
    figure = Figure(figsize=(3.1 * channels, 5.4), layout="constrained")
    axes = figure.subplots(2, channels, squeeze=False, height_ratios=(3, 1.4))
    grid = np.linspace(-1.3 * limit, 1.3 * limit, 200)
    for c in range(channels):
        image = axes[0, c].imshow(y[c], cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[0, c].set_title(f"channel {c}: mean {y[c].mean():+.2f}, std {y[c].std():.2f}",
                             fontsize="small")
        axes[0, c].set_axis_off()
        axes[1, c].hist(y[c].ravel(), bins=60, density=True, color=f"C{c}", alpha=0.7)
        axes[1, c].plot(grid, np.exp(-grid**2 / 2) / math.sqrt(2 * math.pi), "k--", lw=0.8,
                        label="N(0, 1)")
        axes[1, c].set_xlim(-1.3 * limit, 1.3 * limit)
        axes[1, c].set_yticks([])
        axes[1, c].set_xlabel("latent value (scaled)", fontsize="small")
    axes[1, 0].set_ylabel("density", fontsize="small")
    axes[1, 0].legend(fontsize="x-small")
    figure.colorbar(image, ax=axes[0, :], shrink=0.8)
    if title:
        figure.suptitle(title)
    return figure


def plot_images(images: Mapping[str, np.ndarray], reference: np.ndarray | None = None,
                columns: int | None = None, title: str | None = None) -> Figure:
    """Images side by side, titled with their label (and PSNR against ``reference``)."""
    items = list(images.items())
    columns = columns or len(items)
    rows = math.ceil(len(items) / columns)
    height, width = items[0][1].shape[:2]
    scale = 3.6 / max(height, width)
    figure = Figure(figsize=(columns * width * scale, rows * (height * scale + 0.5)),
                    layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis, (label, image) in zip(axes, items, strict=False):
        axis.imshow(image, interpolation="nearest")
        if reference is not None and image is not reference and image.shape == reference.shape:
            label = f"{label}\n{psnr(reference, image):.2f} dB"
        axis.set_title(label, fontsize="small")
    for axis in axes:
        axis.set_axis_off()
    if title:
        figure.suptitle(title)
    return figure


def plot_error(reference: np.ndarray, image: np.ndarray, title: str = "|error|") -> Figure:
    """Per-pixel absolute error (mean over RGB, 8-bit levels) as a heat map."""
    error = np.abs(reference.astype(np.float64) - image.astype(np.float64)).mean(axis=2)
    height, width = error.shape
    scale = 4.0 / max(height, width)
    figure = Figure(figsize=(width * scale + 1.0, height * scale + 0.4), layout="constrained")
    axis = figure.subplots()
    shown = axis.imshow(error, cmap="magma", vmin=0, vmax=max(float(np.quantile(error, 0.99)), 1))
    axis.set_title(title, fontsize="small")
    axis.set_axis_off()
    figure.colorbar(shown, ax=axis, shrink=0.8, label="8-bit levels")
    return figure


def plot_history(history: Sequence[Mapping[str, Any]], title: str | None = None) -> Figure:
    """Loss, rate (bpp) and latent MSE of a fit against the iteration, one colour per phase."""
    frame = pd.DataFrame(list(history))
    figure = Figure(figsize=(13, 3.4), layout="constrained")
    axes = figure.subplots(1, 3)
    columns = (("loss", "loss = MSE + λ·bpp", True), ("bpp", "bits per pixel (estimate)", False),
               ("mse", "latent MSE(y, ŷ)", True))
    phases = list(dict.fromkeys(frame["phase"])) if len(frame) else []
    for axis, (column, label, log) in zip(axes, columns, strict=True):
        if len(frame):
            axis.plot(frame["iteration"], frame[column], color="0.6", lw=0.8)
        for i, phase in enumerate(phases):
            part = frame[frame["phase"] == phase]
            axis.plot(part["iteration"], part[column], "o", ms=3, color=f"C{i}", label=phase)
        axis.set_xlabel("iteration")
        axis.set_ylabel(label)
        if log and len(frame) and (frame[column] > 0).all():
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
    if phases:
        axes[0].legend(fontsize="small")
    if title:
        figure.suptitle(title)
    return figure


def plot_latent_comparison(y: torch.Tensor, y_hat: torch.Tensor,
                           title: str | None = None) -> Figure:
    """Rows y, ŷ and y − ŷ; one column per latent channel."""
    a = y.detach().float().cpu().numpy()[0]
    b = y_hat.detach().float().cpu().numpy()[0]
    channels = a.shape[0]
    limit = _symmetric_limit(a)
    figure = Figure(figsize=(2.9 * channels + 1, 7.6), layout="constrained")
    axes = figure.subplots(3, channels, squeeze=False)
    rows = (("y", a, limit), ("ŷ", b, limit), ("y − ŷ", a - b, limit / 2))
    for r, (name, values, lim) in enumerate(rows):
        for c in range(channels):
            shown = axes[r, c].imshow(values[c], cmap="RdBu_r", vmin=-lim, vmax=lim)
            extra = f", MSE {np.mean(values[c] ** 2):.3g}" if r == 2 else ""
            axes[r, c].set_title(f"{name}, channel {c}{extra}", fontsize="small")
            axes[r, c].set_axis_off()
        figure.colorbar(shown, ax=axes[r, :], shrink=0.8)
    if title:
        figure.suptitle(title)
    return figure


#: Panels per row of ``plot_grids``.
GRID_COLUMNS = 4


def plot_grids(model, title: str | None = None) -> Figure:
    """Every channel of every quantized latent grid of a fitted model, finest level first."""
    with torch.no_grad():
        grids = [(level, channel, g[0, channel].numpy())
                 for level, g in enumerate(model.quantized_grids("hard"))
                 for channel in range(g.shape[1])]
    limit = max(1.0, max(float(np.abs(g).max()) for _, _, g in grids))
    # At most GRID_COLUMNS panels a row: a page-wide figure stays readable (wide has 10 grids).
    columns = min(GRID_COLUMNS, len(grids))
    rows = math.ceil(len(grids) / columns)
    figure = Figure(figsize=(2.6 * columns + 0.8, 2.4 * rows + 0.4), layout="constrained")
    axes = list(figure.subplots(rows, columns, squeeze=False).flat)
    for axis in axes[len(grids):]:
        axis.set_axis_off()
    axes = axes[:len(grids)]
    for axis, (level, channel, grid) in zip(axes, grids, strict=True):
        shown = axis.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        axis.set_title(f"level {level}, ch. {channel}: {grid.shape[0]}×{grid.shape[1]}\n"
                       f"{int((grid != 0).sum())} non-zero", fontsize="small")
        axis.set_axis_off()
    figure.colorbar(shown, ax=list(axes), shrink=0.8, label="grid value (integer)")
    if title:
        figure.suptitle(title)
    return figure


def plot_context(offsets: Sequence[Sequence[int]]) -> Figure:
    """The ARM's causal context: which already-decoded neighbours predict the current value."""
    radius = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    board = np.zeros((radius + 1, 2 * radius + 1))  # rows above and the current row
    for dy, dx in offsets:
        board[radius + dy, radius + dx] = 1
    board[radius, radius] = 2
    figure = Figure(figsize=(0.5 * board.shape[1] + 0.6, 0.5 * board.shape[0] + 0.7),
                    layout="constrained")
    axis = figure.subplots()
    axis.imshow(board, cmap="Blues", vmin=0, vmax=2.4)
    for (row, column), value in np.ndenumerate(board):
        text = "v" if value == 2 else ("ctx" if value == 1 else "")
        axis.text(column, row, text, ha="center", va="center", fontsize=7)
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_title(f"{len(offsets)} causal neighbours", fontsize="small")
    return figure


def plot_grid_probabilities(info: Mapping[str, np.ndarray], level: int = 0) -> Figure:
    """Grid values, μ, b and bits per value as maps; the values' histogram against the model."""
    figure = Figure(figsize=(16, 3.6), layout="constrained")
    axes = figure.subplots(1, 5, width_ratios=(1, 1, 1, 1, 1.3))
    values = info["values"]
    lim = max(1, int(np.abs(values).max()))
    maps = (("quantized values v", values, "RdBu_r", -lim, lim),
            ("ARM location μ", info["mu"], "RdBu_r", -lim, lim),
            ("ARM scale b", info["scale"], "viridis", None, None),
            ("rate −log₂P(v) (bits)", info["bits"], "magma", 0, None))
    for axis, (name, data, cmap, vmin, vmax) in zip(axes[:4], maps, strict=True):
        shown = axis.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        axis.set_title(name, fontsize="small")
        axis.set_axis_off()
        figure.colorbar(shown, ax=axis, shrink=0.7)
    support = np.arange(-lim - 2, lim + 3)
    counts = np.array([(values == v).sum() for v in support]) / values.size
    model = laplace_pmf(torch.as_tensor(support, dtype=torch.float64)[None, :],
                        torch.as_tensor(info["mu"], dtype=torch.float64).reshape(-1, 1),
                        torch.as_tensor(info["scale"], dtype=torch.float64).reshape(-1, 1))
    model = model.mean(dim=0).numpy()
    axis = axes[4]
    axis.bar(support, counts, color="C0", alpha=0.6, label="observed frequency")
    axis.plot(support, model, "o-", color="C3", ms=3, label="mean ARM P(v)")
    axis.set_yscale("log")
    axis.set_xlabel("v")
    axis.legend(fontsize="x-small")
    axis.set_title(f"{values.size} values, {info['bits'].sum():.0f} bits", fontsize="small")
    figure.suptitle(f"grid level {level} ({values.shape[0]}×{values.shape[1]})")
    return figure


def plot_quantized_vs_float(float_info: Mapping[str, np.ndarray],
                            table_info: Mapping[str, np.ndarray]) -> Figure:
    """Scatter of the float ARM's (μ, b) against the integer decoder's table values."""
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    axes = figure.subplots(1, 2)
    for axis, key, name in ((axes[0], "mu", "location μ"), (axes[1], "scale", "scale b")):
        a, b = float_info[key].ravel(), table_info[key].ravel()
        axis.plot(a, b, ".", ms=3, alpha=0.5)
        low, high = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
        axis.plot([low, high], [low, high], "k--", lw=0.8)
        axis.set_xlabel(f"{name}, float ARM (training)")
        axis.set_ylabel(f"{name}, integer ARM + table (file)")
        axis.grid(alpha=0.3)
        if key == "scale":
            axis.set_xscale("log")
            axis.set_yscale("log")
    return figure


def plot_file_breakdown(table: pd.DataFrame) -> Figure:
    """Bar chart of ``file_breakdown``: bytes written vs estimated, per part."""
    figure = Figure(figsize=(7, 3.2), layout="constrained")
    axis = figure.subplots()
    x = np.arange(len(table))
    axis.bar(x - 0.2, table["bytes"], 0.4, label="in the file")
    axis.bar(x + 0.2, table["estimated bytes"].fillna(0), 0.4, label="model estimate")
    axis.set_xticks(x, table["part"])
    axis.set_ylabel("bytes")
    axis.legend()
    axis.grid(axis="y", alpha=0.3)
    return figure


def plot_macs(table: pd.DataFrame, vae_name: str = "VAE", preset: str = "this file's") -> Figure:
    """Bars of MAC per pixel: f_ψ parts, the paper's total, the VAE decoder (log scale).

    ``preset`` names the architecture the parts and the first total belong to."""
    figure = Figure(figsize=(8, 3.6), layout="constrained")
    axis = figure.subplots()
    columns = [("arm", "ARM"), ("upsampling", "upsampling"), ("synthesis", "synthesis"),
               ("total", f"f_ψ total ({preset} preset)"),
               ("paper total", "f_ψ total (the paper's Table 1)")]
    if "VAE decoder" in table:
        columns.append(("VAE decoder", f"{vae_name} decoder"))
    width = 0.8 / len(columns)
    x = np.arange(len(table))
    for i, (column, label) in enumerate(columns):
        values = table[column].astype(float)
        bars = axis.bar(x + (i - (len(columns) - 1) / 2) * width, values.fillna(0), width,
                        label=label)
        labels = ["" if v != v else (f"{v:,.0f}" if v >= 100 else f"{v:.3g}") for v in values]
        axis.bar_label(bars, labels, fontsize=6)
    axis.set_xticks(x, table["image"])
    axis.set_yscale("log")
    axis.set_ylim(top=axis.get_ylim()[1] * 3)
    axis.set_ylabel("MAC per image pixel")
    figure.legend(fontsize="x-small", loc="outside right upper")
    axis.grid(axis="y", alpha=0.3)
    return figure


def plot_table(table: pd.DataFrame, title: str | None = None,
               float_format: str = "{:.4g}") -> Figure:
    """A DataFrame drawn as a table figure (for tables saved as PNG next to the figures)."""
    cells = [[float_format.format(v) if isinstance(v, float) else str(v) for v in row]
             for row in table.itertuples(index=False)]
    figure = Figure(figsize=(max(6, 1.25 * len(table.columns)), 0.45 * (len(table) + 1) + 0.6),
                    layout="constrained")
    axis = figure.subplots()
    axis.set_axis_off()
    drawn = axis.table(cellText=cells, colLabels=list(map(str, table.columns)), loc="center")
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(8)
    drawn.scale(1, 1.3)
    if title:
        axis.set_title(title)
    return figure


def plot_strip(reference: np.ndarray, panels: Sequence[Mapping[str, Any]],
               title: str | None = None, crop: Sequence[int] | None = None,
               columns: int = 5) -> Figure:
    """Decoded images (``label``, ``image``, ``bpp``), low rate to high rate, row-major,
    titled with bpp and PSNR (Fig. 3 of the paper). ``crop`` = (top, left, height, width)."""
    height, width = reference.shape[:2] if crop is None else crop[2:]
    scale = 2.6 / max(height, width)
    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(columns * width * scale, rows * (height * scale + 0.6)),
                    layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis in axes[len(panels):]:
        axis.set_axis_off()
    for axis, panel in zip(axes, panels, strict=False):
        image = panel["image"]
        shown = image if crop is None else image[crop[0]:crop[0] + crop[2],
                                                 crop[1]:crop[1] + crop[3]]
        axis.imshow(shown, interpolation="nearest")
        bpp = panel.get("bpp")
        rate = "" if bpp is None or bpp != bpp else f"{bpp:.3f} bpp, "
        axis.set_title(f"{panel['label']}\n{rate}{psnr(reference, image):.2f} dB",
                       fontsize="small")
        axis.set_axis_off()
    if title:
        figure.suptitle(title)
    return figure


def plot_rate_curve(table: pd.DataFrame, ceiling: float | None = None,
                    metric: str = "psnr") -> Figure:
    """Two panels: bpp against λ (log-log) and ``metric`` against bpp."""
    figure = Figure(figsize=(10, 3.6), layout="constrained")
    left, right = figure.subplots(1, 2)
    by_lambda = table.sort_values("lambda")
    left.loglog(by_lambda["lambda"], by_lambda["bpp"], "o-")
    left.set_xlabel("λ")
    left.set_ylabel("bits per pixel (file)")
    left.grid(alpha=0.3, which="both")
    ordered = table.sort_values("bpp")
    right.plot(ordered["bpp"], ordered[metric], "o-", label="CLRIC")
    if ceiling is not None:
        right.axhline(ceiling, color="k", ls="--", label="VAE ceiling")
    right.xaxis.set_major_locator(MaxNLocator(5))
    right.set_xlabel("bits per pixel (file)")
    right.set_ylabel(METRIC_LABELS.get(metric, metric))
    right.grid(alpha=0.3)
    right.legend()
    return figure
