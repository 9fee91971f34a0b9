"""harness.testing writes run directories exactly per harness.rundir, with the designed figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from harness.rundir import DECISION_FIELDS, EVENT_KINDS, REQUEST_FIELDS
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
    assert set(kinds) <= set(EVENT_KINDS)
    assert {"chaos_applied", "chaos_removed", "trigger_fired", "kill_switch"} <= set(kinds)
    meta = run.read_meta()
    assert meta["status"] == "complete" and meta["started"] < meta["ended"]
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
