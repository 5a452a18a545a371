"""Writing a command's output files: atomically, with one clear error when the disk refuses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_bytes_atomic
from ..errors import ClricError


@contextlib.contextmanager
def reporting_write_errors(path: str | Path) -> Iterator[None]:
    """Turn an OSError while writing ``path`` (disk full, permissions…) into one ClricError."""
    try:
        yield
    except FileExistsError:
        raise ClricError(f"{path} was created by someone else meanwhile; not overwritten "
                         "(pass --force to overwrite it)") from None
    except OSError as error:
        raise ClricError(f"{path}: cannot write ({error.strerror or error})") from None


def save_bytes(path: str | Path, data: bytes, overwrite: bool) -> None:
    """Write ``data`` to ``path`` atomically (a failure leaves any previous file untouched);
    without ``overwrite``, a file that appeared at ``path`` meanwhile is kept."""
    with reporting_write_errors(path):
        write_bytes_atomic(path, data, overwrite)


def save_png_output(path: str | Path, image, overwrite: bool) -> None:
    """Save a decoded image tensor as a PNG at ``path``, as ``save_bytes`` saves bytes."""
    from ..images import save_png

    with reporting_write_errors(path), atomic_path(path, overwrite) as temporary:
        save_png(image, temporary)


def save_npy(path: str | Path, array: np.ndarray, overwrite: bool) -> None:
    """Save ``array`` atomically as a .npy file at exactly ``path`` (np.save alone would append
    .npy to a name without it); ``overwrite`` as for ``save_bytes``."""
    with reporting_write_errors(path), atomic_path(path, overwrite) as temporary:
        with temporary.open("wb") as handle:
            np.save(handle, array)
