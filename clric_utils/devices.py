"""Checking a user's ``--device`` before any work starts."""

from __future__ import annotations

import torch

from .errors import ParameterError


def check_device(device: str | torch.device) -> torch.device:
    """Return ``torch.device(device)``, or raise ParameterError if it is unknown or absent here."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ParameterError(f"unknown device {device!r}; use cpu or cuda") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device {device!r}: no CUDA GPU is available here; use cpu")
    if parsed.type not in {"cpu", "cuda"}:
        raise ParameterError(f"device {device!r} is not supported; use cpu or cuda")
    return parsed
