"""Quality metrics for the notebooks, skipping those whose backbone weights are not here."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from ..errors import MissingWeightsError
from ..metrics.lpips_offline import load_lpips
from ..metrics.quality import METRIC_NAMES, all_metrics, load_dists

#: Metrics computed by default in the notebooks (LPIPS-vgg is slow on a CPU).
DEFAULT_METRICS = ("psnr", "ms_ssim", "lpips_alex", "dists")


def available_metrics(metrics: Sequence[str] = DEFAULT_METRICS) -> list[str]:
    """``metrics`` less those whose backbone weights are missing here (with a note why)."""
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
