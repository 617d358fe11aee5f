"""Helpers for benchmarks that measure in child processes (one fresh process per measurement, so its peak
RSS is that measurement's): Django set up on the dev settings, and running a child that prints
``RESULT {json}``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def django_setup_dev() -> None:
    """Django on the dev settings (the embedded default, or ``DATABASE_URL``), the database migrated."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    import django

    django.setup()
    from canlian.cli import ensure_database

    ensure_database()


def child_result(script: str, args: list[str], *, env: dict, cwd: Path, what: str = "") -> dict:
    """Run ``python script *args`` and return the JSON of its ``RESULT`` line; exit with its output if none."""
    out = subprocess.run(
        [sys.executable, script, *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"child failed ({what or ' '.join(args)}):\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}")
