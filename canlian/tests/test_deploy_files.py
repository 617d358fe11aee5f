"""The deployment files in deploy/ are valid: systemd accepts the units (with this checkout standing in for
/srv/canlian), logrotate parses its file, and the environment example names only settings canlian reads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze 不可用 / not installed")
def test_systemd_units_verify(tmp_path):
    env = tmp_path / "canlian.env"
    env.write_text((DEPLOY / "canlian.env.example").read_text())
    for unit in (DEPLOY / "systemd").iterdir():
        text = (
            unit.read_text().replace("/srv/canlian", str(ROOT)).replace("/etc/canlian/canlian.env", str(env))
        )
        (tmp_path / unit.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.iterdir() if p.suffix in (".service", ".timer"))
    assert len(units) == 4
    done = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Unknown key" not in done.stderr and "not executable" not in done.stderr


def test_units_run_canlian_commands_that_exist():
    from canlian.cli import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for unit in (DEPLOY / "systemd").glob("*.service"):
        for line in unit.read_text().splitlines():
            m = re.search(r"\.venv/bin/canlian (\w+)", line)
            if m:
                assert m.group(1) in commands, (unit.name, line)
        assert "UMask=0077" in unit.read_text()


@pytest.mark.skipif(not shutil.which("logrotate"), reason="logrotate 不可用 / not installed")
def test_logrotate_parses(tmp_path):
    done = subprocess.run(
        ["logrotate", "-d", "-s", str(tmp_path / "state"), str(DEPLOY / "logrotate" / "canlian")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower()


def test_environment_example_names_only_known_settings():
    names = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "canlian.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    sources = "".join(p.read_text() for p in (ROOT / "config" / "settings").glob("*.py"))
    sources += (ROOT / "canlian" / "cli.py").read_text()
    for name in names:
        assert name in sources or name.startswith("DJANGO_SETTINGS_MODULE"), name
