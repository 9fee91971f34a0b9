"""What detected each injected fault: the alerts and triggers it tripped, time to detect, recover.

::

    metrics["detection"][i]            per fault: label, at, end, detected, time_to_detect_s,
      conditions: [{id, name, first_held, time_to_detect_s, held_before_fault, cleared,
                    time_to_recover_s}], trigger_fired_s, kill_switch_s, ...
    GradedRun.checks                   names and kinds of the conditions' checks, and checks
                                       that fired inside the fault (their first_seen, cleared)
      └──> [FaultDetection(detectors: [Detector])]   rendered by every output

An info alert (a milestone) is never a detector: it is not an alert that fired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.grading.model import CheckResult
from harness.report.explain import outcome
from harness.report.numbers import NA, as_float, as_mapping, fmt_offset, fmt_seconds

__all__ = ["Detector", "FaultDetection", "fault_detections"]

_KIND_WORD = {"trigger": "trigger", "alert": "alert", "sla": "SLA"}


@dataclass(frozen=True)
class Detector:
    """One alert, trigger or SLA condition that held during a fault (offsets in s)."""

    id: str
    name: str
    kind: str  # trigger | alert | sla
    severity: str
    first_held: float | None
    time_to_detect: float | None
    cleared: float | None
    time_to_recover: float | None
    held_before_fault: bool = False

    @property
    def what(self) -> str:
        """``trigger, immediate`` / ``alert, critical`` / ``SLA``."""
        word = _KIND_WORD.get(self.kind, self.kind)
        return word if self.kind == "sla" or not self.severity else f"{word}, {self.severity}"

    @property
    def sentence(self) -> str:
        """``AI error rate above 10% (trigger, immediate): first held +21.0 s (1 s to detect),
        cleared +33.0 s (5 s to recover)``."""
        held = f"first held {fmt_offset(self.first_held)}"
        if self.held_before_fault:
            held += " (already held before the fault)"
        elif self.time_to_detect is not None:
            held += f" ({fmt_seconds(self.time_to_detect)} to detect)"
        if self.cleared is None:
            cleared = "never cleared"
        else:
            cleared = f"cleared {fmt_offset(self.cleared)}"
            if self.time_to_recover is not None:
                cleared += f" ({fmt_seconds(self.time_to_recover)} to recover)"
        return f"{self.name} ({self.what}): {held}, {cleared}"


@dataclass(frozen=True)
class FaultDetection:
    """One injected fault and what detected it."""

    label: str
    target: str
    start: float | None
    end: float | None
    detected: bool
    time_to_detect: float | None
    expected_within: float | None
    time_to_recover: float | None
    trigger_fired: float | None  # s after the fault's start
    kill_switch: float | None
    detectors: tuple[Detector, ...]

    @property
    def span(self) -> str:
        return f"{fmt_offset(self.start)} to {fmt_offset(self.end)}"

    @property
    def summary(self) -> str:
        """``detected 1 s after it started (expected within 6 s) by 2 alerts and triggers``."""
        if not self.detected:
            return "not detected by any alert or trigger" + (
                f" (expected within {fmt_seconds(self.expected_within)})"
                if self.expected_within is not None
                else ""
            )
        text = f"detected {fmt_seconds(self.time_to_detect)} after it started"
        if self.expected_within is not None:
            text += f" (expected within {fmt_seconds(self.expected_within)})"
        if n := len(self.detectors):
            text += f" by {n} alert{'s' if n != 1 else ''} and trigger{'s' if n != 1 else ''}"
        if self.time_to_recover is not None:
            text += f"; recovered {fmt_seconds(self.time_to_recover)} after it ended"
        if self.trigger_fired is not None:
            text += f"; the live rollback trigger fired {fmt_seconds(self.trigger_fired)} in"
        if self.kill_switch is not None:
            text += f"; kill switch on {fmt_seconds(self.kill_switch)} in"
        return text

    @property
    def sentence(self) -> str:
        """The whole finding: fault, span, summary and every detector."""
        head = f"{self.label} ({self.target}, {self.span}): {self.summary}"
        if not self.detectors:
            return head
        return head + ". Tripped: " + "; ".join(d.sentence for d in self.detectors)


def _kind_of(cid: str) -> tuple[str, str]:
    parts = cid.split(".")
    kind = parts[0] if parts and parts[0] in _KIND_WORD else "alert"
    severity = parts[1] if kind != "sla" and len(parts) > 1 else ""
    return kind, severity


def fault_detections(
    metrics: Mapping[str, Any], checks: Sequence[CheckResult], grace: float = 0.0
) -> list[FaultDetection]:
    """Every fault of ``metrics["detection"]`` with the checks that detected it.

    Conditions of the analysis come first (names and kinds from the matching check); then any
    failed check whose ``first_seen`` falls inside the fault (plus ``grace`` s), from its own
    ``first_seen`` and ``cleared``. Info alerts are left out.
    """
    by_id = {c.id: c for c in checks}
    rows = metrics.get("detection")
    out: list[FaultDetection] = []
    for raw in rows if isinstance(rows, list) else []:
        d = as_mapping(raw)
        at, end = as_float(d.get("at")), as_float(d.get("end"))
        detectors: list[Detector] = []
        seen: set[str] = set()
        conds = d.get("conditions")
        for c in conds if isinstance(conds, list) else []:
            c = as_mapping(c)
            cid = str(c.get("id", ""))
            check = by_id.get(cid)
            if check is not None and check.severity == "info":
                continue
            kind, severity = (check.kind, check.severity) if check else _kind_of(cid)
            seen.add(cid)
            detectors.append(
                Detector(
                    id=cid,
                    name=check.name if check else str(c.get("name") or cid or NA),
                    kind=kind,
                    severity=severity,
                    first_held=as_float(c.get("first_held")),
                    time_to_detect=as_float(c.get("time_to_detect_s")),
                    cleared=as_float(c.get("cleared")),
                    time_to_recover=as_float(c.get("time_to_recover_s")),
                    held_before_fault=bool(c.get("held_before_fault")),
                )
            )
        if at is not None:
            stop = (end if end is not None else at) + grace
            for check in checks:
                first = as_float(check.first_seen)
                if check.id in seen or outcome(check) != "fail" or first is None:
                    continue
                if not at <= first <= stop:
                    continue
                cleared = as_float(check.cleared)
                detectors.append(
                    Detector(
                        id=check.id,
                        name=check.name,
                        kind=check.kind,
                        severity="" if check.kind == "sla" else check.severity,
                        first_held=first,
                        time_to_detect=first - at,
                        cleared=cleared,
                        time_to_recover=(
                            max(0.0, cleared - end)
                            if cleared is not None and end is not None
                            else None
                        ),
                    )
                )
        out.append(
            FaultDetection(
                label=str(d.get("label") or NA),
                target=str(d.get("target") or NA),
                start=at,
                end=end,
                # the analysis decides (a condition already holding before the fault did
                # not detect it); checks alone only when it said nothing
                detected=bool(d["detected"]) if "detected" in d else bool(detectors),
                time_to_detect=as_float(d.get("time_to_detect_s")),
                expected_within=as_float(d.get("expected_within_s")),
                time_to_recover=as_float(d.get("time_to_recover_s")),
                trigger_fired=as_float(d.get("trigger_fired_s")),
                kill_switch=as_float(d.get("kill_switch_s")),
                detectors=tuple(detectors),
            )
        )
    return out
