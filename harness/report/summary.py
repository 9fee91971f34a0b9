"""``summary.json``: the graded run as a versioned JSON document (docs/summary-schema.md).

The grading's own document (:meth:`GradedRun.to_summary`, schema
:data:`~harness.grading.model.SUMMARY_SCHEMA_VERSION`) plus one ``report`` object written here:
exit codes, check counts, fault windows and the names of the other report files. NaN and
infinities become ``null`` so that the file is strict JSON every tool can read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.verdict import EXIT_MEANINGS

if TYPE_CHECKING:
    from harness.report.detection import FaultDetection
    from harness.report.view import CheckRow, ReportView

__all__ = ["REPORT_FILES", "SummaryJson", "json_ready", "summary_document"]

#: The files a report step writes into the run directory, by output key.
REPORT_FILES = {
    "html": "report.html",
    "markdown": "report.md",
    "json": "summary.json",
    "junit": "junit.xml",
}


def json_ready(value: Any) -> Any:
    """``value`` with only JSON types: NaN/inf -> None, numpy scalars -> Python, enums -> value."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Enum):
        return json_ready(value.value)
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_ready(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return json_ready(asdict(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy and pandas scalars
        try:
            return json_ready(value.item())
        except (TypeError, ValueError):
            pass
    if hasattr(value, "tolist"):
        return json_ready(value.tolist())
    return str(value)


def summary_document(view: ReportView) -> dict[str, Any]:
    """The ``summary.json`` document of ``view``'s graded run."""
    from harness import __version__

    doc = view.graded.to_summary()
    doc["report"] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "harness_version": __version__,
        "exit_code": view.exit_code,
        "exit_code_strict": view.exit_code_strict,
        "exit_codes": {str(code): meaning for code, meaning in EXIT_MEANINGS.items()},
        "counts": view.counts,
        "findings": [_finding(row) for row in view.findings],
        "inconclusive": [
            {
                "id": row.check.id,
                "name": row.check.name,
                "samples": row.check.samples,
                "samples_needed": row.check.samples_needed,
                "load_factor": _load_factor(row.check.samples, row.check.samples_needed),
                "text": row.why.data,
            }
            for row in view.inconclusive_checks
        ],
        "detection": [_detection(d) for d in view.detections],
        "fault_windows": [
            {
                "index": f.index,
                "label": f.label,
                "target": f.target,
                "start_s": f.start,
                "end_s": f.end,
                "removed_because": f.removed_because,
            }
            for f in view.faults
        ],
        "run_length_s": view.run_end,
        "files": dict(REPORT_FILES),
    }
    ready: dict[str, Any] = json_ready(doc)
    return ready


def _load_factor(samples: Any, needed: Any) -> float | None:
    """How many times the load (or the run length) the check needed: needed / samples."""
    if not isinstance(samples, int | float) or not isinstance(needed, int | float) or samples <= 0:
        return None
    return round(max(needed / samples, 1.0), 2)


def _finding(row: CheckRow) -> dict[str, Any]:
    why = row.why
    return {
        "id": row.check.id,
        "outcome": row.outcome,
        "label": row.label,
        "text": why.sentence,
        "value": why.value,
        "threshold": why.threshold,
        "window": why.window,
        "run_value": why.run_value,
        "method": why.method,
        "data": why.data,
        "fired_live": row.check.fired_live,
    }


def _detection(d: FaultDetection) -> dict[str, Any]:
    return {
        "label": d.label,
        "target": d.target,
        "start_s": d.start,
        "end_s": d.end,
        "detected": d.detected,
        "time_to_detect_s": d.time_to_detect,
        "time_to_recover_s": d.time_to_recover,
        "text": d.sentence,
        "detectors": [
            {
                "id": x.id,
                "name": x.name,
                "kind": x.kind,
                "severity": x.severity,
                "first_held_s": x.first_held,
                "time_to_detect_s": x.time_to_detect,
                "cleared_s": x.cleared,
                "time_to_recover_s": x.time_to_recover,
                "held_before_fault": x.held_before_fault,
            }
            for x in d.detectors
        ],
    }


class SummaryJson:
    """``summary.json``; see docs/summary-schema.md."""

    key = "json"
    filename = REPORT_FILES["json"]

    def render(self, view: ReportView) -> str:
        return json.dumps(summary_document(view), indent=2, allow_nan=False) + "\n"
