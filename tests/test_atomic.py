"""Atomic writes: concurrent saves to one path and a writer killed mid-write never leave a
mixed or truncated file (issue 15, finding 3)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clric_utils.atomic import atomic_path, write_bytes_atomic

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import concurrent_saves  # noqa: E402


def test_concurrent_saves_leave_one_whole_file(tmp_path):
    """300 pairs here (≈ 12 s); ``benchmarks/concurrent_saves.py --pairs 3000`` runs 3 000."""
    bad, leftovers = concurrent_saves.run(300, tmp_path)
    assert (bad, leftovers) == (0, 0)


_KILLED_WRITER = """
import sys
from clric_utils.api import EncodeResult
result = EncodeResult(bytes([int(sys.argv[2])]) * (256 << 20), None, None, None, 0.0, 0.0, 0)
print("ready", flush=True)
result.save(sys.argv[1])
"""


def test_kill_during_save_keeps_the_previous_file(tmp_path):
    """``kill -9`` while a 256 MB save is under way: the previous file is intact."""
    path = tmp_path / "file.clric"
    previous = b"previous complete file"
    path.write_bytes(previous)
    for attempt in range(3):
        writer = subprocess.Popen(
            [sys.executable, "-c", _KILLED_WRITER, str(path), str(attempt + 1)],
            stdout=subprocess.PIPE, text=True,
        )
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.05 * attempt)  # somewhere inside the write
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        data = path.read_bytes()
        assert data == previous or data == bytes([attempt + 1]) * (256 << 20)
        previous = data


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = write_bytes_atomic(tmp_path / "x.bin", b"old")
    with pytest.raises(RuntimeError), atomic_path(path) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_written_file_has_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = write_bytes_atomic(tmp_path / "sub" / "new.bin", b"data")
    finally:
        os.umask(umask)
    assert path.read_bytes() == b"data"
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_no_overwrite_keeps_a_file_created_meanwhile(tmp_path):
    """Without --force, a file another process created during the fit is not replaced."""
    path = tmp_path / "x.clric"
    with pytest.raises(FileExistsError), atomic_path(path, overwrite=False) as temporary:
        temporary.write_bytes(b"ours")
        path.write_bytes(b"theirs")  # appears while we write
    assert path.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.clric"]
    write_bytes_atomic(tmp_path / "y.clric", b"new", overwrite=False)
    assert (tmp_path / "y.clric").read_bytes() == b"new"


def test_next_write_removes_a_killed_writers_stale_temporary(tmp_path):
    """A temporary left by ``kill -9`` is removed by the next write to the folder once it is
    older than a minute; younger temporaries and files of other names are left alone."""
    from clric_utils.atomic import STALE_TEMPORARY_S

    path = tmp_path / "file.clric"
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path), "7"],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".file.clric.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.01)  # until the writer has created its temporary
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    (stale,) = tmp_path.glob(".file.clric.*.tmp")
    fresh = tmp_path / ".other.clric.abcd1234.tmp"
    fresh.write_bytes(b"a writer at work")
    unrelated = tmp_path / ".notes.tmp"
    unrelated.write_bytes(b"not ours")
    old = time.time() - STALE_TEMPORARY_S - 1
    for left in (stale, unrelated):
        os.utime(left, (old, old))
    write_bytes_atomic(tmp_path / "next.png", b"next")
    assert not stale.exists()
    assert fresh.exists() and unrelated.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".notes.tmp", ".other.clric.abcd1234.tmp", "next.png"]
