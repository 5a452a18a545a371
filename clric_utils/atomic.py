"""Atomic file writes: a file the project writes is either complete or not there at all.

Every writer goes through ``atomic_path``: the content goes to a temporary file in the target's
folder (same file system, so the final ``os.replace`` is atomic), is flushed and ``fsync``-ed,
then renamed over the target. Readers therefore see the old file or the new one, never a
mixture, even when two processes save to the same path at once or one is killed mid-write; a
failed write leaves the previous file untouched and removes its temporary file.

A writer killed outright (``kill -9``, power loss) cannot remove its temporary file. The next
write to the same folder does: temporaries of our own name pattern (``.NAME.XXXXXXXX.tmp``)
older than ``STALE_TEMPORARY_S`` are removed; younger ones may belong to a writer still at work.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

#: Age in seconds after which a temporary file of ours is taken for a killed writer's.
STALE_TEMPORARY_S = 60.0
#: Names ``atomic_path`` gives its temporaries: ``.`` + target name + 8 random characters.
_TEMPORARY_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def remove_stale_temporaries(folder: Path, now: float | None = None) -> list[Path]:
    """Remove our temporaries in ``folder`` older than STALE_TEMPORARY_S; return them."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMPORARY_NAME.match(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and (
                    now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMPORARY_S):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue
    return removed


def _fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened; the rename is still atomic
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path``.

    The caller writes the complete file to the yielded path (with any library: Pillow, numpy,
    pandas…). Folders are created. On an exception the temporary file is removed and ``path``
    keeps its previous content. With ``overwrite`` False, a ``path`` that exists by the time
    the file is complete (another process created it meanwhile) raises FileExistsError and is
    left alone.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(temporary, _final_mode(path))
        if overwrite:
            os.replace(temporary, path)
        else:
            _move_without_replacing(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _move_without_replacing(temporary: Path, path: Path) -> None:
    """Rename ``temporary`` to ``path`` unless ``path`` exists (FileExistsError then).

    A hard link is atomic and fails if the name is taken; where links are not supported the
    check and the rename are two steps (a tiny window remains).
    """
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system
        if path.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(temporary, path)
        return
    temporary.unlink()


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)  # elsewhere: read by setting, then restore at once
    os.umask(umask)
    return umask


def _final_mode(path: Path) -> int:
    """Permissions for the written file: the replaced file's, else 0666 minus the umask.

    (``mkstemp`` creates 0600 files; without this a saved file would lose its usual mode.)
    """
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def write_bytes_atomic(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see ``atomic_path``); return the path."""
    path = Path(path)
    with atomic_path(path, overwrite) as temporary:
        temporary.write_bytes(data)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))
