"""Live progress of a run: a rich panel on a terminal, plain periodic lines in CI, or nothing.

The runner calls :meth:`Progress.update` about once a second with a :class:`Snapshot`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["Progress", "Snapshot"]


@dataclass
class Snapshot:
    """What the run looks like now (figures over the last few seconds)."""

    elapsed: float
    duration: float
    users: int
    rps: float
    error_rate: float | None
    p95_ms: float | None
    ai_share: float | None
    fallback_rate: float | None
    total: int
    faults: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.1f}%"


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f} ms"


class Progress:
    """Shows :class:`Snapshot` s: ``mode`` is ``live`` (terminal), ``plain`` or ``quiet``."""

    def __init__(
        self, mode: str | None = None, *, every: float = 5.0, stream: TextIO | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        if mode is None:
            mode = "live" if self.stream.isatty() else "plain"
        self.mode = mode
        self.every = every
        self._last_line = float("-inf")  # the first snapshot is always printed
        self._live: Any = None

    def start(self, title: str) -> None:
        if self.mode == "quiet":
            return
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                console=Console(file=self.stream), refresh_per_second=2, transient=False
            )
            self._live.start()
        print(f"dualsys: {title}", file=self.stream, flush=True)

    def update(self, s: Snapshot) -> None:
        if self.mode == "quiet":
            return
        if self.mode == "live" and self._live is not None:
            self._live.update(self._panel(s))
            return
        now = time.monotonic()
        if now - self._last_line >= self.every:
            self._last_line = now
            print(self.line(s), file=self.stream, flush=True)

    @staticmethod
    def line(s: Snapshot) -> str:
        """One plain line, as printed in CI."""
        faults = ", ".join(s.faults) if s.faults else "none"
        return (
            f"[{s.elapsed:5.0f}s/{s.duration:.0f}s] users={s.users} rps={s.rps:.1f} "
            f"errors={_pct(s.error_rate)} p95={_ms(s.p95_ms)} ai={_pct(s.ai_share)} "
            f"fallback={_pct(s.fallback_rate)} requests={s.total} faults={faults}"
        )

    def _panel(self, s: Snapshot) -> Any:
        from rich.panel import Panel
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        grid.add_row(
            "time",
            f"{s.elapsed:.0f}s of {s.duration:.0f}s ({max(0.0, s.duration - s.elapsed):.0f}s left)",
        )
        grid.add_row(
            "", ProgressBar(total=s.duration, completed=min(s.elapsed, s.duration), width=40)
        )
        grid.add_row("users", str(s.users))
        grid.add_row("requests/s", f"{s.rps:.1f}  (total {s.total})")
        grid.add_row("error rate", _pct(s.error_rate))
        grid.add_row("p95", _ms(s.p95_ms))
        grid.add_row("AI share", _pct(s.ai_share))
        grid.add_row("fallback", _pct(s.fallback_rate))
        grid.add_row("faults", ", ".join(s.faults) if s.faults else "[green]none[/]")
        for note in s.notes:
            grid.add_row("note", f"[yellow]{note}[/]")
        return Panel(grid, title="dualsys run", expand=False)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
