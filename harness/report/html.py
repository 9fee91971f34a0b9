"""``report.html``: one self-contained page (inline CSS and SVG, no script, no network).

Rendered from ``reports/templates/report.html.j2`` with autoescape on: any text that came from
the systems under test (error messages, evidence, event messages) shows as text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.report.templating import html_env

if TYPE_CHECKING:
    from harness.report.view import ReportView

__all__ = ["HtmlReport"]


class HtmlReport:
    """``report.html``: verdict banner, charts, check tables, readiness, cost, metadata."""

    key = "html"
    filename = "report.html"
    template = "report.html.j2"

    def render(self, view: ReportView) -> str:
        from markupsafe import Markup

        from harness.report.charts import render_charts

        graded = view.graded
        charts = render_charts(graded.windows, view.faults, view.run_end, graded.scenario)
        svgs = {c.key: Markup(c.svg) if c.svg else None for c in charts}
        return html_env().get_template(self.template).render(v=view, charts=charts, svgs=svgs)
