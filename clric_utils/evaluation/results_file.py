"""Read and repair the results CSV of a sweep: only rows the sweep could have written count.

A results file is read line by line from its bytes (one row per line, as the sweep writes it)
and every row is checked: the header's number of fields, the key and provenance fields not
empty, ``parameter``, ``bytes``, ``bpp``, the metrics and the timings numbers. ``parameter``
and the timings are finite; ``bytes`` and ``bpp`` too, except NaN for codecs that do not
measure a rate (``vae-only``); a metric is finite or NaN (not requested, or not defined, e.g.
MS-SSIM of a small image), and PSNR may also be ``inf`` (identical images). NaN is read from
``nan`` (as the sweep writes it) or an empty field (as pandas does, e.g. in tables rebuilt
with it), only where NaN is allowed. A last line without its newline was cut while being
written, so it is damaged even if its fields parse.

:func:`read_results_file` returns the valid rows and the damaged lines; it changes nothing.
:func:`repair_results_file` (``clric eval`` before it resumes a file) also moves the damaged
lines to ``<name>.bak`` beside the file, appended to what that file already holds, and
rewrites the file atomically with the valid rows only. :func:`load_valid_rows` (``clric
plot``) warns about damaged rows and leaves them out without changing the file.
"""

from __future__ import annotations

import csv
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..atomic import write_bytes_atomic
from ..errors import ClricError
from ..metrics.quality import METRIC_NAMES
from .rows import COLUMNS, COLUMNS_0_1, PROVENANCE

#: Registered codecs that do not measure a rate (``measures_rate = False``): NaN bytes and bpp.
RATELESS_CODECS = frozenset({"vae-only"})

#: Columns read as text; each must be set (the sweep writes ``none`` where one does not apply).
TEXT_COLUMNS = ("image", "codec", "vae", *PROVENANCE)

#: Columns read as numbers (float64).
NUMBER_COLUMNS = tuple(name for name in COLUMNS if name not in TEXT_COLUMNS)

@dataclass(frozen=True)
class DamagedRow:
    """A line of a results file that is not a valid row: its number (header: 1), why, its bytes."""

    line: int
    reason: str
    text: bytes


@dataclass(frozen=True)
class ResultsFile:
    """A results file as read: its header line, valid rows (lines and table), damaged rows."""

    path: Path
    header: bytes
    valid_lines: tuple[bytes, ...]
    rows: pd.DataFrame
    damaged: tuple[DamagedRow, ...]

    @property
    def header_cut(self) -> bool:
        """Whether the header lacks its newline (a file holding a cut header and nothing else)."""
        return _terminated(self.header) != self.header

    def clean_bytes(self) -> bytes:
        """The file with the valid rows only, each line as it was, the header's newline added."""
        return _terminated(self.header) + b"".join(self.valid_lines)


class _Damaged(ValueError):
    """Why a line is not a valid row."""


def read_results_file(
    path: Path | str, rateless_codecs: frozenset[str] = RATELESS_CODECS
) -> ResultsFile:
    """The valid rows and the damaged lines of the results CSV ``path`` (none if absent/empty).

    ``rateless_codecs`` are the codec names whose ``bytes`` and ``bpp`` may be NaN. A header
    other than the sweep's columns, or a file that is not text, raises ClricError.
    """
    path = Path(path)
    data = path.read_bytes() if path.is_file() else b""
    lines = _split_lines(data)
    if not lines:
        return ResultsFile(path, b"", (), _frame([]), ())
    _check_header(path, lines[0])
    rows, valid_lines, damaged = [], [], []
    for number, line in enumerate(lines[1:], start=2):
        try:
            rows.append(_parse_row(line, rateless_codecs))
            valid_lines.append(line)
        except _Damaged as error:
            damaged.append(DamagedRow(number, str(error), line))
    return ResultsFile(path, lines[0], tuple(valid_lines), _frame(rows), tuple(damaged))


def _split_lines(data: bytes) -> list[bytes]:
    """``data`` cut after each ``\\n`` (a ``\\r`` alone does not end a line), ends kept."""
    pieces = data.split(b"\n")
    lines = [piece + b"\n" for piece in pieces[:-1]]
    return lines + [pieces[-1]] if pieces[-1] else lines


def _check_header(path: Path, line: bytes) -> None:
    """Raise ClricError unless ``line`` is the header the sweep writes."""
    if _is_binary(line):
        raise ClricError(
            f"{path} is not a text file (binary data in its first line), so not a clric eval "
            "CSV; move it away or write to a new file"
        )
    text = line.decode("utf-8")
    try:
        fields = next(csv.reader([text], strict=True), [])
    except csv.Error:
        fields = [text.strip()]
    if tuple(fields) == COLUMNS_0_1:
        raise ClricError(
            f"{path} was written by clric-utils 0.1, without the provenance columns "
            f"({', '.join(PROVENANCE)}) that decide which rows can be reused; write to a "
            "new file"
        )
    if tuple(fields) != COLUMNS:
        raise ClricError(
            f"{path} has columns {_shortened(repr(fields), 300)}, expected {list(COLUMNS)}; "
            "write to a new file"
        )


