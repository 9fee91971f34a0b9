"""Loading: read and validate a scenario file, with messages that name the field path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import ScenarioError
from harness.scenario.model import Scenario, _Problems
from harness.scenario.values import printable
from harness.scenario.yamlread import read_yaml


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue
        else:
            out += ("." if out else "") + printable(str(part))
    return out or "(top level)"


MAX_PROBLEMS = 20
"""Problems listed at most; the rest are counted (a file of 100,000 typos is one screen)."""


def _capped(problems: list[str]) -> list[str]:
    """The first :data:`MAX_PROBLEMS` problems, then one line counting the rest."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], f"... and {rest} more problem{'s' if rest > 1 else ''}"]


def _messages(err: ValidationError) -> list[str]:
    """One located line per problem of ``err``, at most :data:`MAX_PROBLEMS` (then a count)."""
    problems: list[str] = []
    for e in err.errors(include_url=False):
        loc = _location(tuple(e["loc"]))
        ctx_err = (e.get("ctx") or {}).get("error")
        if isinstance(ctx_err, _Problems):
            prefix = "" if loc == "(top level)" else loc + "."
            problems.extend(f"{prefix}{where}: {msg}" for where, msg in ctx_err.problems)
            continue
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling and where it is nested)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"] == "literal_error" or e["type"].endswith(("_type", "_parsing")):
            msg = f"{msg}, got {printable(repr(e.get('input')), 80)}"
        problems.append(f"{loc}: {msg}")
    return _capped(problems)


def _locustfile_problems(scenario: Scenario) -> list[str]:
    """``load.locustfile`` must be a file. Relative to the current directory, as the load
    side resolves it (:func:`harness.load.users.load_locustfile`, the workers)."""
    name = scenario.load.locustfile
    if name is None:
        return []
    path = Path(name)
    if path.is_file():
        return []
    what = "is a directory" if path.is_dir() else "does not exist"
    where = "" if path.is_absolute() else f" (relative to the current directory {Path.cwd()})"
    return [
        f"load.locustfile: {printable(name, 200)!r} {what}{where}; expected a locustfile "
        "(a Python file defining a locust User class)"
    ]


def parse_scenario(
    data: Any, source: str = "<scenario>", *, scenario_dir: str | None = None
) -> Scenario:
    """Validate already-parsed YAML data; raise :class:`ScenarioError` naming ``source``.
    ``scenario_dir``: the folder relative paths in it (``load.dataset.path``) start from."""
    if not isinstance(data, dict):
        raise ScenarioError(
            source, ["(top level): expected a mapping of fields (name, duration, ...)"]
        )
    try:
        context = {"scenario_dir": scenario_dir} if scenario_dir else None
        return Scenario.model_validate(data, context=context)
    except ValidationError as err:
        raise ScenarioError(source, _messages(err)) from None


def load_scenario(
    path: str | Path,
    *,
    duration_scale: float | None = None,
    duration: float | None = None,
) -> Scenario:
    """Read, validate and optionally rescale a scenario file.

    ``duration_scale`` multiplies every time in the run; ``duration`` instead rescales the run to
    that length (event times move with it). Either raises :class:`ScenarioError` on bad input.
    """
    source = str(path)
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(source, ["(file): no such scenario file"])
    data = read_yaml(p, source)
    scenario = parse_scenario(data, source, scenario_dir=str(p.resolve().parent))
    problems = [*_locustfile_problems(scenario), *scenario.faults.environment_problems()]
    if scenario.load.dataset is not None:
        problems += scenario.load.dataset.problems()
    if problems:
        raise ScenarioError(source, problems)
    if duration is not None:
        if duration <= 0:
            raise ScenarioError(source, ["--duration: expected a positive duration"])
        duration_scale = duration / scenario.duration
    if duration_scale is not None:
        if duration_scale <= 0:
            raise ScenarioError(source, ["--duration-scale: expected a positive number"])
        try:
            scenario = scenario.scaled(duration_scale)
        except ValidationError as err:
            raise ScenarioError(source, _messages(err)) from None
    return scenario
