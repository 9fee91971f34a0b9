"""Small samples do not flap; broken or partial runs never pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.grading import grade_run
from harness.rundir import RunDir
from harness.testing import SyntheticRun, make_run
from harness.verdict import EXIT_INCONCLUSIVE, Verdict, exit_code
from tests.grading.conftest import Grade, check, failed


def test_too_few_requests_is_not_a_pass(grade: Grade) -> None:
    g = grade(rps=1, duration=20, ai_error_rate=0.5, seed=1)
    assert g.verdict is Verdict.INCONCLUSIVE
    assert exit_code(g.verdict) == EXIT_INCONCLUSIVE
    assert any(r.startswith("INCONCLUSIVE: user had too few requests") for r in g.reasons)
    c = check(g, "trigger.immediate.ai_error_rate")
    assert c.status == "inconclusive" and c.samples_needed == 30
    assert c.samples is not None and c.samples < 30
    assert f"n={c.samples} of 30 needed: about" in c.evidence
    u = check(g, "sla.user.availability")
    assert u.status == "inconclusive" and u.samples == 20 and "about 1.5x the load" in u.evidence


@pytest.mark.parametrize("seed", range(8))
def test_ai_error_rate_near_the_trigger_does_not_flap(grade: Grade, seed: int) -> None:
    """An AI failing 9% of ~300 calls, just under the 10% trigger: point estimates land on both
    sides of it (and 5 s windows of ~30 calls far past it), the verdict never flips."""
    g = grade(
        pattern="split",
        ai_share=0.5,
        ai_error_rate=0.09,
        rps=10,
        duration=60,
        seed=seed,
        grading={"alerts": {"error_rate_max": 0.2}, "slas": {"user": {"availability_min": None}}},
    )
    c = check(g, "trigger.immediate.ai_error_rate")
    assert c.status == "pass"
    assert g.verdict is Verdict.PASS, g.reasons
    # past the trigger on the point estimate is recorded as borderline, never failing
    assert c.value is not None and c.borderline == (c.value > 10)


@pytest.mark.parametrize("seed", range(6))
def test_small_borderline_drift_does_not_flap(grade: Grade, seed: int) -> None:
    """Observed 16% against a configured 10% on 40 users: past the 5-point tolerance on the
    point estimate sometimes, never firmly."""
    g = grade(
        pattern="split",
        ai_share=0.1,
        observed_ai_share=0.15,
        population=40,
        rps=5,
        duration=30,
        seed=seed,
    )
    assert check(g, "alert.warning.split_drift").status == "pass"


def test_small_sample_rate_checks_skip_rather_than_fail(grade: Grade) -> None:
    g = grade(
        pattern="split",
        ai_share=0.05,
        ai_error_rate=0.5,
        rps=5,
        duration=60,
        seed=3,
        grading={"slas": {"user": {"availability_min": None}}},
    )
    ai = g.metrics["per_system"]["ai"]["requests"]
    assert ai < 30
    # 50% errors on a handful of calls: never a false ROLLBACK or FAIL, never a pass either
    for cid in ("trigger.immediate.ai_error_rate", "alert.critical.error_rate.ai"):
        c = check(g, cid)
        assert c.status == "inconclusive" and f"n={ai} of 30 needed" in c.evidence
    assert g.verdict is Verdict.INCONCLUSIVE


def test_empty_run_is_an_error(tmp_path: Path) -> None:
    g = grade_run(make_run(tmp_path / "r", SyntheticRun(n_records=0)))
    assert g.verdict is Verdict.ERROR and exit_code(g.verdict) == 3
    assert "no request or decision records" in g.reasons[0]


def test_run_without_records_files(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", SyntheticRun(rps=5, duration=10))
    run.requests.unlink()
    run.decisions.unlink()
    assert grade_run(run).verdict is Verdict.ERROR


def test_harness_error_run(tmp_path: Path) -> None:
    run = make_run(
        tmp_path / "r",
        SyntheticRun(
            status="harness_error", rps=20, duration=30, harness_error="fault proxy: exited with 1"
        ),
    )
    g = grade_run(run)
    assert g.verdict is Verdict.ERROR and g.status == "harness_error"
    assert "fault proxy: exited with 1" in g.reasons[0]
    assert g.metrics["per_system"]["user"]["requests"] == 600  # partial figures kept


def test_interrupted_run_is_graded_and_marked(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", SyntheticRun(status="interrupted", rps=50, duration=60))
    g = grade_run(run)
    assert g.status == "interrupted"
    assert g.verdict is Verdict.WARN  # healthy, but a partial run never passes
    assert "interrupted" in g.reasons[0]
    assert check(g, "sla.user.availability").status == "pass"
    bad = grade_run(
        make_run(
            tmp_path / "b",
            SyntheticRun(
                status="interrupted", rps=50, duration=60, pattern="fallback", ai_error_rate=0.3
            ),
        )
    )
    assert bad.verdict is Verdict.ROLLBACK  # what it has is enough to roll back


def test_running_status_means_the_runner_died(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", SyntheticRun(rps=50, duration=60))
    run.write_meta(status="running")
    g = grade_run(run)
    assert g.status == "interrupted" and g.verdict is Verdict.WARN


def test_torn_last_line(tmp_path: Path) -> None:
    g = grade_run(make_run(tmp_path / "r", SyntheticRun(rps=50, duration=60, torn_last_line=True)))
    assert g.verdict is Verdict.PASS, g.reasons
    assert g.metrics["run"]["records"] == {"requests": 3000, "decisions": 3000}


def test_corrupt_records_are_an_error_not_a_crash(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", SyntheticRun(rps=5, duration=10))
    with open(run.requests, "a") as fh:
        fh.write("not-a-number,x,y,z,1,legacy,0,,split,r9,u1,answer,,,local\n")
    g = grade_run(run)
    assert g.verdict is Verdict.ERROR and "could not read the run's records" in g.reasons[0]


def test_missing_scenario_is_a_scenario_error(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", SyntheticRun(rps=5, duration=10))
    run.scenario.unlink()
    with pytest.raises(ScenarioError):
        grade_run(run)
    run.scenario.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError):
        grade_run(RunDir(run.path))


def test_meta_not_json(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", SyntheticRun(rps=5, duration=10))
    run.meta.write_text("{torn")
    g = grade_run(run)
    assert g.verdict is Verdict.ERROR


def test_external_gateway_run(grade: Grade) -> None:
    g = grade(
        pattern="fallback", write_decisions=False, ai_error_rate=0.3, rps=50, duration=60, seed=4
    )
    assert g.verdict is Verdict.ROLLBACK  # AI health read from X-Fallback headers
    assert check(g, "trigger.immediate.data_loss").status == "skipped"
    assert failed(g) >= {"trigger.immediate.ai_error_rate"}


def test_summary_is_json(grade: Grade) -> None:
    g = grade(pattern="fallback", rps=20, duration=30, seed=5)
    text = json.dumps(g.to_summary(), allow_nan=False)
    assert json.loads(text)["verdict"] == g.verdict.value


def test_harness_error_event_wins_over_meta(tmp_path: Path) -> None:
    """A fault the proxy could not apply is a harness error even if meta says complete."""
    run = make_run(tmp_path / "r", SyntheticRun(rps=20, duration=30))
    with open(run.events, "a") as fh:
        fh.write(
            json.dumps(
                {
                    "ts": 1764158410.0,
                    "kind": "harness_error",
                    "component": "fault proxy",
                    "message": "toxic not applied",
                }
            )
            + "\n"
        )
    g = grade_run(run)
    assert g.verdict is Verdict.ERROR and "toxic not applied" in g.reasons[0]


def test_fault_never_applied_is_not_detected(tmp_path: Path) -> None:
    from harness.testing import SyntheticFault

    run = make_run(
        tmp_path / "r",
        SyntheticRun(rps=20, duration=60, status="interrupted", faults=[SyntheticFault(20, 10)]),
    )
    lines = [ln for ln in run.events.read_text().splitlines() if '"chaos_' not in ln]
    run.events.write_text("\n".join(lines) + "\n")
    g = grade_run(run)
    assert g.metrics["faults"][0]["applied"] is False
    assert g.metrics["detection"] == []
