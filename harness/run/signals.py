"""Ctrl-C and SIGTERM from the first instant of a run to its exit code.

=========  ====================================  ============================================
signal     while the run goes (phase ``run``)    while grading / rendering (phase ``report``)
=========  ====================================  ============================================
first      stop: load, faults, processes,        finish the reports (exit 3: interrupted)
           records, then grade what there is
second     the same, without the graceful waits  write the last-resort report set now, exit 3
third      end at once (exit 3)                  end at once (exit 3)
=========  ====================================  ============================================

Plain ``signal.signal`` handlers, not gevent's: gevent runs its signal callbacks in the hub,
which never gets to run while grading keeps the main greenlet busy (pandas), so a signal there
would wait for the end of grading. A Python handler runs between two bytecodes of whatever
runs, which is what a person pressing Ctrl-C expects. (gevent's patched ``signal.signal`` hands
every signal but SIGCHLD to the real one.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from harness.verdict import EXIT_HARNESS

__all__ = ["StopSignals"]

_NAMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


class StopSignals:
    """Counts SIGINT/SIGTERM and says what the run must do; installed for a whole command.

    ``reason`` is set by the first signal ("interrupted" or "terminated"); ``hurry`` by the
    second. In the ``report`` phase the second signal calls ``last_resort`` (which writes a
    minimal report set) and ends the process with exit code 3.
    """

    def __init__(self, *, stream: Any = None) -> None:
        self.count = 0
        self.reason: str | None = None
        self.hurry = False
        self.phase = "run"
        self.during_report = False
        self.last_resort: Callable[[str], None] | None = None
        self._stream = stream
        self._saved: dict[int, Any] = {}

    # ---- installation ---------------------------------------------------------------------

    def install(self) -> StopSignals:
        """Install the handlers (main thread only); :meth:`restore` puts back the old ones."""
        for sig in _NAMES:
            self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        """Put back the handlers that were there before :meth:`install`."""
        for sig, old in self._saved.items():
            signal.signal(sig, old)
        self._saved.clear()

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()

    # ---- the handler ----------------------------------------------------------------------

    def _say(self, text: str) -> None:
        stream = self._stream or sys.stderr
        # A closed terminal must not turn a stop into a crash.
        with contextlib.suppress(OSError, ValueError):
            print(f"\ndualsys: {text}", file=stream, flush=True)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.notify(signum)

    def notify(self, signum: int) -> None:
        """What one signal means now (the handler's body; callable directly in tests)."""
        self.count += 1
        name = _NAMES.get(signal.Signals(signum), "interrupted")
        if self.count >= 3:
            self._say(f"{name} a third time: ending now (exit {EXIT_HARNESS})")
            os._exit(EXIT_HARNESS)
        if self.reason is None:
            self.reason = name
        if self.phase == "report":
            self.during_report = True
            if self.count == 1:
                self._say(f"{name}: finishing the reports (again to stop at once)")
                return
            self._say(f"{name} again: writing the last-resort reports and stopping")
            if self.last_resort is not None:
                try:
                    self.last_resort(name)
                except Exception as err:  # nothing may stop the exit now
                    self._say(f"could not write the last-resort reports: {err!r}")
            os._exit(EXIT_HARNESS)
        if self.count == 1:
            self._say(f"{name}: stopping load, removing faults, stopping processes...")
        else:
            self.hurry = True
            self._say("stopping now (no more graceful waits; faults still removed)")
