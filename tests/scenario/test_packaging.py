"""The wheel ships every scenario, and `dualsys list` works from the wheel alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO

# What the Dockerfile copies before `pip install .`: the build must need nothing else.
BUILD_INPUTS = ["pyproject.toml", "setup.py", "README.md", "harness", "scenarios", "reports"]


def test_wheel_ships_every_scenario_and_list_works_from_it(tmp_path: Path) -> None:
    # A clean copy: setuptools reuses build/ in the tree it builds, which could hide a
    # missing mapping behind files left by an earlier build.
    src = tmp_path / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(REPO / name, src / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, src / name)
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(out)],
        cwd=src,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = out.glob("dualsys-*.whl")
    shipped = sorted(p.name for p in (REPO / "scenarios").glob("*.yaml"))
    assert shipped, "no scenarios in the source tree"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        inside = sorted(Path(n).name for n in names if n.startswith("harness/shipped_scenarios/"))
        assert inside == shipped
        templates = sorted(p.name for p in (REPO / "reports" / "templates").iterdir())
        packaged = sorted(Path(n).name for n in names if n.startswith("harness/report_templates/"))
        assert packaged == templates
        site = tmp_path / "site"
        zf.extractall(site)
    # Run from the unpacked wheel alone: the source tree is neither the cwd nor on the path.
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import harness, sys; from harness.cli import main; "
        "print(harness.__file__); sys.exit(main(['list']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    first, *rows = proc.stdout.splitlines()
    assert Path(first).is_relative_to(site)
    listed = sorted(row.split()[0] + ".yaml" for row in rows)
    assert listed == shipped
    assert "INVALID" not in proc.stdout
    # ... and a shipped scenario by name.
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "validate", "fallback_ai_outage"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ok: 'fallback_ai_outage'" in proc.stdout
