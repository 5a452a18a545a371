"""Checking an output path before any heavy work: right extension, writable, no lost file.

The command line follows the convention of ``gzip`` and ``zstd``: an existing file is never
replaced unless ``--force`` is given, and an output that *is* one of the inputs is refused even
with ``--force`` (the input would be destroyed before, or while, it is read). The checks run
before the VAE is loaded and before the fit, so a typo costs seconds, not minutes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import ParameterError


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name the same file (links and ``..`` included)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _existing_ancestor(folder: Path) -> Path:
    """The nearest folder above (or equal to) ``folder`` that exists (created on write)."""
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_output_path(
    output: str | os.PathLike,
    suffixes: tuple[str, ...],
    inputs: tuple[str | os.PathLike, ...] = (),
    force: bool = False,
    what: str = "output",
) -> Path:
    """Return ``output`` as a Path, or raise ParameterError saying what is wrong and what to do.

    Args:
        output: the path the command will write.
        suffixes: accepted endings, lower case with the dot (``(".clric",)``).
        inputs: files the command reads; the output may not be one of them.
        force: allow replacing an existing file (never an input).
        what: how the path is called in messages (``"output"``, ``"--dump-latent"``).
    """
    text = os.fspath(output)
    if "\0" in text:
        raise ParameterError(f"{what} path {text!r} contains a NUL character")
    path = Path(text)
    for source in inputs:
        source = Path(source)
        if _same_file(path, source) or path.absolute() == source.absolute():
            raise ParameterError(f"{what} {path} is the input file; choose another output path")
    if path.suffix.lower() not in suffixes:
        raise ParameterError(
            f"{what} {path}: the file written is {suffixes[0][1:].upper()}; "
            f"name it with {' or '.join(suffixes)}"
        )
    if path.is_dir():
        raise ParameterError(f"{what} {path} is a folder; give a file name")
    if path.exists() and not force:
        raise ParameterError(f"{what} {path} already exists; pass --force to overwrite it")
    folder = _existing_ancestor(path.parent)
    if not folder.is_dir():
        raise ParameterError(f"{what} {path}: {folder} is a file, not a folder")
    _check_can_create(folder, f"{what} {path}")
    return path


def _check_can_create(folder: Path, what: str) -> None:
    """ParameterError unless a file can be created in ``folder`` (tried, then removed).

    Trying is the only sure test: permission bits say nothing about read-only mounts,
    ``/proc`` or root's rights.
    """
    try:
        descriptor, name = tempfile.mkstemp(prefix=".clric-write-test.", dir=folder)
    except OSError as error:
        raise ParameterError(
            f"{what}: cannot create files in {folder} ({error.strerror or error})"
        ) from None
    os.close(descriptor)
    os.unlink(name)
