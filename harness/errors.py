"""The harness's exceptions, named by what failed.

::

    DualsysError                 base; never shown to a user as a traceback
    ├── ScenarioError            bad scenario file or bad usage          -> exit 2
    └── HarnessError             the test could not run (not the system) -> exit 3
        └── ComponentFailed      a child process or the fault proxy died; carries its last log lines
"""

from __future__ import annotations

__all__ = ["ComponentFailed", "DualsysError", "HarnessError", "ScenarioError"]


class DualsysError(Exception):
    """Base of every error the harness raises on purpose."""


class ScenarioError(DualsysError):
    """A scenario file (or the command line) is wrong: names the file, the field and what was
    expected. Maps to exit code 2."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: invalid scenario\n{lines}")


class HarnessError(DualsysError):
    """The harness itself could not run the test. Maps to exit code 3 and verdict ERROR."""


class ComponentFailed(HarnessError):
    """A component of the harness (gateway, demo service, fault proxy, load worker) failed."""

    def __init__(self, component: str, reason: str, last_lines: list[str] | None = None) -> None:
        self.component = component
        self.reason = reason
        self.last_lines = last_lines or []
        tail = "".join(f"\n    | {line}" for line in self.last_lines)
        super().__init__(f"{component}: {reason}{tail}")
