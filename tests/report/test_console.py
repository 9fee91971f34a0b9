"""The lines ``dualsys run`` prints: built from the checks, complete, safe for a terminal."""

from __future__ import annotations

from dataclasses import replace

from harness.report.console import console_lines, terminal_text
from harness.verdict import Verdict
from tests.report.factories import graded_run, inconclusive_check, worst_window_check


def test_the_verdict_line_then_each_deciding_check_explained() -> None:
    graded = graded_run(
        Verdict.ROLLBACK,
        checks=[*graded_run().checks[:2], worst_window_check(), inconclusive_check()],
        reasons=["not a reason the console parses"],
    )
    lines = console_lines(graded, status="complete")
    assert lines == [
        "verdict: ROLLBACK",
        "  - FIRED trigger.immediate.ai_error_rate: AI error rate above 10%: 14.90% (worst 5 s "
        "window, 12.0-17.0 s; 12.00% over the run), must be ≤ 10.00%; Clopper-Pearson with "
        "Bonferroni, n = 412; first held +17.0 s, cleared +24.0 s; acted on by the live check "
        "during the run",
        "  - FAILED sla.user.availability: User availability at least 99.9%: 97.25% (whole "
        "run), must be ≥ 99.90%; first held +21.0 s, cleared +29.0 s",
        "  - INCONCLUSIVE sla.ai.p95: AI p95 within 1 s: no value, must be ≤ 1,000 ms; too "
        "little data: n = 12 of 30 needed (2.5x the load or the run length); "
        "order-statistic interval",
    ]


def test_an_incomplete_run_and_the_limit() -> None:
    many = [inconclusive_check(id=f"sla.ai.p{i}") for i in range(7)]
    lines = console_lines(graded_run(Verdict.INCONCLUSIVE, checks=many), status="interrupted")
    assert lines[0] == "verdict: INCONCLUSIVE (interrupted)"
    assert len(lines) == 1 + 5 + 1 and lines[-1] == "  - ... and 2 more in the report"
    assert console_lines(graded_run(Verdict.PASS, checks=[]), status="complete") == [
        "verdict: PASS"
    ]


def test_an_error_run_prints_its_reasons() -> None:
    graded = graded_run(Verdict.ERROR, status="harness_error", reasons=["gateway: exited\n1"])
    assert console_lines(graded, status="harness_error") == [
        "verdict: ERROR (harness_error)",
        "  - gateway: exited 1",
    ]


def test_control_characters_never_reach_the_terminal_raw() -> None:
    evil = "x\x1b[2J\x1b]0;owned\x07\r\x9b\u202e"
    check = replace(worst_window_check(), name=f"AI {evil}", evidence=evil)
    lines = console_lines(graded_run(checks=[check]), status=f"ok{evil}")
    text = "\n".join(lines)
    assert not any((ord(ch) < 0x20 and ch != "\n") or 0x7F <= ord(ch) <= 0x9F for ch in text)
    assert "\u202e" not in text
    assert "AI x\\x1b[2J\\x1b]0;owned\\x07\\x0d\\x9b\\u202e" in lines[1]
    assert terminal_text("plain ≤ 10%") == "plain ≤ 10%"
