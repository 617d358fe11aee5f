"""我的待办 at district scale on PostgreSQL: the worklist page and the navigation badge through HTTP.

Same database as ``bench/indicators.py`` (``bench/_services_data.py``: 1,000,000 persons, ~3,000,000 service
records, with each bench user's worklist known: how many items, how many overdue, the earliest due dates).
Django's test ``Client``, logged in as a town clerk, a district reviewer and an institution's staff, requests
``/services/worklist/`` and the badge fragment ``--requests`` times each (view + template + middleware +
session), after a few warm-up requests. Prints p50 / p95 / max in ms. Every response is checked against the
truth: the totals on the page and in the badge, and the due dates of the rows listed (the earliest ones).

Side by side: the worklist as it was before it counted in the database (``git show`` of the module at
``--before``, loaded beside the current one): its badge count and its page list for the same users, timed
over a few calls.

    .venv/bin/python bench/worklist.py                     # 1,000,000 persons, 200 requests per case
    .venv/bin/python bench/worklist.py --reuse --keep      # reuse the database kept by bench/indicators.py

The database is dropped at the end unless ``--keep``. Target: p95 ≤ 100 ms for every page and badge.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import _services_data as data  # noqa: E402

TARGET_MS = 100.0
BEFORE = "dfb0c9f"  # main before the worklist counted in the database


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Worklist page and badge through HTTP (PostgreSQL)")
    p.add_argument("--persons", type=int, default=int(os.environ.get("CANLIAN_BENCH_PERSONS", 1_000_000)))
    p.add_argument("--records", type=int, default=int(os.environ.get("CANLIAN_BENCH_RECORDS", 3_000_000)))
    p.add_argument("--requests", type=int, default=int(os.environ.get("CANLIAN_BENCH_RUNS", 200)))
    p.add_argument("--before-calls", type=int, default=3, help="calls of the old worklist per user")
    p.add_argument("--before", default=BEFORE, help="git revision of the old worklist module")
    p.add_argument("--before-timeout", type=int, default=120, help="seconds before an old call is stopped")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument(
        "--explain",
        action="store_true",
        help="EXPLAIN ANALYZE every query of one page and one badge per user",
    )
    data.add_db_arguments(p)
    return p


def _moved_at() -> None:
    """A case's (a settlement's) ``updated_at`` is when its last move was made (the loader writes the rows at
    once)."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from canlian.casework.models import Case, Settlement

    with connection.cursor() as cur:
        for model in (Case, Settlement):
            table = model._meta.db_table
            cur.execute(
                f"UPDATE {table} c SET updated_at = h.at FROM (SELECT object_id::bigint AS id, max(at) AS at "
                "FROM common_workflowhistory WHERE content_type_id = %s GROUP BY object_id) h WHERE c.id = h.id",
                [ContentType.objects.get_for_model(model).pk],
            )
            cur.execute(f"VACUUM ANALYZE {table}")


