"""Small helpers for the tutorial notebooks (``notebooks/01_…`` … ``07_…``).

They keep the notebooks' code cells short: set-up, image loading with an optional centre crop
(the notebooks' fast mode), figures (built with ``matplotlib.figure.Figure``, no pyplot),
saving a figure as PNG *and* showing it inline, metrics that degrade to NaN when a backbone's
weights are not on this machine, and a few tables. Nothing here is needed by the codec itself.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .atomic import atomic_path, write_bytes_atomic
from .errors import ClricError, DatasetMissingError, MissingWeightsError
from .metrics.quality import METRIC_NAMES, all_metrics

#: Metrics computed by default in the notebooks (LPIPS-vgg is slow on a CPU).
DEFAULT_METRICS = ("psnr", "ms_ssim", "lpips_alex", "dists")

# --------------------------------------------------------------------------- set-up


def setup(threads: int | None = None, seed: int = 0) -> None:
    """Fix torch's thread count (``None``: leave it) and seed its generator."""
    if threads is not None:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)


def make_effort(effort: str = "fast", iterations: int | None = None):
    """The training effort: a preset name, or (fast mode) an ``Effort`` of ``iterations`` steps.

    ``iterations`` are split as the presets do: ~80 % soft-round, ~15 % straight-through,
    the rest fine-tuning after weight quantization.
    """
    from .codec.schedule import Effort, get_effort

    if iterations is None:
        return get_effort(effort).name
    n = int(iterations)
    if n < 3:
        raise ValueError(f"iterations must be ≥ 3 (one per training phase), got {iterations}")
    ste = max(1, round(0.15 * n))
    finetune = max(1, round(0.05 * n))
    softround = n - ste - finetune
    return Effort(f"{n} iterations", softround, ste, finetune, check_every=max(1, softround // 25))


def slug(text: Any) -> str:
    """A file-name-safe version of ``text`` (e.g. a VAE given as a folder path)."""
    name = Path(str(text)).name or str(text)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "x"


# --------------------------------------------------------------------------- images


def load_image(path: str | Path | None = None, crop: Sequence[int] | None = None) -> np.ndarray:
    """An image as uint8 H×W×3: ``path`` (default: the tutorial image), centre-cropped to
    ``crop`` = [height, width] when given (clipped to the image size)."""
    from .data import default_image_path
    from .images import crop_center, read_image

    array = read_image(default_image_path() if path is None else path)
    if crop is not None:
        height, width = min(int(crop[0]), array.shape[0]), min(int(crop[1]), array.shape[1])
        array = np.ascontiguousarray(crop_center(array, height, width))
    return array


def image_name(path: str | Path | None = None, crop: Sequence[int] | None = None) -> str:
    """A short name for an image (file stem, plus the crop size when cropped)."""
    from .data import default_image_path

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
    from .data import default_image_path, kodak_images
    from .images import image_files, save_png

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


# --------------------------------------------------------------------------- figures


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
    try:
        from IPython import get_ipython
        from IPython.display import Image, display

        if get_ipython() is not None:
            display(Image(data=png))
    except ImportError:  # plain Python without IPython: saving is enough
        pass


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
    axes[1, 0].legend(fontsize="x-small")
    figure.colorbar(image, ax=axes[0, :], shrink=0.8)
    if title:
        figure.suptitle(title)
    return figure


def plot_images(images: Mapping[str, np.ndarray], reference: np.ndarray | None = None,
                columns: int | None = None, title: str | None = None) -> Figure:
    """Images side by side, titled with their label (and PSNR against ``reference``)."""
    from .metrics.quality import psnr

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


def plot_grids(model, title: str | None = None) -> Figure:
    """Every channel of every quantized latent grid of a fitted model, finest level first."""
    with torch.no_grad():
        grids = [(level, channel, g[0, channel].numpy())
                 for level, g in enumerate(model.quantized_grids("hard"))
                 for channel in range(g.shape[1])]
    limit = max(1.0, max(float(np.abs(g).max()) for _, _, g in grids))
    figure = Figure(figsize=(2.4 * len(grids), 2.9), layout="constrained")
    axes = figure.subplots(1, len(grids), squeeze=False)[0]
    for axis, (level, channel, grid) in zip(axes, grids, strict=True):
        shown = axis.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        axis.set_title(f"level {level}, ch. {channel}: {grid.shape[0]}×{grid.shape[1]}\n"
                       f"{int((grid != 0).sum())} non-zero", fontsize="small")
        axis.set_axis_off()
    figure.colorbar(shown, ax=list(axes), shrink=0.8)
    if title:
        figure.suptitle(title)
    return figure


# --------------------------------------------------------------------------- metrics


def available_metrics(metrics: Sequence[str] = DEFAULT_METRICS) -> list[str]:
    """``metrics`` less those whose backbone weights are missing here (with a note why)."""
    from .metrics.lpips_offline import load_lpips
    from .metrics.quality import load_dists

    loaders = {"lpips_alex": lambda: load_lpips("alex", "cpu"),
               "lpips_vgg": lambda: load_lpips("vgg", "cpu"), "dists": lambda: load_dists("cpu")}
    kept = []
    for name in metrics:
        if name not in METRIC_NAMES:
            raise ValueError(f"unknown metric {name!r}; choose from {METRIC_NAMES}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torchvision's deprecation notes
                if name in loaders:
                    loaders[name]()
            kept.append(name)
        except (MissingWeightsError, OSError) as error:
            print(f"skipping {name}: {error}")
    return kept


def quality(reference: np.ndarray, image: np.ndarray,
            metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, float]:
    """The metrics of ``image`` against ``reference``; NaN for those whose weights are missing."""
    values = {}
    for name in metrics:
        try:
            values[name] = all_metrics(reference, image, [name])[name]
        except MissingWeightsError as error:
            print(f"{name} unavailable here: {error}")
            values[name] = math.nan
    return values


# --------------------------------------------------------------------------- entropy coding


@torch.no_grad()
def grid_probabilities(model, level: int = 0, channel: int = 0) -> dict[str, np.ndarray]:
    """For one channel of grid ``level`` of a fitted model: its integer values and, per value,
    the ARM's Laplace location μ, scale b, probability P(v) and rate −log2 P(v) (float model)."""
    from .codec.arm import gather_context
    from .codec.laplace import LOG_SCALE_MAX, LOG_SCALE_MIN, rate_bits

    grids = model.quantized_grids("hard")
    if not 0 <= level < len(grids):
        raise ValueError(f"level must be in 0 … {len(grids) - 1}, got {level}")
    if not 0 <= channel < grids[level].shape[1]:
        raise ValueError(f"level {level} has channels 0 … {grids[level].shape[1] - 1}")
    grid = grids[level][:, channel : channel + 1]
    mu, log_scale = model.arm(gather_context(grid, model.arm.offsets))
    bits = rate_bits(grid.reshape(-1), mu, log_scale)
    shape = grid.shape[-2:]
    scale = torch.exp(log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
    return {
        "values": grid.reshape(shape).numpy().astype(np.int64),
        "mu": mu.reshape(shape).numpy(),
        "scale": scale.reshape(shape).numpy(),
        "bits": bits.reshape(shape).numpy(),
    }


def laplace_pmf(support: np.ndarray, mu: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """P(v) = F(v + ½) − F(v − ½) of discretized Laplaces: rows = (μ, b) pairs, columns = v."""
    v = np.asarray(support, dtype=np.float64)[None, :]
    m = np.asarray(mu, dtype=np.float64).reshape(-1, 1)
    b = np.asarray(scale, dtype=np.float64).reshape(-1, 1)

    def cdf(x: np.ndarray) -> np.ndarray:
        z = x - m
        return 0.5 + 0.5 * np.sign(z) * (1 - np.exp(-np.abs(z) / b))

    return cdf(v + 0.5) - cdf(v - 0.5)


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
    model = laplace_pmf(support, info["mu"], info["scale"]).mean(axis=0)
    axis = axes[4]
    axis.bar(support, counts, color="C0", alpha=0.6, label="observed frequency")
    axis.plot(support, model, "o-", color="C3", ms=3, label="mean ARM P(v)")
    axis.set_yscale("log")
    axis.set_xlabel("v")
    axis.legend(fontsize="x-small")
    axis.set_title(f"{values.size} values, {info['bits'].sum():.0f} bits", fontsize="small")
    figure.suptitle(f"grid level {level} ({values.shape[0]}×{values.shape[1]})")
    return figure


@torch.no_grad()
def grid_bits_table(model) -> pd.DataFrame:
    """Per grid level and channel: size, value range, number of non-zeros and estimated bits."""
    rows = []
    for level, channels in enumerate(model.grids.channels):
        for channel in range(channels):
            info = grid_probabilities(model, level, channel)
            values = info["values"]
            rows.append({"level": level, "channel": channel,
                         "shape": f"{values.shape[0]}×{values.shape[1]}",
                         "values": values.size, "min": int(values.min()),
                         "max": int(values.max()), "non-zero": int((values != 0).sum()),
                         "bits": float(info["bits"].sum())})
    frame = pd.DataFrame(rows)
    frame["bits/value"] = frame["bits"] / frame["values"]
    return frame


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


def integer_arm_parameters(decoded, level: int = 0, channel: int = 0) -> dict[str, np.ndarray]:
    """The decoder's table indices for one channel of grid ``level`` of a decoded file, as (μ, b).

    The integer ARM gives μ on a grid of 1/16 and log b as one of 128 table entries; these
    are the parameters the range coder really used.
    """
    from .bitstream.fixed_point import grid_contexts, integer_arm
    from .bitstream.tables import MU_STEPS, scale_value

    grid = decoded.grids[level][channel]
    mu_idx, scale_idx = integer_arm(grid_contexts(grid, decoded.networks.arm.offsets),
                                    decoded.networks.arm)
    table = {int(i): scale_value(int(i)) for i in np.unique(scale_idx)}
    return {"mu": (mu_idx / MU_STEPS).reshape(grid.shape),
            "scale": np.vectorize(table.get)(scale_idx).reshape(grid.shape).astype(np.float64)}


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


def file_breakdown(result) -> pd.DataFrame:
    """Bytes of each part of a ``.clric`` file (``EncodeResult``) next to the model's estimate."""
    header = result.header
    fit = result.fit
    rows = [
        ("header", header.header_bytes, math.nan),
        ("network weights", header.weights_bytes, fit.estimated_weight_bits / 8),
        ("latent grids", header.grids_bytes, fit.estimated_latent_bits / 8),
        ("CRC", header.total_bytes - header.header_bytes - header.weights_bytes
         - header.grids_bytes, math.nan),
    ]
    frame = pd.DataFrame(rows, columns=["part", "bytes", "estimated bytes"])
    total = pd.DataFrame([("total", len(result.data), fit.estimated_bits / 8)],
                         columns=frame.columns)
    return pd.concat([frame, total], ignore_index=True)


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


# --------------------------------------------------------------------------- complexity


def macs_table(preset: str = "paper", vae=None,
               sizes: Sequence[Sequence[int]] | None = None) -> pd.DataFrame:
    """MAC per image pixel of f_ψ (per part) for image sizes, next to the paper's Table 1
    and (when ``vae`` is given) the VAE decoder's."""
    from diffusers.utils import logging as diffusers_logging

    from .codec.macs import PAPER_TABLE_1, decoder_macs, vae_decoder_macs_per_pixel

    sizes = [tuple(int(s) for s in size) for size in (sizes or PAPER_TABLE_1)]
    rows = []
    for height, width in dict.fromkeys(sizes):
        parts = decoder_macs(preset, height, width).per_pixel()
        row = {"image": f"{height}×{width}", "latent": f"{math.ceil(height / 8)}×"
               f"{math.ceil(width / 8)}", **{k: round(v, 2) for k, v in parts.items()},
               "paper total": PAPER_TABLE_1.get((height, width), math.nan)}
        if vae is not None:
            level = diffusers_logging.get_verbosity()
            diffusers_logging.set_verbosity_error()  # config notes of the shape-only copy
            try:
                row["VAE decoder"] = round(vae_decoder_macs_per_pixel(vae, height, width))
            finally:
                diffusers_logging.set_verbosity(level)
        rows.append(row)
    return pd.DataFrame(rows)


def plot_macs(table: pd.DataFrame, vae_name: str = "VAE") -> Figure:
    """Bars of MAC per pixel: f_ψ parts, the paper's total, the VAE decoder (log scale)."""
    figure = Figure(figsize=(8, 3.6), layout="constrained")
    axis = figure.subplots()
    columns = [("arm", "ARM"), ("upsampling", "upsampling"), ("synthesis", "synthesis"),
               ("total", "f_ψ total (ours)"), ("paper total", "f_ψ total (paper)")]
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


# --------------------------------------------------------------------------- continuous quality


def plot_strip(reference: np.ndarray, panels: Sequence[Mapping[str, Any]],
               title: str | None = None, crop: Sequence[int] | None = None,
               columns: int = 5) -> Figure:
    """Decoded images (``label``, ``image``, ``bpp``), low rate to high rate, row-major,
    titled with bpp and PSNR (Fig. 3 of the paper). ``crop`` = (top, left, height, width)."""
    from .metrics.quality import psnr

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
    right.set_ylabel(metric)
    right.grid(alpha=0.3)
    right.legend()
    return figure


def encode_points(x: np.ndarray, autoencoder, folder: str | Path,
                  lambdas: Sequence[float] | None = None,
                  target_bpps: Sequence[float] | None = None,
                  metrics: Sequence[str] = ("psnr",), preset: str = "paper", effort="fast",
                  seed: int = 0, device: str = "cpu",
                  progress: bool = True) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Compress ``x`` at each λ (or target bpp), writing ``folder/point_NN.clric``,
    ``folder/original.png`` and ``folder/points.csv``; return the table and decoded images,
    both sorted by rate."""
    from .codec_api import compress, decompress
    from .images import save_png, tensor_to_image

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
    from .codec_api import decompress
    from .images import read_image, tensor_to_image

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


def rate_slider(reference: np.ndarray, panels: Sequence[Mapping[str, Any]]):
    """An ipywidgets slider along the rate axis showing each decoded image and its numbers."""
    import ipywidgets as widgets
    from PIL import Image as PILImage

    def png(array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        PILImage.fromarray(array).save(buffer, format="PNG")
        return buffer.getvalue()

    encoded = [png(p["image"]) for p in panels]
    captions = []
    for p in panels:
        numbers = ", ".join(f"{k} {p[k]:.4g}" for k in ("lambda", "bpp", *METRIC_NAMES)
                            if k in p and p[k] == p[k])
        captions.append(f"<b>{p['label']}</b>: {numbers}")
    slider = widgets.IntSlider(value=0, min=0, max=len(panels) - 1, description="rate step",
                               continuous_update=True)
    picture = widgets.Image(value=encoded[0], format="png",
                            width=min(reference.shape[1], 640))
    caption = widgets.HTML(captions[0])
    original = widgets.Image(value=png(reference), format="png",
                             width=min(reference.shape[1], 640))

    def update(change: Mapping[str, Any]) -> None:
        picture.value = encoded[change["new"]]
        caption.value = captions[change["new"]]

    slider.observe(update, names="value")
    return widgets.VBox([slider, caption, widgets.HBox([picture, original]),
                         widgets.HTML("left: decoded at the chosen rate; right: original")])


# --------------------------------------------------------------------------- saved results


def sweep_csvs(results_dir: str | Path) -> list[Path]:
    """The evaluation CSVs (sweep columns) directly inside ``results_dir``, sorted."""
    from .evaluation.sweep import sweep_csvs as find_sweep_csvs

    return find_sweep_csvs(results_dir)


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


def require(condition: bool, message: str) -> None:
    """Raise ``ClricError(message)`` unless ``condition`` (readable failures in notebooks)."""
    if not condition:
        raise ClricError(message)
