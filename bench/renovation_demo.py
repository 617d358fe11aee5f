"""The renovation demo's cost inside ``canlian demo``: the version before the realistic spread (a handful of
households in two towns) against the current one (about 24 households through the workflow in each town
with demo accounts, applications and a roster import in the other twelve), on the same 15,000-person demo
registry.

A registry-only demo database is built once (``canlian demo --registry-only``, SQLite, in ``--base``); each
run copies it and times ``renovation_demo`` in a fresh child process (peak RSS from /proc/self/status
VmHWM), then checks the result against the database (cases written = applications reported; the current
version: every stage present, cases in every town). Prints a table with the median and spread of the runs,
time per case, the ratio, and the load average before and after.

    .venv/bin/python bench/renovation_demo.py                 # 15,000 persons, 3 runs of each
    .venv/bin/python bench/renovation_demo.py --runs 5 --persons 30000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEFORE_REV = "dfb0c9f"  # main before the realistic spread

CHILD = r"""
import importlib.util, json, os, sys, time
sys.path.insert(0, os.environ["CANLIAN_ROOT"])
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
import django
django.setup()
from canlian.casework.models import Case
variant = sys.argv[1]
if variant == "before":
    spec = importlib.util.spec_from_file_location("canlian.casework._renovation_demo_before", sys.argv[2])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
else:
    import canlian.casework.renovation_demo as mod
t = time.perf_counter()
result = mod.renovation_demo(seed=2023)
seconds = time.perf_counter() - t
cases = Case.objects.filter(programme="renovation")
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({
    "seconds": seconds,
    "result": {k: v for k, v in result.items() if k != "stages"},
    "cases": cases.count(),
    "states": sorted(set(cases.values_list("state", flat=True))),
    "towns": cases.values("town_id").distinct().count(),
    "peak_rss_mb": rss / 1024,
}))
"""

EVERY_STAGE = [
    "accepted",
    "applied",
    "approved",
    "in_works",
    "planned",
    "rejected",
    "surveyed",
    "town_reviewed",
    "works_done",
]


def _load() -> str:
    return open("/proc/loadavg").read().split()[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=15000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--base", default="/tmp/canlian-bench-renovation")
    args = ap.parse_args()
    base = Path(args.base) / str(args.persons)
    env = {**os.environ, "CANLIAN_ROOT": str(ROOT), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    if not (base / "canlian.sqlite3").exists():
        base.mkdir(parents=True, exist_ok=True)
        print(f"building the registry-only demo ({args.persons} persons) in {base} …", flush=True)
        subprocess.run(
            [sys.executable, "-m", "canlian.cli", "demo", "--registry-only", "--persons", str(args.persons)],
            env={**env, "CANLIAN_DATA_DIR": str(base)},
            check=True,
            stdout=subprocess.DEVNULL,
        )
    before_src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BEFORE_REV}:canlian/casework/renovation_demo.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    load_before = _load()
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="canlian-bench-reno-") as tmp:
        before_file = Path(tmp) / "renovation_demo_before.py"
        before_file.write_text(before_src)
        for i in range(args.runs):
            for variant in ("before", "after"):
                data = Path(tmp) / f"{variant}-{i}"
                shutil.copytree(base, data)
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, variant, str(before_file)],
                    env={**env, "CANLIAN_DATA_DIR": str(data)},
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                r = json.loads(out.strip().splitlines()[-1])
                assert r["cases"] == r["result"]["applications"], r
                if variant == "after":
                    assert r["states"] == EVERY_STAGE, r["states"]
                    assert r["towns"] == 14, r["towns"]
                runs[variant].append(r)
                shutil.rmtree(data)
    load_after = _load()
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, SQLite; {args.persons} demo persons; {args.runs} runs each"
    )
    print(f"load average (1 min): {load_before} before, {load_after} after\n")
    print(
        "| version | cases | towns | stages | seconds (median) | spread (min–max) | ms per case | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    med = {}
    for variant, rs in runs.items():
        secs = [r["seconds"] for r in rs]
        med[variant] = statistics.median(secs)
        cases = rs[0]["cases"]
        assert all(r["cases"] == cases for r in rs), "not deterministic"
        print(
            f"| {variant} | {cases} | {rs[0]['towns']} | {len(rs[0]['states'])} | {med[variant]:.2f} | "
            f"{min(secs):.2f}–{max(secs):.2f} | {1000 * med[variant] / max(cases, 1):.0f} | "
            f"{max(r['peak_rss_mb'] for r in rs):.0f} |"
        )
    per_case = (med["after"] / runs["after"][0]["cases"]) / (
        med["before"] / max(runs["before"][0]["cases"], 1)
    )
    print(f"\nafter ÷ before: ×{med['after'] / med['before']:.1f} in time, ×{per_case:.2f} per case")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
