"""Set-up of a notebook session: torch threads and seed, and the training effort."""

from __future__ import annotations

import torch

from ..codec.schedule import Effort, get_effort, short_effort


def setup(threads: int | None = None, seed: int = 0) -> None:
    """Fix torch's thread count (``None``: leave it) and seed its generator."""
    if threads is not None:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)


def training_effort(effort: str = "fast", iterations: int | None = None) -> str | Effort:
    """The training effort: a named one (``fast``, ``medium``, ``slow``) or, in fast mode,
    ``iterations`` gradient steps in all, split as ``clric encode --iterations`` splits them
    (``codec.schedule.short_effort``)."""
    return get_effort(effort).name if iterations is None else short_effort(iterations)
