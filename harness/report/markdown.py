"""``report.md``: the run's summary for a pull-request comment or a CI job summary.

Rendered from ``reports/templates/report.md.j2`` by the Markdown environment, which escapes every
value (see :mod:`harness.report.templating`): text from the systems under test cannot inject
HTML, links, mentions or table breaks. Kept well under GitHub's 65,536-character comment limit:
passing checks are counted, not listed one by one, past :data:`LIST_MAX`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.report.templating import md_env

if TYPE_CHECKING:
    from harness.report.view import ReportView

__all__ = ["LIST_MAX", "VERDICT_ICONS", "MarkdownReport"]

LIST_MAX = 40
VERDICT_ICONS = {
    "PASS": "✅",
    "WARN": "⚠️",
    "INCONCLUSIVE": "❔",
    "FAIL": "❌",
    "ROLLBACK": "⏪",
    "ERROR": "🛠️",
}


class MarkdownReport:
    """``report.md``: verdict, key figures per system, failed checks, faults, check tables."""

    key = "markdown"
    filename = "report.md"
    template = "report.md.j2"

    def render(self, view: ReportView) -> str:
        return (
            md_env()
            .get_template(self.template)
            .render(
                v=view,
                icon=VERDICT_ICONS.get(view.verdict.value, ""),
                icons=VERDICT_ICONS,
                list_max=LIST_MAX,
            )
        )
