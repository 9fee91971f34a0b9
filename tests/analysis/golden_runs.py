"""The synthetic runs whose metrics JSON is pinned in ``tests/analysis/golden/`` (one file each).

The pinned files are what analysis produced for these runs before its output was typed
(:mod:`harness.analysis.model`): ``test_contract.py`` asserts that the JSON is still the same,
byte for byte. Regenerate only for an intended change of the figures or of the synthetic runs,
and say why in the commit::

    .venv/bin/python -m tests.analysis.golden_runs
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.testing import SyntheticEndpoint, SyntheticFault, SyntheticRun, SyntheticStage

GOLDEN = Path(__file__).parent / "golden"

#: Every section of the metrics with content: each pattern, faults of every effect, stages
#: (capacity), a rollout (share changes), the kill switch, data loss, client records only.
RUNS: dict[str, SyntheticRun] = {
    "split_rollout": SyntheticRun(
        pattern="split",
        ai_share=0.1,
        observed_ai_share=0.15,
        rps=40,
        duration=40,
        seed=1,
        share_changes=[(15.0, 0.3), (25.0, 0.5)],
        faults=[SyntheticFault(20, 8, effect="errors", error_rate=0.5)],
        kill_switch_at=32.0,
        sticky_violation_rate=0.02,
    ),
    "fallback_faults": SyntheticRun(
        pattern="fallback",
        rps=40,
        duration=40,
        seed=2,
        faults=[
            SyntheticFault(10, 8, effect="down"),
            SyntheticFault(25, 5, effect="latency", latency_ms=800),
        ],
        data_loss_rate=0.01,
    ),
    "shadow_capacity": SyntheticRun(
        pattern="shadow",
        shadow_sample=0.3,
        duration=40,
        seed=3,
        stages=[
            SyntheticStage(0, 10, 20),
            SyntheticStage(15, 20, 40),
            SyntheticStage(30, 40, 60, latency_scale=3.0, error_rate=0.1),
        ],
        faults=[SyntheticFault(5, 5, target="legacy", effect="timeout")],
    ),
    "feature_routes": SyntheticRun(
        pattern="feature",
        rps=30,
        duration=30,
        seed=4,
        feature_routes=[
            SyntheticEndpoint("simple", {"complexity": "low"}, weight=3),
            SyntheticEndpoint("complex", {"complexity": "high"}, weight=1, misrouted=0.1),
        ],
    ),
    "external_headers": SyntheticRun(
        pattern="fallback",
        rps=30,
        duration=30,
        seed=5,
        write_decisions=False,
        faults=[SyntheticFault(10, 5, effect="errors", error_rate=0.8, injected=False)],
    ),
}


def metrics_json(spec: SyntheticRun, where: Path) -> str:
    """The metrics of ``spec``'s run as summary.json writes them (NaN -> null, key order)."""
    from harness.analysis import analyse_run
    from harness.report.summary import json_ready
    from harness.testing import make_run

    metrics: Any = analyse_run(make_run(where, spec)).metrics
    return json.dumps(json_ready(metrics), indent=1, allow_nan=False) + "\n"


def main() -> int:
    """Rewrite every pinned file."""
    GOLDEN.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in RUNS.items():
            text = metrics_json(spec, Path(tmp) / name)
            (GOLDEN / f"{name}.json").write_text(text, encoding="utf-8")
            print(f"{name}: {len(text)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
