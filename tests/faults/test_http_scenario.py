"""The scenario model and the HTTP toxics: known types, checked attributes, and a scenario that
uses them against a real Toxiproxy refused at ``dualsys validate`` (exit 2, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.scenario.faults import TOXIPROXY_ENV, ToxicSpec
from tests.conftest import REPO

EMBEDDED = """\
version: 1
name: http_faults
duration: 30s
chaos:
  - at: 5s
    for: 10s
    target: ai
    toxic: {type: http_status, attributes: {status: 429, retry_after: 2, probability: 0.2}}
"""


def validate(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    environ = {k: v for k, v in os.environ.items() if k != TOXIPROXY_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "validate", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **(env or {})},
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_an_http_toxic_validates_with_the_embedded_proxy(tmp_path: Path) -> None:
    code, out = validate(tmp_path, EMBEDDED)
    assert code == 0, out


def test_an_http_toxic_is_refused_against_a_real_toxiproxy(tmp_path: Path) -> None:
    text = EMBEDDED.replace("chaos:", "faults:\n  toxiproxy_url: http://127.0.0.1:8474\nchaos:")
    code, out = validate(tmp_path, text)
    assert code == 2, out
    assert "chaos[0].toxic.type" in out
    assert "has no HTTP toxics" in out and "faults.server: dualsys" in out
    assert "Traceback" not in out


def test_a_url_marked_as_a_dualsys_fault_proxy_takes_http_toxics(tmp_path: Path) -> None:
    faults = "faults:\n  toxiproxy_url: http://127.0.0.1:8474\n  server: dualsys\nchaos:"
    code, out = validate(tmp_path, EMBEDDED.replace("chaos:", faults))
    assert code == 0, out


def test_the_environment_url_counts_as_a_real_toxiproxy_too(tmp_path: Path) -> None:
    code, out = validate(tmp_path, EMBEDDED, {TOXIPROXY_ENV: "http://127.0.0.1:8474"})
    assert code == 2, out
    assert "TOXIPROXY_URL (environment)" in out and "has no HTTP toxics" in out


@pytest.mark.parametrize(
    ("toxic", "words"),
    [
        ({"type": "http_status", "stream": "upstream"}, "runs on the downstream stream"),
        ({"type": "http_status", "attributes": {"status": 204}}, "200 to 599"),
        ({"type": "http_status", "attributes": {"probability": 1.5}}, "between 0 and 1"),
        ({"type": "http_status", "attributes": {"body": 3}}, "must be a text"),
        ({"type": "http_delay", "attributes": {"delay": "1s"}}, "must be a whole number"),
        ({"type": "http_truncate", "attributes": {"lines": 2}}, "no attribute 'lines'"),
        ({"type": "slicer", "attributes": {"average_size": 4, "size_variation": 5}}, "<="),
    ],
)
def test_toxic_attributes_are_checked(toxic: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        ToxicSpec.model_validate(toxic)


def test_http_delay_runs_either_way_and_attributes_reach_the_api() -> None:
    spec = ToxicSpec.model_validate(
        {"type": "http_delay", "stream": "upstream", "attributes": {"delay": 300}}
    )
    assert spec.api_body()["attributes"] == {
        "probability": 1.0,
        "first_requests": 0,
        "delay": 300,
        "jitter": 0,
    }
