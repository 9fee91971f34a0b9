"""The dualsys command: exit codes, messages, no tracebacks for user mistakes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main, resolve_scenario_path
from tests.conftest import REPO


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "default"]) == 0
    assert "ok: 'default'" in capsys.readouterr().out


def test_validate_bad_file_exit_2_names_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nduration: 10s\nchaos:\n  - {at: 20s, target: ai, action: down}\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "chaos[0].at" in err and "before the end of the run" in err
    assert "Traceback" not in err


def test_bad_usage_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["validate", "default", "--duration", "soon"])
    assert info.value.code == 2
    assert "expected a duration" in capsys.readouterr().err


def test_help_has_example_on_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ["run", "validate", "list", "report", "compare", "serve", "proxy", "worker"]:
        with pytest.raises(SystemExit) as info:
            main([cmd, "--help"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert "example:" in out and f"dualsys {cmd}" in out, cmd


def test_list_shows_shipped_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("") and "default" in out and "INVALID" not in out


def test_list_flags_invalid_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.yaml").write_text("name: good\nduration: 5s\ndescription: fine\n")
    (tmp_path / "bad.yaml").write_text("name: bad\nduration: 5s\nload: {users: -1}\n")
    assert main(["list", "--dir", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "good  fine" in out and "bad   INVALID: load.users" in out


def test_report_on_non_run_dir_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_shipped_name_resolves() -> None:
    assert resolve_scenario_path("default") == REPO / "scenarios" / "default.yaml"
    assert resolve_scenario_path("x/y.yaml") == Path("x/y.yaml")


def test_console_script_no_traceback(tmp_path: Path) -> None:
    """The installed entry point, in a fresh process: exit 2 and a one-screen message."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nduration: 10s\nload: {shape: wobble}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "load.shape" in proc.stderr and "Traceback" not in proc.stderr


def test_flags_that_would_be_ignored_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # --workers starts local workers, --master waits for remote ones: never both, silently.
    assert main(["run", "default", "--master", "--workers", "2"]) == 2
    assert "--workers" in capsys.readouterr().err
    # serve applies no faults and runs until stopped: a duration would mean nothing.
    with pytest.raises(SystemExit) as info:
        main(["serve", "default", "--duration", "5s"])
    assert info.value.code == 2
    assert "unrecognized arguments: --duration" in capsys.readouterr().err


def test_dualsys_help_starts_without_heavy_imports() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from harness.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "heavy = {'locust', 'gevent', 'pandas', 'jinja2', 'matplotlib', 'httpx', 'pydantic',\n"
        "         'yaml'}\n"
        "heavy &= set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", out


def _external(tmp_path: Path, extra: str, admin: bool = False) -> Path:
    path = tmp_path / "external.yaml"
    admin_line = "    admin_url: http://127.0.0.1:8081\n" if admin else ""
    path.write_text(
        "name: ext\nduration: 10s\n"
        "stack:\n  mode: external\n  external:\n    gateway_url: http://127.0.0.1:8080\n"
        + admin_line
        + "faults: {proxies: []}\n"
        + extra,
        encoding="utf-8",
    )
    return path


def test_validate_refuses_admin_features_without_admin_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kill = "grading: {rollback: {auto_kill_switch: true}}\n"
    changes = "load: {gateway_changes: [{at: 2s, set: {ai_share: 0.5}}]}\n"
    # Found by validate, before anything runs (it once failed mid-run, when first needed).
    assert main(["validate", str(_external(tmp_path, kill))]) == 2
    err = capsys.readouterr().err
    assert "grading.rollback.auto_kill_switch" in err and "stack.external.admin_url" in err
    assert main(["validate", str(_external(tmp_path, changes))]) == 2
    err = capsys.readouterr().err
    assert "load.gateway_changes" in err and "stack.external.admin_url" in err
    # With an admin API both are fine; so is the embedded stack (its gateway has one).
    assert main(["validate", str(_external(tmp_path, kill, admin=True))]) == 0
    assert main(["validate", str(_external(tmp_path, changes, admin=True))]) == 0
    embedded = tmp_path / "embedded.yaml"
    embedded.write_text("name: emb\nduration: 10s\n" + kill, encoding="utf-8")
    assert main(["validate", str(embedded)]) == 0


def test_run_flags_of_the_preflight_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "--preflight-only" in out and "--no-route-check" in out
