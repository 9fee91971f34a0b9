"""Jinja2 environments for the reports, and how text from the systems under test is neutralised.

Two environments, one per markup:

- HTML: autoescape on. Every ``{{ value }}`` is HTML-escaped unless it is :class:`markupsafe.Markup`
  (only the charts' SVG, which matplotlib wrote with text as paths, is).
- Markdown: every ``{{ value }}`` goes through :func:`md_text` unless it is :class:`Md` (markup
  the renderer built itself). An error message reading ``<script>`` or ``| **x** |`` shows as
  that text in a pull-request comment, not as HTML, a table cell break or bold type.

Templates live in ``reports/templates/`` at the repository root (:func:`template_dir`).
Jinja2 is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import os
import re
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

__all__ = ["TEMPLATE_DIR", "Md", "clean_text", "html_env", "md_env", "md_text", "template_dir"]

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "reports" / "templates"

# Characters XML 1.0 cannot carry at all (escaping does not help): C0 controls but tab/LF/CR,
# lone surrogates and the two non-characters U+FFFE/U+FFFF.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# Markdown (CommonMark + GitHub) punctuation that can start markup; each is backslash-escaped:
# '$' math, '@' mentions, '&' entities, '|' table cell breaks, '[' links... ('<' and '>'
# become entities).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~@&$])")
# GitHub's extended autolinks ("https://...", "www."): break them so that text from a system
# under test cannot put a clickable link in a pull request.
_MD_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(:)(?=//)|(?<=\bwww)(\.)")
MD_CELL_MAX = 300


class Md(str):
    """Markdown the renderer built itself: written as is by the Markdown environment."""

    __slots__ = ()


def template_dir() -> Path:
    """Where the report templates are: ``DUALSYS_TEMPLATES``, else the repository's
    ``reports/templates`` (a source checkout or an editable install), else the copy a wheel
    installs as data files under ``<prefix>/share/dualsys/templates``."""
    override = os.environ.get("DUALSYS_TEMPLATES")
    if override:
        return Path(override)
    if TEMPLATE_DIR.is_dir():
        return TEMPLATE_DIR
    return Path(sys.prefix) / "share" / "dualsys" / "templates"


def clean_text(value: Any, limit: int | None = None) -> str:
    """``value`` as text without the control characters that break XML, HTML or terminals."""
    text = _INVALID_XML.sub("\N{REPLACEMENT CHARACTER}", str(value))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def md_text(value: Any, limit: int | None = MD_CELL_MAX) -> str:
    """Text made inert for Markdown: one line, markup characters escaped, long text shortened.

    ``Md`` values pass unchanged; ``None`` reads ``n/a``.
    """
    if isinstance(value, Md):
        return value
    if value is None:
        return "n/a"
    text = " ".join(clean_text(value).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    text = _MD_SPECIAL.sub(r"\\\1", text)
    # Angle brackets as entities (after '&' was escaped): no "<tag" is left in the file at all.
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return _MD_AUTOLINK.sub(lambda m: "\\" + (m.group(1) or m.group(2)), text)


def _md_finalize(value: Any) -> str:
    return md_text(value)


def _common(env: jinja2.Environment) -> None:
    from harness.report import numbers

    env.filters.update(
        ms=numbers.fmt_ms,
        share=numbers.fmt_share,
        pct=numbers.fmt_pct,
        num=numbers.fmt_num,
        count=numbers.fmt_count,
        money=numbers.fmt_money,
        offset=numbers.fmt_offset,
        unit=numbers.fmt_unit,
        op=numbers.op_symbol,
    )


@cache
def html_env(directory: Path | None = None) -> jinja2.Environment:
    """The HTML environment: autoescape on for every template, strict about undefined names."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory or template_dir())),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    _common(env)
    env.filters["clean"] = clean_text
    return env


@cache
def md_env(directory: Path | None = None) -> jinja2.Environment:
    """The Markdown environment: every expression is escaped by :func:`md_text` unless ``Md``."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory or template_dir())),
        autoescape=False,
        finalize=_md_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    _common(env)
    env.filters["md"] = Md  # trusted markup built in a template: {{ "**x**" | md }}
    env.filters["long"] = lambda v, n=2000: Md(md_text(v, n))
    return env