def _old_module(rev: str):
    """The worklist module at ``rev``, loaded as ``canlian.casework._worklist_before`` (relative imports)."""
    import importlib.util

    source = subprocess.run(
        ["git", "show", f"{rev}:canlian/casework/worklist.py"], cwd=ROOT, capture_output=True, text=True
    )
    if source.returncode:
        return None
    spec = importlib.util.spec_from_loader("canlian.casework._worklist_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "canlian.casework"
    sys.modules[spec.name] = module
    exec(compile(source.stdout, f"{rev}:worklist.py", "exec"), module.__dict__)
    return module


PAGE_TOTAL = re.compile(r'<strong id="total-count">(\d+)</strong>')
PAGE_OVERDUE = re.compile(r'<strong id="overdue-count">(\d+)</strong>')
ROW_DUE = re.compile(r'<tr(?: class="table-danger")?><td>(\d{4}-\d{2}-\d{2})</td>')
BADGE = re.compile(r'aria-label="(\d+) 项待办">')


def _check_page(html: str, want: dict) -> list[str]:
    wrong = []
    total, overdue = PAGE_TOTAL.search(html), PAGE_OVERDUE.search(html)
    if not total or int(total.group(1)) != want["count"]:
        wrong.append(f"total {total and total.group(1)} ≠ {want['count']}")
    if not overdue or int(overdue.group(1)) != want["overdue"]:
        wrong.append(f"overdue {overdue and overdue.group(1)} ≠ {want['overdue']}")
    from canlian.casework.worklist import PAGE_SIZE

    dues = ROW_DUE.findall(html)
    expected = want["first_due"][: min(want["count"], PAGE_SIZE)]
    if dues != expected:
        wrong.append(f"rows' due dates differ (first shown {dues[:3]}, expected {expected[:3]})")
    return wrong


def _check_badge(html: str, want: dict) -> list[str]:
    m = BADGE.search(html)
    got = int(m.group(1)) if m else 0
    return [] if got == want["count"] else [f"badge {got} ≠ {want['count']}"]


def _pcts(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {
        "p50": statistics.median(ms),
        "p95": ms[min(len(ms) - 1, round(0.95 * len(ms)) - 1)],
        "max": ms[-1],
        "n": len(ms),
    }


def _signed_in(user):
    """A test client signed in as ``user``, with the second factor verified when the role needs one (district
    staff): a confirmed TOTP device in the session, as after ``accounts:otp_verify``."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from canlian.accounts import services

    client = Client()
    client.force_login(user)
    if services.needs_second_factor(user):
        device, _ = TOTPDevice.objects.get_or_create(user=user, name="基准", defaults={"confirmed": True})
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


class _Counter:
    """A ``connection.execute_wrapper`` that counts the queries (``sql`` keeps them when asked)."""

    def __init__(self, keep: bool = False):
        self.n, self.keep, self.sql = 0, keep, []

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        if self.keep:
            self.sql.append((sql, params))
        return execute(sql, params, many, context)


def _explain(client, url: str, what: str) -> None:
    """EXPLAIN ANALYZE every read of one request: the database time per query, slowest first, and the
    sequential scans."""
    from django.db import connection

    captured = _Counter(keep=True)
    with connection.execute_wrapper(captured):
        client.get(url)
    found = []
    with connection.cursor() as cur:
        for sql, params in captured.sql:
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            plan = cur.fetchone()[0]
            plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]
            seq = []

            def walk(node, seq=seq):
                if (
                    node.get("Node Type") == "Seq Scan"
                    and node.get("Actual Rows", 0) * node.get("Actual Loops", 1) > 1000
                ):
                    seq.append(f"{node['Relation Name']}×{node['Actual Rows'] * node.get('Actual Loops', 1)}")
                for child in node.get("Plans", ()):
                    walk(child)

            walk(plan["Plan"])
            found.append((plan["Execution Time"] + plan.get("Planning Time", 0), sql, seq))
    total = sum(t for t, _s, _q in found)
    print(
        f"  explain {what}: {len(captured.sql)} queries, {total:.1f} ms in PostgreSQL (planning + execution)"
    )
    for t, sql, seq in sorted(found, reverse=True)[:6]:
        print(f"    {t:7.1f} ms {' seq scan ' + ', '.join(seq) if seq else ''}  {sql[:160]}")


def _before_child(args, key: str, name: str) -> tuple[float | None, int | None]:
    """Median ms of the old worklist's ``name`` for bench user ``key`` in a child process, stopped after
    ``--before-timeout`` seconds (the old badge read every waiting case and its history into Python)."""
    code = "\n".join(
        (
            "import sys, time, statistics",
            f"sys.path[:0] = [{str(ROOT)!r}, {str(HERE)!r}]",
            "import _services_data as d",
            f"d.setup_django({args.db!r})",
            "import worklist as w",
            "from django.utils import timezone",
            f"old = w._old_module({args.before!r}); u = d.bench_users()[{key!r}]; today = timezone.localdate()",
            "ms = []",
            f"for _ in range({args.before_calls}):",
            "    t = time.perf_counter()",
            f"    r = old.worklist_count(u, today=today) if {name!r} == 'badge count' else old.worklist(u, today=today)",
            "    ms.append((time.perf_counter() - t) * 1000)",
            "print('RESULT', statistics.median(ms), r if isinstance(r, int) else len(r))",
        )
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=args.before_timeout,
        )
    except subprocess.TimeoutExpired:
        return None, None
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            _tag, ms, shown = line.split()
            return float(ms), int(float(shown))
    raise RuntimeError(f"old worklist failed:\n{out.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.db = data.db_name(args, parser)
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    print(f"machine: {data.machine()}", flush=True)
    t0 = time.perf_counter()
    truth = data.prepare(
        args.db, persons=args.persons, records=args.records, seed=args.seed, reuse=args.reuse
    )
    if not truth.get("moved_at"):
        _moved_at()
        truth["moved_at"] = True
        data.truth_path(args.db).write_text(json.dumps(truth, ensure_ascii=False))
    print(
        f"data: {truth['persons']:,} persons, {truth['records']:,} service records "
        f"(ready in {time.perf_counter() - t0:.0f} s); worklists: "
        + ", ".join(f"{k} {v['count']:,} ({v['overdue']:,} overdue)" for k, v in truth["worklist"].items()),
        flush=True,
    )
    from django.db import connection
    from django.urls import reverse

    users = data.bench_users()
    rc = 0
    rows = []
    try:
        load_before = data.load_average()
        for key, user in users.items():
            client = _signed_in(user)
            want = truth["worklist"][key]
            for name, url, check in (
                ("page", reverse("casework:worklist"), _check_page),
                ("badge", reverse("casework:worklist_count"), _check_badge),
            ):
                for _ in range(5):  # warm-up: connection, templates, parameter files
                    client.get(url)
                if args.explain:
                    _explain(client, url, f"{key} {name}")
                ms, cpu, wrong, queries = [], [], set(), _Counter()
                db_cpu = data.backend_cpu()
                with connection.execute_wrapper(queries):
                    for _ in range(args.requests):
                        started, cpu0 = time.perf_counter(), time.process_time()
                        response = client.get(url)
                        ms.append((time.perf_counter() - started) * 1000)
                        cpu.append((time.process_time() - cpu0) * 1000)
                        if response.status_code != 200:
                            wrong.add(f"HTTP {response.status_code}")
                        else:
                            wrong.update(check(response.content.decode(), want))
                db_cpu = (data.backend_cpu() - db_cpu) * 1000 / args.requests
                p = _pcts(ms)
                p.update(
                    queries=queries.n / args.requests, cpu=statistics.median(cpu), db_cpu=db_cpu, wall=ms
                )
                rows.append((key, name, p, sorted(wrong)))
        load_after = data.load_average()

        print(
            f"\nworklist through HTTP ({args.requests} requests each, ms); load 1-min {load_before} → {load_after}"
            "\n(queries: per request, middleware and session included; CPU: this process per request, median;"
            "\n PG CPU: the database backend per request, mean over the requests)"
        )
        print(
            f"{'user':<13}{'what':<7}{'p50':>8}{'p95':>8}{'max':>8}{'queries':>9}{'CPU':>7}{'PG CPU':>8}  correct",
            flush=True,
        )
        for key, name, p, wrong in rows:
            ok = "yes" if not wrong else "NO: " + "; ".join(wrong)[:200]
            print(
                f"{key:<13}{name:<7}{p['p50']:>8.1f}{p['p95']:>8.1f}{p['max']:>8.1f}{p['queries']:>9.1f}"
                f"{p['cpu']:>7.1f}{p['db_cpu']:>8.1f}  {ok}",
                flush=True,
            )
            if wrong or p["p95"] > TARGET_MS:
                rc = 1
        print(f"peak memory {data.peak_mb():.0f} MB; target p95 ≤ {TARGET_MS:.0f} ms", flush=True)
        before_rows = []
        if args.before_calls > 0:
            for key in users:
                for name in ("badge count", "page list"):
                    before_rows.append((key, name, *_before_child(args, key, name)))
        if before_rows:
            print(
                f"\nbefore ({args.before}: counted in Python), median of {args.before_calls} calls, no HTTP"
            )
            print(f"{'user':<13}{'what':<13}{'ms':>10}  result  ratio to the new p50 (page / badge)")
            new = {(k, n): p["p50"] for k, n, p, _w in rows}
            for key, name, ms, shown in before_rows:
                ref = new[(key, "badge" if name == "badge count" else "page")]
                if ms is None:
                    limit = args.before_timeout
                    print(
                        f"{key:<13}{name:<13}{'> ' + str(limit) + ' s':>10}  stopped  > {limit * 1000 / ref:.0f}×"
                    )
                else:
                    print(f"{key:<13}{name:<13}{ms:>10.1f}  {shown:>6}  {ms / ref:.1f}×")
        if rc:
            print("未达标或结果不符 / over target or wrong")
    finally:
        if not args.keep:
            data.drop_database(args.db)
    return rc


if __name__ == "__main__":
    sys.exit(main())
