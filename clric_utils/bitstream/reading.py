"""Reading a ``.clric`` file from disk with bounded memory: magic first, size capped.

``/dev/zero``, a FIFO or a multi-gigabyte file given by mistake must not be read into memory
before anything is checked: the first five bytes (magic and version) are checked first, then
the size against ``MAX_FILE_BYTES``, and at most ``MAX_FILE_BYTES + 1`` bytes are ever read.
"""

from __future__ import annotations

import os
import stat

from ..errors import ClricFormatError
from .header import check_magic_and_version
from .rules import MAGIC

#: Largest ``.clric`` file accepted. A 100-megapixel image at 2 bpp is 25 MB; the payload
#: limits of the header (grid values below 2^11, at most 10^6 network parameters) keep any
#: file the encoder can write far below this.
MAX_FILE_BYTES = 64 << 20


def read_clric_file(path: str | os.PathLike) -> bytes:
    """The bytes of the ``.clric`` file at ``path``; ClricFormatError if it cannot be one."""
    text = os.fspath(path)
    if "\0" in text:
        raise ClricFormatError(f"{text!r}: the path contains a NUL character")
    try:
        with open(text, "rb") as handle:
            info = os.fstat(handle.fileno())
            head = handle.read(len(MAGIC) + 1)
            check_magic_and_version(head)
            if stat.S_ISREG(info.st_mode) and info.st_size > MAX_FILE_BYTES:
                raise _too_large(text, info.st_size)
            data = head + handle.read(MAX_FILE_BYTES + 1 - len(head))
    except OSError as error:
        raise ClricFormatError(f"{text}: cannot read ({error.strerror or error})") from None
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(text, None)
    return data


def _too_large(path: str, size: int | None) -> ClricFormatError:
    """The error for a file beyond MAX_FILE_BYTES (``size`` None: a stream that goes on)."""
    what = f"{size} bytes" if size is not None else "more data"
    return ClricFormatError(
        f"{path}: {what} — more than the {MAX_FILE_BYTES >> 20} MiB a .clric file can hold; "
        "not a .clric file"
    )
