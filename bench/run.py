"""Run every benchmark in ``bench/``: each ``bench/<name>.py`` that defines ``main()``.

    .venv/bin/python bench/run.py                    # all of them
    .venv/bin/python bench/run.py search_persons     # only the named ones

Each module runs in its own Python process (each points Django at its own database), with ``main()`` called
without arguments, so every benchmark runs with its defaults. Exit status: 0 when every benchmark returned 0.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_RUNNER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location({name!r}, {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules[{name!r}] = module
spec.loader.exec_module(module)
sys.exit(int(module.main() or 0))
"""


def discover() -> list[Path]:
    """``bench/*.py`` modules (not this runner, not ``_private`` ones) with a top-level ``main``."""
    found = []
    for path in sorted(HERE.glob("*.py")):
        if path.name == Path(__file__).name or path.name.startswith("_"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        if any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body):
            found.append(path)
    return found


def main(argv: list[str] | None = None) -> int:
    wanted = set(argv if argv is not None else sys.argv[1:])
    modules = [p for p in discover() if not wanted or p.stem in wanted]
    unknown = wanted - {p.stem for p in discover()}
    if unknown:
        print(f"未找到基准测试 / unknown benchmark: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    failed = []
    for path in modules:
        print(f"\n===== bench/{path.name} =====", flush=True)
        started = time.perf_counter()
        code = _RUNNER.format(name=f"bench_{path.stem}", path=str(path))
        rc = subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode
        print(f"===== bench/{path.name}: exit {rc}, {time.perf_counter() - started:.0f} s =====", flush=True)
        if rc:
            failed.append(path.stem)
    if failed:
        print(f"\n未通过 / failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
