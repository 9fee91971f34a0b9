"""The seams docs/architecture.md promises, checked on the code: the direction of imports, the
one place of the exit codes, and that every module the document names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO

HARNESS = REPO / "harness"
DOC = REPO / "docs" / "architecture.md"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any level (TYPE_CHECKING and function bodies too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _package(name: str) -> list[Path]:
    return sorted((HARNESS / name).rglob("*.py"))


def test_the_load_side_never_grades_or_renders() -> None:
    for path in _package("load"):
        bad = {m for m in _imports(path) if m.startswith(("harness.report", "harness.grading"))}
        assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


def test_the_run_orchestrator_is_locust_free() -> None:
    for path in _package("run"):
        bad = {m for m in _imports(path) if m.split(".")[0] in ("locust", "gevent")}
        bad |= {m for m in _imports(path) if m in ("harness.load.engine", "harness.load.users")}
        assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


def test_exit_codes_are_defined_in_one_module() -> None:
    """Only harness/verdict.py binds an EXIT_* name or compares a verdict to choose a code."""
    owner = HARNESS / "verdict.py"
    for path in HARNESS.rglob("*.py"):
        if path == owner:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    name = getattr(target, "id", "")
                    assert not name.startswith("EXIT_"), f"{path.relative_to(REPO)} binds {name}"
    text = DOC.read_text(encoding="utf-8")
    assert "harness.verdict.gate_exit_code" in text
    assert "def gate_exit_code(" in owner.read_text(encoding="utf-8")


def test_every_module_the_architecture_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    names = set(re.findall(r"`(harness(?:\.[a-z_]+)+)", text))
    paths = set(re.findall(r"`(harness/[a-z_/]+\.py)`", text))
    assert names and paths
    for dotted in sorted(names):
        parts = dotted.split(".")
        # the longest prefix that is a module or package; the rest are names inside it
        for i in range(len(parts), 0, -1):
            base = REPO.joinpath(*parts[:i])
            if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
                break
        else:
            raise AssertionError(f"docs/architecture.md names {dotted}: no such module")
    for rel in sorted(paths):
        assert (REPO / rel).is_file(), f"docs/architecture.md names {rel}: no such file"
