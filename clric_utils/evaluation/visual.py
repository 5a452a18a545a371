"""Visual comparisons at matched file size, in the style of the paper's Figs. 4–14.

For one image: the subject codec (CLRIC) at two or more parameters and, for each baseline
(JPEG, WebP, AVIF), the quality whose *real file size* is closest to each subject file
(integer bisection over the format's quality range). The figure shows the original in full
(with the detail region boxed) and that region, zoomed, for every reconstruction; every panel
names the codec, its setting, its bpp and whole-image PSNR, LPIPS-alex and DISTS (a metric
whose backbone weights are missing is left out). A baseline that cannot go as low as the
subject says so; when it gives the same file for two subject rates, one panel spans both rows,
so no panel is empty or repeated.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..errors import MissingWeightsError, ParameterError
from ..metrics import quality
from .contenders import Codec

#: Characters per line of a panel's note (a 2.6-inch column in x-small type).
CAPTION_WIDTH = 40

#: How a baseline's rate may differ from the subject's and still count as matched.
RATE_TOLERANCE = 0.15

#: Names shown in the panels.
DISPLAY_NAMES = {"clric": "CLRIC", "clric-pixel": "CLRIC (pixel tune)",
                 "clric-perceptual": "CLRIC (perceptual tune)", "jpeg": "JPEG", "webp": "WebP",
                 "avif": "AVIF", "avif-slow": "AVIF (slow)"}  # fmt: skip

#: Panel metrics: column name → (label, function of (reference, distorted), format).
PANEL_METRICS: dict[str, tuple[str, Callable[..., float], str]] = {
    "psnr": ("PSNR", quality.psnr, "{:.2f} dB"),
    "lpips_alex": ("LPIPS", lambda a, b: quality.lpips(a, b, "alex"), "{:.3f}"),
    "dists": ("DISTS", quality.dists, "{:.3f}"),
}


@dataclass(eq=False)  # compared by identity: one object drawn for several rows is one panel
class Reconstruction:
    """One decoded file: who made it, with which setting, its real rate and its quality."""

    codec: str
    parameter: float
    image: np.ndarray
    bpp: float
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""  # e.g. why the rate does not match the subject's

    @property
    def name(self) -> str:
        """The codec's display name."""
        return DISPLAY_NAMES.get(self.codec, self.codec)

    @property
    def setting(self) -> str:
        """The parameter as the codec calls it: λ for CLRIC, quality for the formats."""
        return f"{'λ' if self.codec.startswith('clric') else 'q'}={self.parameter:g}"

    def caption(self) -> str:
        """Panel title: codec, setting and bpp; a note if any; the metrics measured."""
        lines = [f"{self.name} {self.setting}, {self.bpp:.4f} bpp"]
        if self.note:  # wrapped: a panel's title stays within its column
            lines.extend(textwrap.wrap(f"({self.note})", CAPTION_WIDTH))
        measured = [
            f"{PANEL_METRICS[key][0]} {PANEL_METRICS[key][2].format(value)}"
            for key, value in self.metrics.items()
        ]
        if measured:
            lines.append(" · ".join(measured))
        return "\n".join(lines)


