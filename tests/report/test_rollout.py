"""A progressive rollout's report: the "Rollout steps" table, in HTML and Markdown."""

from __future__ import annotations

from pathlib import Path

from harness.report import render_reports
from harness.report.figures import rollout_steps
from harness.testing import SyntheticFault, SyntheticRun, make_run


def test_rollout_steps_table_in_html_and_markdown(tmp_path: Path) -> None:
    burst = SyntheticFault(at=45, for_=10, effect="errors", error_rate=0.6, label="AI error burst")
    run = make_run(
        tmp_path / "r",
        SyntheticRun(
            pattern="split",
            ai_share=0.01,
            share_changes=[(20, 0.05), (40, 0.25)],
            rps=200,
            duration=60,
            seed=3,
            faults=[burst],
        ),
    )
    graded, paths = render_reports(run)
    table = rollout_steps(graded.metrics)
    assert table.columns == [
        "step", "time range", "configured share", "observed share", "user availability",
        "user p95", "AI error rate", "grade", "evidence",
    ]  # fmt: skip
    assert [r[0] for r in table.rows] == ["1", "2", "3"]
    assert [r[2] for r in table.rows] == ["1.00%", "5.00%", "25.00%"]
    assert [r[7] for r in table.rows] == ["PASS", "PASS", "ROLLBACK"]
    assert table.rows[1][1] == "+20.0 s to +40.0 s" and "(CI " in table.rows[2][3]

    html = paths["html"].read_text(encoding="utf-8")
    section = html[html.index('<section id="rollout">') : html.index('<section id="routing">')]
    assert '<a href="#rollout">Rollout steps</a>' in html
    assert "<th>configured share</th>" in section and "<th>grade</th>" in section
    assert section.count('<span class="badge v-pass">PASS</span>') == 2
    assert section.count('<span class="badge v-rollback">ROLLBACK</span>') == 1
    assert "over the 10.0% trigger" in section and "+40.0 s to +60.0 s" in section

    md = paths["markdown"].read_text(encoding="utf-8")
    assert "**Rollout steps**" in md
    assert "| step | time range | configured share | observed share |" in md
    assert md.count("✅ PASS |") == 2 and md.count("⏪ ROLLBACK |") == 1

    # defensive: no rollout, or partial figures, read as no table or n/a, never raise
    assert rollout_steps({}).rows == []
    assert rollout_steps({"rollout": {"applies": False}}).rows == []
    partial = rollout_steps({"rollout": {"applies": True, "steps": [{}, None]}})
    assert partial.rows[0] == ["n/a", "n/a to n/a", *["n/a"] * 7]
    plain = make_run(tmp_path / "p", SyntheticRun(pattern="split", rps=20, duration=20))
    _, plain_paths = render_reports(plain)
    assert 'id="rollout"' not in plain_paths["html"].read_text(encoding="utf-8")
    assert "Rollout steps" not in plain_paths["markdown"].read_text(encoding="utf-8")
