"""Benchmark: the person export of 15,000 persons through the web, before and after exports became background
jobs (issue 10 §5: "a 15,000-row export takes 12.7 s with no feedback").

    .venv/bin/python bench/export_persons.py                               # 15,000 persons, 3 runs each
    .venv/bin/python bench/export_persons.py --baseline-src /path/to/old/checkout --runs 5

One SQLite database in a temporary data folder is loaded once (``canlian demo --registry-only``); then every
run is a fresh child process (so its peak RSS is one export's), the two sides alternating:

* **after** (this checkout): POST ``/registry/persons/export/`` → redirect → the job page rendered: the
  *first feedback*; then the task worker (``db_worker --batch``, the same code ``canlian serve`` runs, in
  the same process here) builds the file; then the download. *Total* = POST to the last byte downloaded
  (the page's 1 s htmx poll and the worker's 0.5 s queue poll are not counted: they add up to ~1.5 s).
* **before** (``--baseline-src``, a checkout of the code before the change, e.g. ``git worktree add
  /tmp/before 76d0fee``): GET ``/registry/persons/export/``, which wrote the whole file inside the request:
  the first byte the browser gets *is* the whole file, so first feedback = total. Without
  ``--baseline-src`` the "before" side is not run.

Each run checks its file: 15,000 data rows whose (name, masked ID number) pairs are exactly the database's.
Prints a table (median and spread), the load average before and after, and the machine.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = Path(os.environ.get("CANLIAN_BENCH_SRC", ROOT))
sys.path.insert(0, str(SRC))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import child_result, django_setup_dev  # noqa: E402  (bench/ is the script's folder)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_load(persons: int) -> None:
    django_setup_dev()
    from canlian.demo import demo_all

    assert demo_all(persons=persons, seed=2023, registry_only=True) == 0
    print("RESULT {}")


def _check(data: bytes) -> int:
    """The file's (name, masked ID) pairs are exactly the database's; returns the data rows."""
    from python_calamine import CalamineWorkbook

    from canlian.common.masking import mask_id_number
    from canlian.registry.models import Person

    rows = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name("残疾人名单").to_python()
    got = sorted((r[0], r[1]) for r in rows[1:])
    want = sorted((p.name, mask_id_number(p.id_number)) for p in Person.objects.all())
    assert got == want, "the exported rows differ from the database"
    return len(got)


def child_run(side: str) -> None:
    django_setup_dev()
    from django.conf import settings
    from django.test import Client

    from canlian.accounts.models import User

    settings.CANLIAN_SECOND_FACTOR_REQUIRED = False  # the bench signs in with force_login, as the tests do
    user = User.objects.filter(role="district_staff", is_active=True).order_by("pk").first()
    User.objects.filter(pk=user.pk).update(must_change_password=False)
    user.refresh_from_db()
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    warm = client.get("/registry/persons/")  # warm: templates, URL resolver, first queries
    assert warm.status_code == 200, (warm.status_code, warm.get("Location"))
    base_rss = _rss_mb()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if side == "before":
        response = client.get("/registry/persons/export/")
        assert response.status_code == 200, response.status_code
        data = b"".join(response.streaming_content)
        first = total = time.perf_counter() - t0
        worker = 0.0
    else:
        from django.core.management import call_command

        start = client.post("/registry/persons/export/")
        assert start.status_code == 302, start.status_code
        page = client.get(start.url)
        assert page.status_code == 200 and "导出" in page.content.decode()
        first = time.perf_counter() - t0
        w0 = time.perf_counter()
        call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)
        worker = time.perf_counter() - w0
        page = client.get(start.url).content.decode()
        assert "导出完成" in page, page[-2000:]
        download = client.get(start.url + "download/")
        assert download.status_code == 200
        data = b"".join(download.streaming_content)
        total = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    rows = _check(data)
    print(
        "RESULT "
        + json.dumps(
            {
                "first_s": round(first, 3),
                "total_s": round(total, 2),
                "worker_s": round(worker, 2),
                "cpu_s": round(cpu, 2),
                "peak_mb": round(_rss_mb(), 1),
                "base_mb": round(base_rss, 1),
                "rows": rows,
                "bytes": len(data),
            }
        )
    )


def _run(args: list[str], env: dict, src: Path) -> dict:
    return child_result(__file__, args, env={**env, "CANLIAN_BENCH_SRC": str(src)}, cwd=src)


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--persons", type=int, default=int(os.environ.get("CANLIAN_BENCH_EXPORT_PERSONS", 15000))
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-src", help="a checkout of the code before exports ran as jobs")
    parser.add_argument("--child", choices=["load", "before", "after"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "load":
        child_load(args.persons)
        return 0
    if args.child:
        child_run(args.child)
        return 0

    data_dir = tempfile.mkdtemp(prefix="canlian-bench-export-")
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.update(
        CANLIAN_DATA_DIR=data_dir,
        CANLIAN_KEYS_DIR=data_dir + "-keys",
        CANLIAN_ENCRYPTION_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        CANLIAN_INDEX_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
    )
    try:
        t0 = time.perf_counter()
        _run(["--child", "load", "--persons", str(args.persons)], env, ROOT)
        print(f"loaded {args.persons} persons in {time.perf_counter() - t0:.1f} s")
        sides = [("after", ROOT)] + ([("before", Path(args.baseline_src))] if args.baseline_src else [])
        results: dict[str, list[dict]] = {side: [] for side, _ in sides}
        load_before = os.getloadavg()
        for _ in range(args.runs):
            for side, src in sides:
                result = _run(["--child", side], env, src)
                results[side].append(result)
                print(side, result, flush=True)
        load_after = os.getloadavg()
    finally:
        subprocess.run(["rm", "-rf", data_dir, data_dir + "-keys"], check=False)

    print(f"\n{args.persons} persons, {args.runs} runs per side; median (min–max)")
    print("| side | first feedback s | total s | worker s | CPU s | peak RSS MB | rows checked |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for side, _ in sides:
        rs = results[side]
        print(
            f"| {side} | {_spread([r['first_s'] for r in rs])} | {_spread([r['total_s'] for r in rs])} | "
            f"{_spread([r['worker_s'] for r in rs])} | {_spread([r['cpu_s'] for r in rs])} | "
            f"{statistics.median(r['peak_mb'] for r in rs):.0f} | {rs[0]['rows']} |"
        )
    if "before" in results:
        b = statistics.median(r["first_s"] for r in results["before"])
        a = statistics.median(r["first_s"] for r in results["after"])
        bt = statistics.median(r["total_s"] for r in results["before"])
        at = statistics.median(r["total_s"] for r in results["after"])
        print(f"\nfirst feedback: before/after = {b / a:.0f}×; total: after/before = {at / bt:.2f}")
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}; {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