def panel_metrics(reference: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
    """Whole-image PANEL_METRICS; a metric whose backbone weights are missing is skipped."""
    values = {}
    for key, (_, function, _) in PANEL_METRICS.items():
        try:
            values[key] = function(reference, decoded)
        except MissingWeightsError:
            continue
    return values


def _rate(image: np.ndarray, data: bytes) -> float:
    """bpp of a complete file for ``image``."""
    return 8.0 * len(data) / (image.shape[0] * image.shape[1])


def reconstruct(
    image: np.ndarray, codec: Codec, parameter: float, note: str = ""
) -> Reconstruction:
    """Encode and decode ``image`` at ``parameter``; measure its rate and panel metrics."""
    data = codec.encode(image, parameter)
    decoded = codec.decode(data)
    return Reconstruction(codec.name, parameter, decoded, _rate(image, data),
                          panel_metrics(image, decoded), note)  # fmt: skip


def closest_quality(image: np.ndarray, codec: Codec, target_bpp: float) -> tuple[int, float]:
    """(quality, bpp) of ``codec``'s integer quality whose file is closest to ``target_bpp``.

    Bisection over ``codec.qualities`` (file size grows with quality) for the highest quality
    at or below the target, then the closer of it and the next one. At most about
    log2(range) + 2 encodes.
    """
    low, high = codec.qualities
    sizes: dict[int, float] = {}

    def bpp(q: int) -> float:
        if q not in sizes:
            sizes[q] = _rate(image, codec.encode(image, q))
        return sizes[q]

    if bpp(low) >= target_bpp:
        return low, bpp(low)
    if bpp(high) <= target_bpp:
        return high, bpp(high)
    below, above = low, high  # bpp(below) < target < bpp(above)
    while above - below > 1:
        middle = (below + above) // 2
        if bpp(middle) <= target_bpp:
            below = middle
        else:
            above = middle
    best = min((below, above), key=lambda q: abs(bpp(q) - target_bpp))
    return best, bpp(best)


def match_rate(image: np.ndarray, codec: Codec, target_bpp: float) -> Reconstruction:
    """``codec`` at the quality whose real file size is closest to ``target_bpp``.

    The note says when the rate is not within RATE_TOLERANCE: the format cannot go that low,
    or its nearest quality step is that far off.
    """
    quality_setting, rate = closest_quality(image, codec, target_bpp)
    note = ""
    if rate > target_bpp * (1 + RATE_TOLERANCE) and quality_setting == codec.qualities[0]:
        note = f"lowest quality; cannot reach {target_bpp:.4f} bpp"
    elif abs(rate / target_bpp - 1) > RATE_TOLERANCE:
        note = f"nearest quality is {100 * (rate / target_bpp - 1):+.0f} % off {target_bpp:.4f} bpp"
    return reconstruct(image, codec, quality_setting, note)


@dataclass
class Comparison:
    """The subject at each of its rates, and per baseline the match for each of those rates."""

    subject: list[Reconstruction]
    baselines: dict[str, list[Reconstruction]]


def compare_at_matched_rates(
    image: np.ndarray,
    subject: Codec,
    parameters: Sequence[float],
    baselines: Sequence[Codec],
) -> Comparison:
    """Encode ``image`` with ``subject`` at each parameter and match every baseline's rate.

    A baseline that lands on the same quality for several subject rates keeps one
    reconstruction object for all of them (drawn once, spanning those rows), with a note
    naming every rate it could not reach.
    """
    if len(parameters) < 2:
        raise ParameterError("a visual comparison needs the subject at two or more parameters")
    ours = [reconstruct(image, subject, parameter) for parameter in parameters]
    matched: dict[str, list[Reconstruction]] = {}
    for codec in baselines:
        row: list[Reconstruction] = []
        for target in ours:
            found = match_rate(image, codec, target.bpp)
            if row and row[-1].parameter == found.parameter:
                previous = row[-1]
                if found.note.startswith("lowest quality"):
                    previous.note = f"{previous.note} or {target.bpp:.4f} bpp"
                row.append(previous)
            else:
                row.append(found)
        matched[codec.name] = row
    return Comparison(ours, matched)


def detail_region(image: np.ndarray, side: int) -> tuple[int, int, int, int]:
    """(top, left, side, side) of the square with the most gradient energy: a detailed region."""
    grey = image.astype(np.float64).mean(axis=2)
    energy = np.zeros_like(grey)
    energy[:, 1:] += np.abs(np.diff(grey, axis=1))
    energy[1:, :] += np.abs(np.diff(grey, axis=0))
    side = min(side, *image.shape[:2])
    table = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # integral image
    sums = (table[side:, side:] - table[:-side, side:] - table[side:, :-side]
            + table[:-side, :-side])  # fmt: skip
    step = max(1, side // 8)  # a coarse grid of positions is enough to find the busy part
    window = sums[::step, ::step]
    row, column = np.unravel_index(int(np.argmax(window)), window.shape)
    return int(row * step), int(column * step), side, side


#: The side of the region a comparison shows, as a fraction of the image's shorter side.
REGION_FRACTION = 0.375


def shown_region(image: np.ndarray,
                 crop: tuple[int, int, int, int] | None = None) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the region ``draw_comparison`` zooms into: ``crop``, or
    the most detailed square of REGION_FRACTION of the shorter side."""
    return crop or detail_region(image, round(min(image.shape[:2]) * REGION_FRACTION))


def draw_comparison(
    image: np.ndarray,
    comparison: Comparison,
    crop: tuple[int, int, int, int] | None = None,
    out_path: str | Path | None = None,
    title: str | None = None,
) -> Figure:
    """The figure: original (full, region boxed; then the region) and every reconstruction's
    region, one column per codec and one row per subject rate. PNG when ``out_path`` is set."""
    rows = len(comparison.subject)
    top, left, height, width = shown_region(image, crop)
    columns = {"subject": comparison.subject, **comparison.baselines}
    mosaic = [["original-full" if r < rows - 1 else "original-crop"] for r in range(rows)]
    panels: dict[str, Reconstruction] = {}
    for name, row in columns.items():
        for r, item in enumerate(row):
            key = f"{name}-{row.index(item)}"  # the same object again: the same (spanning) key
            mosaic[r].append(key)
            panels[key] = item
    cell = 2.6
    figure = Figure(figsize=(cell * len(mosaic[0]), (cell + 0.75) * rows + 0.4),
                    layout="constrained")  # fmt: skip
    axes = figure.subplot_mosaic(mosaic)
    region = (slice(top, top + height), slice(left, left + width))
    axes["original-full"].imshow(image)
    axes["original-full"].add_patch(Rectangle((left, top), width, height, fill=False,
                                              edgecolor="yellow", linewidth=1.5))  # fmt: skip
    axes["original-full"].set_title(f"original, {image.shape[1]}×{image.shape[0]}",
                                    fontsize="small")  # fmt: skip
    axes["original-crop"].imshow(image[region], interpolation="nearest")
    axes["original-crop"].set_title(f"original, region {width}×{height} at ({left}, {top})",
                                    fontsize="small")  # fmt: skip
    for key, item in panels.items():
        axes[key].imshow(item.image[region], interpolation="nearest")
        axes[key].set_title(item.caption(), fontsize="x-small")
    for axis in axes.values():
        axis.set_axis_off()
    figure.suptitle(title or "The file size closest to the subject's (a note where a format "
                    "cannot get that small); crops of the boxed region, metrics on the whole "
                    "image")  # fmt: skip
    if out_path is not None:
        path = Path(out_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120)
    return figure


def visual_comparison(
    image: np.ndarray,
    subject: Codec,
    parameters: Sequence[float],
    baselines: Sequence[Codec],
    out_path: str | Path | None = None,
    title: str | None = None,
    crop: tuple[int, int, int, int] | None = None,
) -> tuple[Figure, Comparison]:
    """:func:`compare_at_matched_rates` then :func:`draw_comparison`; returns both results."""
    comparison = compare_at_matched_rates(image, subject, parameters, baselines)
    return draw_comparison(image, comparison, crop, out_path, title), comparison


__all__ = [
    "REGION_FRACTION",
    "Comparison",
    "Reconstruction",
    "closest_quality",
    "compare_at_matched_rates",
    "detail_region",
    "draw_comparison",
    "match_rate",
    "shown_region",
    "visual_comparison",
]
