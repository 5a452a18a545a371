"""Progress bars for people and plain lines for logs.

On a terminal (and in Jupyter) long work shows a ``tqdm.auto`` bar. When stderr is not a
terminal — a pipe, ``2> log``, CI — a redrawn bar would write every refresh as another
carriage-return update (hundreds per fit), so ``progress_bar`` writes one plain line instead,
at most every ``LOG_INTERVAL_S`` seconds, and one when the work ends.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm
from tqdm.auto import tqdm as auto_tqdm

#: Least seconds between two plain progress lines written to a log.
LOG_INTERVAL_S = 10.0


class LogLines(tqdm):
    """A ``tqdm`` that writes whole lines (no carriage returns), rate-limited for logs."""

    def __init__(self, *args, **kwargs) -> None:
        # leave=False: tqdm's own closing would clear the bar with "\r"; close() writes the
        # last line itself.
        kwargs.update(dynamic_ncols=False, ncols=100, ascii=True, leave=False)
        self._last_line = -float("inf")
        self._closing = False
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> None:
        """Write the status as one line: the first, then every LOG_INTERVAL_S, then the last."""
        now = time.monotonic()
        if msg == "" or (not self._closing and now - self._last_line < LOG_INTERVAL_S):
            return
        self._last_line = now
        self.fp.write((msg if msg is not None else self.__str__()).strip() + "\n")
        self.fp.flush()

    def close(self) -> None:
        """Write the final line, then close."""
        if not self.disable and not self._closing:
            self._closing = True
            self.display()
        super().close()


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where tqdm.auto draws a widget)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def progress_bar(**kwargs) -> tqdm:
    """A progress bar: ``tqdm.auto`` where a person watches, ``LogLines`` in a log."""
    stream = kwargs.get("file") or sys.stderr
    watched = _in_notebook() or bool(getattr(stream, "isatty", lambda: False)())
    return auto_tqdm(**kwargs) if watched else LogLines(**kwargs)
