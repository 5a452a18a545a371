"""Published rate-distortion curves of other codecs ("anchors"), read from cited data files.

Each JSON file in ``clric_utils/evaluation/published/`` holds one source: its ``name``, a full
``citation``, a ``short_citation`` for figure notes, the ``link`` to the exact published file
(pinned to a commit), ``notes`` on how the numbers were taken (e.g. which LPIPS backbone), and
``curves``: per data set (``kodak``, ``clic2020``), a ``bpp`` list and one list per metric it
publishes, named like our CSV columns (``psnr``, ``ms_ssim``, ``lpips_alex``, ``dists``). A curve
may carry a ``caveat`` that its figure label repeats. These numbers are never mixed into our own
result rows: figures draw them as dashed reference lines labelled "<name> (published)".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from ..errors import ClricError
from ..metrics.quality import METRIC_NAMES

#: Fields every published-results file must have.
REQUIRED_FIELDS = ("name", "citation", "short_citation", "link", "notes", "curves")


@dataclass(frozen=True)
class PublishedCurve:
    """One published curve: a codec on one data set, with every metric its authors give."""

    name: str
    dataset: str
    bpp: tuple[float, ...]
    metrics: dict[str, tuple[float, ...]]
    short_citation: str
    link: str
    caveat: str | None = None

    @property
    def label(self) -> str:
        """Legend entry: "<name> (published)", with the caveat where there is one."""
        suffix = f"; {self.caveat}" if self.caveat else ""
        return f"{self.name} (published{suffix})"


def _curve(source: dict[str, Any], entry: dict[str, Any], file_name: str) -> PublishedCurve:
    """A validated PublishedCurve from one entry of ``source["curves"]``."""
    metrics = {key: tuple(map(float, entry[key])) for key in METRIC_NAMES if key in entry}
    bpp = tuple(map(float, entry.get("bpp", ())))
    lengths = {len(values) for values in metrics.values()}
    if not bpp or not metrics or lengths != {len(bpp)} or not all(r > 0 for r in bpp):
        raise ClricError(
            f"{file_name}: curve for {entry.get('dataset')!r} needs positive bpp values and "
            f"metric lists ({', '.join(METRIC_NAMES)}) of the same length"
        )
    return PublishedCurve(
        name=source["name"],
        dataset=str(entry["dataset"]),
        bpp=bpp,
        metrics=metrics,
        short_citation=source["short_citation"],
        link=source["link"],
        caveat=entry.get("caveat"),
    )


@cache
def published_sources() -> tuple[dict[str, Any], ...]:
    """Every published-results file, parsed and checked, sorted by file name."""
    folder = resources.files(__package__) / "published"
    sources = []
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not item.name.endswith(".json"):
            continue
        try:
            source = json.loads(item.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ClricError(f"published results {item.name} are not valid JSON: {error}") from None
        missing = [field for field in REQUIRED_FIELDS if not source.get(field)]
        if missing:
            raise ClricError(f"published results {item.name} lack {', '.join(missing)}")
        source["file"] = item.name
        sources.append(source)
    return tuple(sources)


def published_curves(dataset: str | None = None, metric: str | None = None) -> list[PublishedCurve]:
    """Published curves, optionally only those on ``dataset`` that report ``metric``."""
    curves = [
        _curve(source, entry, source["file"])
        for source in published_sources()
        for entry in source["curves"]
    ]
    return [
        curve
        for curve in curves
        if (dataset is None or curve.dataset == dataset)
        and (metric is None or metric in curve.metrics)
    ]
