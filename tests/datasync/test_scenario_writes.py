"""The scenario's ``writes`` section: its defaults, and the cross-field checks that refuse a
fault no link can carry (exit 2, naming the field)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from harness.errors import ScenarioError
from harness.scenario import parse_scenario

BASE: dict[str, Any] = {
    "name": "w",
    "duration": "10s",
    "faults": {"proxies": [{"name": "legacy"}, {"name": "ai"}, {"name": "legacy_db"}]},
}


def scenario(**over: Any) -> str:
    return yaml.safe_dump({**BASE, **over})


def test_defaults_are_the_embedded_sqlite_store() -> None:
    sc = parse_scenario({"name": "w", "duration": "5s", "writes": {"pattern": "dual_write"}})
    w = sc.writes
    assert w is not None
    assert (w.store, w.primary, w.failure_policy, w.reconcile_every) == (
        "sqlite", "ai", "require_both", 2.0,
    )  # fmt: skip
    assert parse_scenario({"name": "r", "duration": "5s"}).writes is None


@pytest.mark.parametrize(
    ("writes", "chaos_target", "field", "words"),
    [
        ({"pattern": "dual_write", "store": "sqlite"}, "legacy_db", "chaos[0].target", "postgres"),
        ({"pattern": "dual_write", "store": "postgres"}, "ai_bus", "chaos[0].target",
         "event_sourced"),
        (None, "legacy_db", "chaos[0].target", "'writes' section"),
    ],
)  # fmt: skip
def test_a_fault_on_a_link_that_does_not_exist_is_refused(
    writes: dict[str, Any] | None, chaos_target: str, field: str, words: str
) -> None:
    proxies = [*BASE["faults"]["proxies"], {"name": "ai_bus"}]
    data = {**BASE, "faults": {"proxies": proxies}}
    if writes is not None:
        data["writes"] = writes
    data["chaos"] = [{"at": "1s", "for": "1s", "target": chaos_target, "action": "down"}]
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, "bad.yaml")
    text = str(err.value)
    assert field in text and words in text, text


def test_validate_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        scenario(
            writes={"pattern": "write_through", "failure_policy": "lose_some"},
        )
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "writes.failure_policy" in err and "require_both" in err and "Traceback" not in err


def test_your_own_database_must_be_on_loopback_unless_allowed() -> None:
    external = {"legacy_dsn": "postgresql://u@10.1.2.3:5432/legacy"}
    data = {**BASE, "writes": {"pattern": "dual_write", "store": "postgres", "external": external}}
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, "ext.yaml")
    assert "writes.external.legacy_dsn" in str(err.value)
    allowed = {**data, "faults": {**BASE["faults"], "allow_non_loopback": True}}
    assert parse_scenario(allowed, "ext.yaml").writes is not None
