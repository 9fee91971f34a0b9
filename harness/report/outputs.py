"""The report outputs: one small interface, one class per format, registered by name.

::

    ReportView ──> ReportOutput.render(view) -> text ──> run_dir / output.filename

========  ==============  =================================================================
key       file            module
========  ==============  =================================================================
html      report.html     :mod:`harness.report.html`
markdown  report.md       :mod:`harness.report.markdown` (also $GITHUB_STEP_SUMMARY)
json      summary.json    :mod:`harness.report.summary` (docs/summary-schema.md)
junit     junit.xml       :mod:`harness.report.junit`
========  ==============  =================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from harness.report.html import HtmlReport
from harness.report.junit import JUnitReport
from harness.report.markdown import MarkdownReport
from harness.report.summary import SummaryJson

if TYPE_CHECKING:
    from harness.report.view import ReportView

__all__ = ["OUTPUTS", "ReportOutput"]


class ReportOutput(Protocol):
    """One report format: a key (``"html"``), the file it writes, and how to render it."""

    key: str
    filename: str

    def render(self, view: ReportView) -> str:
        """The whole file's text for ``view``."""
        ...


#: Every output, in the order they are written (the JSON first: the cheapest and most useful).
OUTPUTS: tuple[ReportOutput, ...] = (SummaryJson(), JUnitReport(), MarkdownReport(), HtmlReport())
