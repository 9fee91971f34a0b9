"""Warnings about a scenario's fault timeline: faults too close together to be told apart.

Detection (:mod:`harness.analysis.detection`) judges a fault on rolling windows of
``grading.window`` seconds and asks whether a condition already held just before the fault
began. When a fault starts less than one window after the previous fault on the same target
ended, that window still holds the previous fault, so the second one cannot be detected as a
separate fault. Such a scenario is valid (it runs), but the user should know: ``dualsys validate``
prints these warnings, and a run can print them at its start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.scenario.model import Scenario

__all__ = ["timeline_warnings"]


def _end(scenario: Scenario, i: int) -> float:
    ev = scenario.chaos[i]
    return scenario.duration if ev.for_ is None else ev.at + ev.for_


def timeline_warnings(scenario: Scenario) -> list[str]:
    """One line per fault that starts less than ``grading.window`` after the end of the
    previous fault on the same target (or while it still lasts), naming both by index."""
    window = scenario.grading.window
    by_target: dict[str, list[int]] = {}
    for i, ev in enumerate(scenario.chaos):
        by_target.setdefault(ev.target, []).append(i)
    out: list[tuple[float, int, str]] = []
    for target, indices in by_target.items():
        order = sorted(indices, key=lambda i: (scenario.chaos[i].at, i))
        # Compare each fault with the one before it on this target that ends last.
        last_i, last_end = order[0], _end(scenario, order[0])
        for next_i in order[1:]:
            nxt = scenario.chaos[next_i]
            prev_i, prev_end = last_i, last_end
            if _end(scenario, next_i) > last_end:
                last_i, last_end = next_i, _end(scenario, next_i)
            gap = nxt.at - prev_end
            if gap >= window - 1e-9:
                continue
            if gap < 0:
                how = f"starts at {nxt.at:g}s while chaos[{prev_i}] still lasts (to {prev_end:g}s)"
            else:
                how = (
                    f"starts {gap:g}s after chaos[{prev_i}] ends ({prev_end:g}s), "
                    f"less than grading.window ({window:g}s)"
                )
            out.append(
                (
                    nxt.at,
                    next_i,
                    f"chaos[{next_i}]: on target {target!r} it {how}, so it cannot be detected "
                    f"as a separate fault; expected it to start at least {window:g}s "
                    f"(grading.window) after the previous fault on {target!r} ends",
                )
            )
    return [msg for _, _, msg in sorted(out)]
