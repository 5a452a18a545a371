"""Progress for logs (issue 26, finding 5): plain lines, rate-limited, when stderr is no TTY."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from clric_utils import progress
from clric_utils.progress import LOG_INTERVAL_S, LogLines, progress_bar

REPO = Path(__file__).resolve().parents[1]


class _Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_log_lines_write_first_every_interval_and_last(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    stream = io.StringIO()
    bar = LogLines(total=1000, desc="fit", file=stream, mininterval=0)
    for _ in range(1000):
        clock.now += 0.1  # 100 s of work in all
        bar.update(1)
        bar.set_postfix_str("loss=1")
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    # The first line (at creation), one per 10 s of the 100 s (the tenth may fall on the end),
    # and the closing line: never one per update (1000).
    per_interval = round(100 / LOG_INTERVAL_S)
    assert 1 + per_interval - 1 + 1 <= len(lines) <= 1 + per_interval + 1, lines
    assert lines[-1].startswith("fit: 100%") and "1000/1000" in lines[-1]


def test_a_terminal_gets_a_bar_and_a_pipe_gets_lines():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert not isinstance(progress_bar(total=1, file=Terminal()), LogLines)
    assert isinstance(progress_bar(total=1, file=io.StringIO()), LogLines)


def test_encode_into_a_log_file_writes_few_plain_lines(tmp_path):
    """``clric encode … 2> log``: no carriage returns, and a handful of lines for a fit."""
    image = tmp_path / "x.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(image)
    log = tmp_path / "encode.log"
    with log.open("w") as stderr:
        result = subprocess.run(
            [sys.executable, "-m", "clric_utils.cli", "encode", str(image), "-o",
             str(tmp_path / "x.clric"), "--vae", "tiny", "--iterations", "300"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=600,
        )
    assert result.returncode == 0, log.read_text()
    text = log.read_text()
    assert "\r" not in text
    lines = [line for line in text.splitlines() if line.startswith("fit λ=")]
    assert 2 <= len(lines) <= 12, text  # first and last, plus one per 10 s of a short fit
    assert "300/300" in lines[-1]
