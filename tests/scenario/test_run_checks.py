"""What `validate` checks so that `run` never starts a stack it must refuse: the locustfile,
TOXIPROXY_URL from the environment; and the timeline warnings it prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ScenarioError
from harness.scenario import load_scenario, parse_scenario, timeline_warnings

HEAD = "name: t\nduration: 60s\n"


def test_missing_locustfile_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(HEAD + "load: {locustfile: nope.py}\n")
    assert main(["validate", "s.yaml"]) == 2
    err = capsys.readouterr().err
    assert "load.locustfile: 'nope.py' does not exist" in err and str(tmp_path) in err


def test_locustfile_directory_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lf").mkdir()
    (tmp_path / "s.yaml").write_text(HEAD + "load: {locustfile: lf}\n")
    with pytest.raises(ScenarioError, match=r"load\.locustfile: 'lf' is a directory"):
        load_scenario("s.yaml")


def test_locustfile_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the load side opens it (harness.load.users.load_locustfile: Path(name))."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "lf.py").write_text("")
    (tmp_path / "sub" / "s.yaml").write_text(HEAD + "load: {locustfile: lf.py}\n")
    monkeypatch.chdir(tmp_path)
    assert load_scenario("sub/s.yaml").load.locustfile == "lf.py"
    monkeypatch.chdir(tmp_path / "sub")
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario("s.yaml")


@pytest.mark.parametrize("url", ["http://10.1.2.3:8474", "http://example.com:8474"])
def test_remote_toxiproxy_url_from_environment_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", url)
    path = tmp_path / "s.yaml"
    path.write_text(HEAD)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"TOXIPROXY_URL (environment): {url!r} is not a loopback address" in err
    assert "faults.allow_non_loopback" in err
    # The run's own entry point refuses it too, not only validate.
    with pytest.raises(ScenarioError, match="TOXIPROXY_URL"):
        parse_scenario({"name": "t", "duration": 5}).faults.effective_url()


def test_environment_url_opt_out_and_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", "http://10.1.2.3:8474")
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "faults: {allow_non_loopback: true}\n")
    assert load_scenario(path).faults.effective_url() == "http://10.1.2.3:8474"
    monkeypatch.setenv("TOXIPROXY_URL", "http://127.0.0.1:8474")
    path.write_text(HEAD)
    assert load_scenario(path).faults.effective_url() == "http://127.0.0.1:8474"


def chaos(*events: str, window: str = "5s") -> str:
    lines = "".join(f"  - {{{e}, action: down}}\n" for e in events)
    return HEAD + f"grading: {{window: {window}}}\nchaos:\n{lines}"


def test_faults_closer_than_the_window_warn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        chaos(
            "at: 10s, for: 10s, target: ai",
            "at: 23s, for: 5s, target: ai",  # 3 s after the first ends: too close
            "at: 22s, for: 5s, target: legacy",  # another target: fine
            "at: 33s, for: 5s, target: ai",  # 5 s after the second: fine
        )
    )
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert "ok: 't'" in captured.out
    (warning,) = captured.err.splitlines()
    assert warning.startswith(f"dualsys: warning: {path}: chaos[1]: on target 'ai'")
    assert "starts 3s after chaos[0] ends (20s), less than grading.window (5s)" in warning


def test_overlapping_and_open_ended_faults_warn() -> None:
    sc = parse_scenario(
        {
            "name": "t",
            "duration": "60s",
            "chaos": [
                {"at": "10s", "target": "ai", "action": "down"},  # lasts to the end
                {"at": "30s", "for": "5s", "target": "ai", "action": "down"},
            ],
        }
    )
    (warning,) = timeline_warnings(sc)
    assert warning.startswith("chaos[1]: on target 'ai' it starts at 30s while chaos[0]")


def test_well_spaced_faults_do_not_warn() -> None:
    sc = parse_scenario(
        {
            "name": "t",
            "duration": "60s",
            "grading": {"window": "5s"},
            "chaos": [
                {"at": "10s", "for": "10s", "target": "ai", "action": "down"},
                {"at": "25s", "for": "5s", "target": "ai", "action": "down"},
            ],
        }
    )
    assert timeline_warnings(sc) == []
