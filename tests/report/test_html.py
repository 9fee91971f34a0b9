from __future__ import annotations

import re
from html.parser import HTMLParser

from harness.rundir import RunDir
from harness.verdict import Verdict
from tests.report.factories import SCRIPT, graded_run, render


class _Tags(HTMLParser):
    """Every start tag and attribute of a page, to check what it would load or run."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_the_page_opens_with_the_verdict_and_shows_the_figures(fallback_run: RunDir) -> None:
    html = render(fallback_run, graded_run(Verdict.FAIL), "html")
    banner = html.index('class="banner v-fail"')
    assert html.index(">FAIL<") > banner
    assert banner < html.index('id="charts"') < html.index('id="checks"')
    assert html.index('id="checks"') < html.index('id="readiness"') < html.index('id="cost"')
    assert html.index('id="cost"') < html.index('id="metadata"')
    for figure in ("412 ms", "97.25%", "14.20%", "880 ms", "$18,000.00", "91.80%", "3,000"):
        assert figure in html, figure
    assert "User availability at least 99.9%" in html
    assert "≥ 99.90%" in html  # the threshold of the failed SLA
    assert "398 ms to 431 ms" in html  # a confidence interval
    assert "first held +21.0 s, cleared +29.0 s" in html
    assert "Stakeholder buy-in to retire legacy" in html and "sign-off)" in html
    assert "AI outage" in html and "AI latency spike" in html  # fault timeline
    assert "2025-11-26 12:00:00 UTC" in html  # meta.json's started, as a date


def test_routing_cost_and_fault_sections_show_the_analysis_figures(fallback_run: RunDir) -> None:
    html = render(fallback_run, graded_run(), "html")
    routing = html[html.index('id="routing"') : html.index('id="readiness"')]
    assert "31.00% (CI 29.00% to 33.00%)" in routing  # fallback rate with its interval
    assert "unreachable 320" in routing and "300 ms" in routing
    cost = html[html.index('id="cost"') : html.index('id="timeline"')]
    assert "$18,000.00" in cost and "$25,000.00" in cost and "72.0%" in cost
    assert "$5,600.00" in cost and "140%" in cost  # the by-AI-share table at 10%
    timeline = html[html.index('id="timeline"') : html.index('id="metadata"')]
    assert "What each fault did" in timeline and "56 ms" in timeline
    assert "Detection and recovery" in timeline and "1 s" in timeline
    assert "chaos[0]" in timeline


def test_info_alerts_and_borderline_checks_are_notes_not_failures(fallback_run: RunDir) -> None:
    from dataclasses import replace

    from harness.grading.model import CheckResult

    info = CheckResult(
        id="alert.info.milestone",
        kind="alert",
        severity="info",
        name="Migration milestone reached",
        system="split",
        status="fail",
        value=66.6,
        threshold=50.0,
        op=">=",
        unit="%",
        evidence="50% milestone",
    )
    graded = graded_run(Verdict.PASS)
    checks = [c for c in graded.checks if c.status != "fail"]
    checks[0] = replace(checks[0], borderline=True)
    html = render(fallback_run, replace(graded, checks=[*checks, info]), "html")
    assert "What failed" not in html
    assert "2 notes" in html and ">BORDERLINE<" in html and 'class="row-info"' in html
    assert ">NOTED<" in html and ">FIRED<" not in html  # a milestone is never shown as fired


def test_every_chart_is_inline_svg_and_the_page_needs_nothing_else(
    fallback_run: RunDir,
) -> None:
    html = render(fallback_run, graded_run(), "html")
    assert html.count("<svg") == 4
    for key in ("latency", "throughput", "errors", "agreement"):
        assert f'id="chart-{key}"' in html
    tags = _tags(html)
    names = {t for t, _ in tags}
    assert "script" not in names and "link" not in names and "iframe" not in names
    for _, attrs in tags:
        for attr in ("src", "href"):
            value = attrs.get(attr) or ""
            assert not value or value.startswith(("#", "data:")), (attr, value)
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "SVG ids collide between charts"


def test_fault_windows_are_shaded_on_every_time_chart(fallback_run: RunDir) -> None:
    html = render(fallback_run, graded_run(), "html")
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) == 4  # without charts the loop below would pass on nothing
    for svg in svgs:
        # matplotlib writes an axvspan as a filled path in the fault colour
        assert "#d62728" in svg


def test_text_from_the_systems_is_escaped(fallback_run: RunDir) -> None:
    graded = graded_run(evil=SCRIPT, reasons=[f"gateway said {SCRIPT}"])
    html = render(fallback_run, graded, "html")
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


def test_missing_figures_read_na_instead_of_crashing(fallback_run: RunDir) -> None:
    partial = {"per_system": {"user": {"requests": 10, "p95_ms": None}}, "cost": {}}
    graded = graded_run(
        Verdict.PASS, metrics=partial, windows=None, readiness=[], checks=[], reasons=[]
    )
    html = render(fallback_run, graded, "html")
    assert ">PASS<" in html and ">10<" in html
    assert html.count("n/a") >= 20
    assert "<svg" not in html and "no windowed data" in html


def test_a_run_without_any_analysis_leaves_the_figure_sections_out(fallback_run: RunDir) -> None:
    graded = graded_run(
        Verdict.ERROR,
        status="harness_error",
        metrics={},
        windows=None,
        readiness=[],
        checks=[],
        reasons=["gateway: exited"],
    )
    html = render(fallback_run, graded, "html")
    assert "No figures: grading produced no analysis" in html
    for section in ('id="charts"', 'id="routing"', 'id="cost"', 'href="#charts"'):
        assert section not in html
    assert 'id="checks"' in html and 'id="timeline"' in html and 'id="metadata"' in html


def test_windows_without_some_columns_lose_only_those_charts(fallback_run: RunDir) -> None:
    graded = graded_run()
    assert graded.windows is not None
    graded.windows = graded.windows.drop(columns=["agreement", "p50_ms", "p95_ms", "p99_ms"])
    html = render(fallback_run, graded, "html")
    assert html.count("<svg") == 2
    assert "no latency percentiles" in html and "no agreement was measured" in html


def test_an_interrupted_run_says_so(fallback_run: RunDir) -> None:
    html = render(fallback_run, graded_run(Verdict.PASS, status="interrupted"), "html")
    assert "interrupted before its planned end" in html
    assert "exit code <b>3</b>" in html  # a partial run never passes the gate


def test_a_harness_error_run_shows_error_not_a_judgement(fallback_run: RunDir) -> None:
    graded = graded_run(
        Verdict.ERROR,
        status="harness_error",
        metrics={},
        windows=None,
        checks=[],
        readiness=[],
        reasons=["gateway: exited with code 1"],
    )
    html = render(fallback_run, graded, "html")
    assert 'class="banner v-error"' in html
    assert "says nothing about the systems" in html
    assert "gateway: exited with code 1" in html
    assert "exit code <b>3</b>" in html