def _is_binary(line: bytes) -> bool:
    """Whether ``line`` is not text: not UTF-8, or holding a NUL byte (zeros left by a crash)."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return b"\x00" in line


def _parse_row(line: bytes, rateless_codecs: frozenset[str]) -> dict[str, str | float]:
    """The row on ``line``, numbers as floats; raises _Damaged if the sweep could not write it."""
    if not line.endswith(b"\n"):
        raise _Damaged("cut off (the file does not end with a newline)")
    if _is_binary(line):
        raise _Damaged("binary data (not UTF-8 text, or a NUL byte)")
    try:
        fields = next(csv.reader([line.decode("utf-8")], strict=True), [])
    except csv.Error as error:
        raise _Damaged(f"not one CSV row ({error})") from None
    if len(fields) != len(COLUMNS):
        raise _Damaged(f"{len(fields)} fields, expected {len(COLUMNS)}")
    row: dict[str, str | float] = dict(zip(COLUMNS, fields, strict=True))
    for name in TEXT_COLUMNS:
        if not row[name]:
            raise _Damaged(f"empty {name}")
    rateless = row["codec"] in rateless_codecs
    for name, text in zip(COLUMNS, fields, strict=True):
        if name in NUMBER_COLUMNS:
            row[name] = _number(name, text)
            if not _is_written_value(name, row[name], rateless):
                raise _Damaged(f"{name} is {row[name]!r}" if text else f"empty {name}")
    return row


def _number(name: str, text: str) -> float:
    """``text`` as a float, NaN if empty (as pandas writes NaN); _Damaged if not a number."""
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise _Damaged(f"{name} {_shortened(text)!r} is not a number") from None


def _shortened(text: str, limit: int = 30) -> str:
    """``text``, cut to ``limit`` characters and an ellipsis if longer (for messages)."""
    return text if len(text) <= limit else text[:limit] + "…"


def _is_written_value(name: str, value: float, rateless: bool) -> bool:
    """Whether the sweep writes ``value`` in column ``name`` (of a codec without a rate if
    ``rateless``): any finite number; NaN for a metric (not requested, or undefined) and for
    the bytes and bpp of a codec without a rate; ``inf`` for the PSNR of identical images."""
    if math.isnan(value):
        return name in METRIC_NAMES or (rateless and name in ("bytes", "bpp"))
    return math.isfinite(value) or (name == "psnr" and value > 0)


def _frame(rows: list[dict[str, str | float]]) -> pd.DataFrame:
    """The table of ``rows``: text columns as str objects, number columns as float64."""
    return pd.DataFrame({
        name: pd.Series([row[name] for row in rows], dtype=float if name in NUMBER_COLUMNS
                        else object)
        for name in COLUMNS
    })  # fmt: skip


def _terminated(line: bytes) -> bytes:
    """``line`` ending with a newline (empty stays empty)."""
    return line if not line or line.endswith(b"\n") else line + b"\n"


def describe_damage(results: ResultsFile) -> str:
    """e.g. ``1 damaged row (line 7: empty codec)``, ``2 damaged rows (lines 7, 9; line 7: …)``."""
    first = results.damaged[0]
    if len(results.damaged) == 1:
        return f"1 damaged row (line {first.line}: {first.reason})"
    numbers = [str(row.line) for row in results.damaged[:5]]
    more = ", …" if len(results.damaged) > 5 else ""
    return (f"{len(results.damaged)} damaged rows (lines {', '.join(numbers)}{more}; line "
            f"{first.line}: {first.reason})")


def backup_path(path: Path) -> Path:
    """Where :func:`repair_results_file` keeps the lines it removes from ``path``."""
    return path.with_name(path.name + ".bak")


def repair_results_file(
    path: Path | str, rateless_codecs: frozenset[str] = RATELESS_CODECS
) -> ResultsFile:
    """Read ``path`` and rewrite it with its valid rows only; return what was read.

    The damaged lines are first appended to ``<name>.bak`` (each with its newline; a file
    already there keeps its content), then the file is replaced atomically, and one line on
    stderr says how many rows were removed, the first reason and where the .bak is. A header
    without its newline gets one, so that rows can be appended.
    """
    results = read_results_file(path, rateless_codecs)
    if results.damaged:
        backup = backup_path(results.path)
        old = _terminated(backup.read_bytes()) if backup.is_file() else b""
        removed = b"".join(_terminated(row.text) for row in results.damaged)
        write_bytes_atomic(backup, old + removed)
        print(f"{results.path}: removed {describe_damage(results)}; the lines are kept in "
              f"{backup}, and the sweep computes those rows again", file=sys.stderr)
    if results.damaged or results.header_cut:
        write_bytes_atomic(results.path, results.clean_bytes())
    return results


def load_valid_rows(path: Path | str, rateless_codecs: frozenset[str] = RATELESS_CODECS
                    ) -> pd.DataFrame:
    """The valid rows of ``path``, with one warning if damaged rows were left out; ClricError
    if every row is damaged. The file is not changed (``clric eval`` with the same ``--out``
    repairs it)."""
    results = read_results_file(path, rateless_codecs)
    if not results.damaged:
        return results.rows
    repair = f"`clric eval --out {results.path}` repairs the file and computes them again"
    if results.rows.empty:
        raise ClricError(f"{results.path}: no valid row, {describe_damage(results)}; {repair}")
    warnings.warn(f"{results.path}: left out {describe_damage(results)}; {repair}",
                  stacklevel=2)
    return results.rows
