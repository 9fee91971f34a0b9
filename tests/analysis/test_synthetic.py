"""harness.testing writes run directories exactly per harness.rundir, with the designed figures."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import yaml

import harness
from harness.rundir import DECISION_FIELDS, EVENT_KINDS, REQUEST_FIELDS, RUN_META_KEYS
from harness.scenario import parse_scenario
from harness.testing import SyntheticFault, SyntheticRun, SyntheticStage, make_run


def test_files_follow_the_contract(tmp_path: Path) -> None:
    spec = SyntheticRun(rps=20, duration=30, faults=[SyntheticFault(10, 5)], kill_switch_at=25)
    run = make_run(tmp_path / "r", spec)
    assert run.exists()
    parse_scenario(yaml.safe_load(run.scenario.read_text()))  # a valid resolved scenario
    assert run.requests.read_text().splitlines()[0] == ",".join(REQUEST_FIELDS)
    assert run.decisions.read_text().splitlines()[0] == ",".join(DECISION_FIELDS)
    kinds = [json.loads(line)["kind"] for line in run.events.read_text().splitlines()]
    assert set(kinds) == {
        "run_start", "chaos_applied", "chaos_removed", "trigger_fired", "kill_switch", "run_stop",
    }  # fmt: skip
    meta = run.read_meta()
    assert meta["status"] == "complete" and meta["started"] < meta["ended"]
    assert meta["load_started"] == spec.start_ts  # the time origin real runs write
    assert len(run.read_requests()) == len(run.read_decisions()) == 600


def test_same_seed_same_files(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", SyntheticRun(seed=5, rps=10, duration=10))
    b = make_run(tmp_path / "b", SyntheticRun(seed=5, rps=10, duration=10))
    c = make_run(tmp_path / "c", SyntheticRun(seed=6, rps=10, duration=10))
    assert a.requests.read_bytes() == b.requests.read_bytes()
    assert a.requests.read_bytes() != c.requests.read_bytes()


def test_designed_properties(tmp_path: Path) -> None:
    spec = SyntheticRun(
        pattern="split",
        ai_share=0.1,
        observed_ai_share=0.3,
        ai_error_rate=0.2,
        rps=100,
        duration=60,
        seed=1,
    )
    dec = make_run(tmp_path / "r", spec).read_decisions()
    ai = dec[dec["ai_outcome"] != "skipped"]
    assert abs(len(ai) / len(dec) - 0.3) < 0.04
    assert abs((ai["ai_outcome"] != "ok").mean() - 0.2) < 0.03
    assert np.allclose(dec["ai_share"], 0.1)


def test_variants(tmp_path: Path) -> None:
    ext = make_run(tmp_path / "e", SyntheticRun(write_decisions=False, rps=5, duration=10))
    assert not ext.decisions.exists()
    assert yaml.safe_load(ext.scenario.read_text())["stack"]["mode"] == "external"
    lossy = make_run(tmp_path / "l", SyntheticRun(data_loss_rate=0.1, rps=50, duration=20))
    assert len(lossy.read_decisions()) < 0.95 * len(lossy.read_requests())
    staged = make_run(
        tmp_path / "s",
        SyntheticRun(stages=[SyntheticStage(0, 5, 10), SyntheticStage(10, 10, 20)], duration=20),
    )
    assert len(staged.read_requests()) == 100 + 200
    empty = make_run(tmp_path / "z", SyntheticRun(n_records=0))
    assert len(empty.read_requests()) == 0
    err = make_run(
        tmp_path / "x",
        SyntheticRun(status="harness_error", harness_error="boom", rps=5, duration=5),
    )
    assert err.read_meta()["harness_error"] == "boom"


_HARNESS = Path(harness.__file__).parent


def _emitted_kinds() -> set[str]:
    """Event kinds the harness's run side logs: ``<x>.log("kind", ...)`` / ``_log(...)``."""
    kinds = set()
    sides = ("load", "faults", "run")
    for path in [p for side in sides for p in (_HARNESS / side).glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("log", "_log")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                kinds.add(node.args[0].value)
    return kinds


def _runner_meta_keys() -> set[str]:
    """meta.json keys harness/run/session.py writes: ``write_meta(key=...)`` and the keys of the
    ``meta`` dict it passes as ``**meta``."""
    keys = set()
    tree = ast.parse((_HARNESS / "run" / "session.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "write_meta":
            keys |= {k.arg for k in node.keywords if k.arg is not None}
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "meta" for t in node.targets
        ):
            assert isinstance(node.value, ast.Dict)
            keys |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
        elif isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "meta":
            assert isinstance(node.slice, ast.Constant)
            keys.add(node.slice.value)
    return keys


def test_event_kinds_are_what_runs_write() -> None:
    """EVENT_KINDS lists every kind the run side logs and nothing else (no kind no run writes)."""
    assert _emitted_kinds() == set(EVENT_KINDS)


def test_meta_keys_are_what_runs_write(tmp_path: Path) -> None:
    """RunMeta documents the runner's keys; a synthetic run writes those a complete,
    undistributed, unsaturated run writes, and nothing else."""
    runner = _runner_meta_keys()
    assert runner == RUN_META_KEYS
    spec = SyntheticRun(rps=5, duration=5)
    meta = make_run(tmp_path / "r", spec).read_meta()
    conditional = {
        "harness_error",
        "worker_pids",
        "load_generator_saturated",
        "stop_reason",
        "preflight",
    }
    assert set(meta) == runner - conditional
    assert set(meta["load_stats"]) == {
        "locust_requests", "locust_failures", "records", "achieved_rps", "workers_reported",
        "requests_started",
    }  # fmt: skip
    err = make_run(tmp_path / "x", SyntheticRun(status="harness_error", rps=5, duration=5))
    assert set(err.read_meta()) == runner - conditional | {"harness_error"}
