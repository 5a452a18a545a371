"""The project's error types: each names the problem and what to do about it."""

from __future__ import annotations


class ClricError(Exception):
    """Base class of every error the project raises on purpose."""


class ImageReadError(ClricError, ValueError):
    """An input image cannot be read or has a form the codec does not accept."""


class MissingWeightsError(ClricError, FileNotFoundError):
    """Model weights are not on this machine and cannot be downloaded."""


class ClricFormatError(ClricError, ValueError):
    """A ``.clric`` file is malformed, truncated, corrupted or of an unknown version."""


class ParameterError(ClricError, ValueError):
    """A user-facing parameter (λ, target bpp, preset, …) is out of its valid range."""


class DatasetMissingError(ClricError, FileNotFoundError):
    """A data set (Kodak, training photos) is not on this machine and cannot be downloaded."""


class ClusterError(ClricError, RuntimeError):
    """A Dask scheduler cannot be reached, has no workers, or its workers keep dying on a task."""


class ResourceLimitError(ClricError, MemoryError):
    """Encoding or decoding would need more memory than the machine or the caller's limit."""
