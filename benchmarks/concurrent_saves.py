"""Concurrent saves to one path: after every pair of simultaneous saves the file must be valid.

Two worker processes save, at the same moment (a barrier), two different valid ``.clric``
files of different lengths to the same path with ``EncodeResult.save``; after each pair the
file must be exactly one of the two, and parse. Before atomic writes, 491 of 3 000 pairs left
a mixture of both while both saves reported success (issue 15).

    python benchmarks/concurrent_saves.py --pairs 3000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path


def two_files() -> tuple[bytes, bytes]:
    """Two valid .clric files of different lengths and contents."""
    sys.path.insert(0, str(Path(__file__).parent))
    from forge_clric import forge_file

    return forge_file(64, 96, payload_words=(0, 0)), forge_file(512, 768, payload_words=(0, 0))


def _saver(path: str, data: bytes, start, done, pairs: int) -> None:
    """Save ``data`` to ``path`` once per pair: all parties pass ``start`` together, and the
    parent checks the file between ``done`` and the next ``start``."""
    from clric_utils.api import EncodeResult

    result = EncodeResult(data, None, None, None, 0.0, 0.0, 0)
    for _ in range(pairs):
        start.wait()
        result.save(path)
        done.wait()


def run(pairs: int, folder: Path) -> tuple[int, int]:
    """Run ``pairs`` pairs of simultaneous saves into ``folder``.

    Returns (files that were neither of the two saved files, temporary files left behind).
    """
    from clric_utils.bitstream import parse_header

    first, second = two_files()
    path = folder / "same.clric"
    context = mp.get_context("spawn")
    start, done = context.Barrier(3), context.Barrier(3)
    workers = [context.Process(target=_saver, args=(str(path), data, start, done, pairs))
               for data in (first, second)]
    for worker in workers:
        worker.start()
    bad = 0
    try:
        for _ in range(pairs):
            start.wait(timeout=60)
            done.wait(timeout=60)
            data = path.read_bytes()
            if data in (first, second):
                parse_header(data)
            else:
                bad += 1
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    leftovers = len([p for p in folder.iterdir() if p != path])
    return bad, leftovers


def main(argv: list[str] | None = None) -> int:
    """Print the counts; exit status 1 if any pair left a bad file or a temporary file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3000)
    args = parser.parse_args(argv)
    begin = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        bad, leftovers = run(args.pairs, Path(folder))
    seconds = time.perf_counter() - begin
    print(f"{args.pairs} pairs of concurrent saves in {seconds:.1f} s: {bad} bad files, "
          f"{leftovers} temporary files left")
    return 1 if bad or leftovers else 0


if __name__ == "__main__":
    sys.exit(main())
