"""Benchmark: import a 100,000-row custodial-care roster (.xlsx) with ``canlian services import custodial_care``
on SQLite and PostgreSQL, side by side with the per-row service path (``case_open`` per row).

    .venv/bin/python bench/import_roster.py                         # 100,000 rows, 3 runs, per-row on 10,000
    .venv/bin/python bench/import_roster.py --rows 20000 --naive-rows 2000 --repeat 1 --backends sqlite
    .venv/bin/python bench/import_roster.py --pg-url postgres://postgres@127.0.0.1:5432/mybench

The registry comes first, as in ``bench/import_persons.py``: that benchmark's generator writes a 100,000-person
file, a set-up child process imports it (``persons_import``) and designates 28 custodial providers; the roster
names each of those persons once (a placement: mode written in one of the accepted spellings, a provider, a
start date, a past end date for a quarter of them, dates as Excel dates and as text). Then a fresh child
process runs the CLI in-process (``canlian.cli.main``: read, validate, commit in one transaction), timed
end to end, and afterwards (untimed) checks the result: the JSON counts, every case against its file row
(person, start, end, state, mode, provider, town), the number of due items and audit rows, and for a sample
of 2,000 rows the due dates and the audit row. The per-row path is the same command with the bulk commit
switched off (``importing.BULK_MIN_ROWS``): ``case_open`` for every row, as before this benchmark; it runs on
the first ``--naive-rows`` rows and is extrapolated linearly (said so in the table).

``--kind employment`` measures the employment roster instead (``canlian services import employment``: 姓名,
身份证号, 就业形式, 就业单位, 开始日期, 结束日期; one employment per person, a form in one of the accepted
spellings, an employer for most, a past end for 40% of them). Its check: the counts, every row's employed
period (start, end, form, employer), every person's chain of periods without overlap, ``Person.employment_status``
against the current period, one audit row per row; its per-row path is ``employment_record`` per row.

Each measurement gets a fresh database: SQLite in a temporary data folder (a copy of the set-up one);
PostgreSQL in a database of its own per benchmark run: ``--pg-url``'s server, its database name as a prefix
followed by the time and the process id (``roster_bench_20261203_120501_4242``, lower case: two runs never share one),
dropped and created again before every measurement, the set-up registry restored into it from a ``pg_dump``
taken once, and dropped at the end (also when a run fails). Prints a table for docs/benchmarks.md; exits 1 when the median misses 15 s.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import itertools
import json
import os
import random
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import import_persons as persons_bench  # noqa: E402  (bench/import_persons.py: the person generator)
from _child import child_result  # noqa: E402

KIND = "custodial_care"  # or "employment" (--kind)
EMPLOYMENT_HEADERS = ["姓名", "身份证号", "就业形式", "就业单位", "开始日期", "结束日期"]
EMPLOYMENT_FORMS = [
    "按比例",
    "按比例就业",
    "集中",
    "集中就业",
    "个体",
    "自主创业",
    "个体就业/自主创业",
    "农村种养加",
    "种养加",
    "公益性岗位",
    "公益岗",
    "辅助性就业",
    "灵活就业",
]
HEADERS = ["姓名", "身份证号", "托养方式", "服务机构", "开始日期", "结束日期"]
MODES = ["寄宿制", "寄宿", "全托", "日间照料", "日托", "日间托养", "居家托养", "居家"]
PROVIDERS = [(f"{town}阳光托养中心", "custodial_provider", town) for town in persons_bench.TOWNS] + [
    (f"{town}残疾人之家", "care_home", town) for town in persons_bench.TOWNS
]
DESIGNATED_FROM = date(2015, 1, 1)
TARGET_SECONDS = 15
CLERK = "bench_clerk"  # the user the import runs as (CLI token made at set-up)
SAMPLE = 2000


def make_roster(persons_file: Path, path: Path, rows: int, *, seed: int = 2026) -> None:
    """One placement per person of the person file (the first ``rows``), every row valid."""
    import xlsxwriter
    from python_calamine import CalamineWorkbook

    people = CalamineWorkbook.from_path(str(persons_file)).get_sheet_by_index(0).to_python()[1 : rows + 1]
    rnd = random.Random(seed)
    today = date.today()
    first, span = date(2020, 1, 1), (today - timedelta(days=1) - date(2020, 1, 1)).days
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    ws = wb.add_worksheet("托养名单")
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, HEADERS)
    for r, person in enumerate(people, start=1):
        start = first + timedelta(days=rnd.randrange(span))  # the visit interval is known from 2020
        end = start + timedelta(days=rnd.randrange(30, 900)) if rnd.random() < 0.25 else None
        if end is not None and end >= today:
            end = None
        ws.write_string(r, 0, str(person[0]))
        ws.write_string(r, 1, str(person[1]))
        ws.write_string(r, 2, rnd.choice(MODES))
        ws.write_string(r, 3, rnd.choice(PROVIDERS)[0])
        for col, day in ((4, start), (5, end)):
            if day is None:
                continue
            if r % 3:
                ws.write_datetime(r, col, day, date_fmt)
            else:
                ws.write_string(r, col, day.isoformat() if r % 2 else f"{day.year}/{day.month}/{day.day}")
    wb.close()


def make_employment_roster(persons_file: Path, path: Path, rows: int, *, seed: int = 2026) -> None:
    """One employment per person of the person file (the first ``rows``), every row valid."""
    import xlsxwriter
    from python_calamine import CalamineWorkbook

    people = CalamineWorkbook.from_path(str(persons_file)).get_sheet_by_index(0).to_python()[1 : rows + 1]
    rnd = random.Random(seed)
    today = date.today()
    first = date(2015, 1, 1)
    span = (today - timedelta(days=1) - first).days
    employers = [f"{town}第{n}电子厂" for town in persons_bench.TOWNS for n in range(1, 11)]
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    ws = wb.add_worksheet("就业名单")
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, EMPLOYMENT_HEADERS)
    for r, person in enumerate(people, start=1):
        start = first + timedelta(days=rnd.randrange(span))
        end = start + timedelta(days=rnd.randrange(30, 1500)) if rnd.random() < 0.4 else None
        if end is not None and end >= today:
            end = None
        ws.write_string(r, 0, str(person[0]))
        ws.write_string(r, 1, str(person[1]))
        ws.write_string(r, 2, rnd.choice(EMPLOYMENT_FORMS))
        if rnd.random() < 0.8:
            ws.write_string(r, 3, rnd.choice(employers))
        for col, day in ((4, start), (5, end)):
            if day is None:
                continue
            if r % 3:
                ws.write_datetime(r, col, day, date_fmt)
            else:
                ws.write_string(r, col, day.isoformat() if r % 2 else f"{day.year}/{day.month}/{day.day}")
    wb.close()


def check_employment(path: Path, out: dict, user) -> dict:
    """Counts and contents: every row's employed period, each person's chain without overlap, the current
    status, the audit rows."""
    from django.utils import timezone
    from python_calamine import CalamineWorkbook

    from canlian.casework.programmes.employment_roster import KIND_ALIASES
    from canlian.common.models import AuditLog
    from canlian.registry.models import EmploymentPeriod, Person
    from canlian.registry.services import id_index
    from canlian.registry.validation import parse_date

    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()[1:]
    n, today, problems = len(rows), timezone.localdate(), []
    if {k: out.get(k) for k in ("rows", "created", "rejected")} != {"rows": n, "created": n, "rejected": 0}:
        problems.append(f"counts {out}")
    persons = dict(Person.objects.values_list("id_number_index", "pk"))
    status = dict(Person.objects.values_list("pk", "employment_status"))
    chains: dict = {}
    for pid, *rest in EmploymentPeriod.objects.values_list(
        "person_id", "status", "valid_from", "valid_to", "kind", "employer", "created_by_id"
    ).iterator(chunk_size=20000):
        chains.setdefault(pid, []).append(tuple(rest))
    periods = sum(len(c) for c in chains.values())
    for i, r in enumerate(rows):
        pid = persons.get(id_index(str(r[1])))
        start = parse_date(r[4])
        end = parse_date(r[5]) if r[5] not in ("", None) else None
        want = ("employed", start, end, KIND_ALIASES[r[2]], str(r[3] or ""), user.pk)
        chain = sorted(chains.get(pid, []), key=lambda p: p[1])
        if want not in chain:
            problems.append(f"row {i + 2}: {want} not in {chain}")
            continue
        for a, b in itertools.pairwise(chain):
            if a[2] is None or a[2] >= b[1]:
                problems.append(f"row {i + 2}: overlap {a} {b}")
        current = next((p[0] for p in chain if p[1] <= today and (p[2] is None or today <= p[2])), None)
        if status[pid] != (current or status[pid]) or status[pid] != (
            "employed" if end is None else "unemployed"
        ):
            problems.append(f"row {i + 2}: status {status[pid]}, current period {current}")
    if AuditLog.objects.filter(action="employment.record").count() != n:
        problems.append("audit rows")
    return {"ok": not problems, "problems": problems[:10], "periods": periods, "persons": len(chains)}


def subset_file(src: Path, dst: Path, rows: int) -> None:
    persons_bench.subset_file(src, dst, rows)


# ---- child processes -----------------------------------------------------------------------------------


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_setup(args) -> None:
    """A registry of the person file's persons and 28 designated providers (not timed)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    import django

    django.setup()
    from canlian.cli import ensure_database

    ensure_database()
    from canlian.accounts.models import Role
    from canlian.accounts.services import cli_token_create, system_user, user_create
    from canlian.common.workflow import transition
    from canlian.institutions.services import institution_create
    from canlian.registry.importers import persons_import
    from canlian.registry.models import Region

    user = system_user()
    t0 = time.perf_counter()
    staged = persons_import(Path(args.file), acting_user=user, allow_new_communities=True)
    checker = user_create(
        acting_user=user,
        username="bench_checker",
        role=Role.DISTRICT_STAFF,
        password=secrets.token_urlsafe(16) + "#Aa1",
    )
    towns = {r.name: r for r in Region.objects.filter(name__in=list(persons_bench.TOWNS))}
    for name, kind, town in PROVIDERS:
        inst = institution_create(acting_user=user, name=name, kind=kind, town=towns[town])
        inst = transition(
            inst, "submit", acting_user=user, expected_state="draft", designated_from=DESIGNATED_FROM
        )
        transition(inst, "designate", acting_user=checker, expected_state="submitted")
    # the CLI writes personal data only for a proven user: a district clerk with a CLI token
    clerk = user_create(
        acting_user=user,
        username=CLERK,
        role=Role.DISTRICT_STAFF,
        password=secrets.token_urlsafe(16) + "#Aa1",
    )
    _, token = cli_token_create(user=clerk, name="bench", days=2)
    counts = staged.counts
    seconds = round(time.perf_counter() - t0, 1)
    print("RESULT " + json.dumps({"seconds": seconds, "counts": counts, "token": token}))


def _expected(path: Path):
    """The file's rows as the import should understand them: (id number, start, end, mode code, provider)."""
    from python_calamine import CalamineWorkbook

    from canlian.casework.programmes.custodial_roster import MODE_ALIASES
    from canlian.registry.validation import parse_date

    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()[1:]
    return [
        (
            str(r[1]),
            parse_date(r[4]),
            parse_date(r[5]) if r[5] not in ("", None) else None,
            MODE_ALIASES[r[2]],
            r[3],
        )
        for r in rows
    ]


def check(path: Path, out: dict, user) -> dict:
    """Counts and contents: every case against its file row; due items and audit rows in number, and for a
    sample in detail."""
    from django.utils import timezone

    from canlian.casework.models import Case, DueItem
    from canlian.casework.programmes.custodial_care import PROGRAMME
    from canlian.common.models import AuditLog
    from canlian.registry.models import Person
    from canlian.registry.services import id_index

    expected = _expected(path)
    n = len(expected)
    problems = []
    if {k: out.get(k) for k in ("rows", "created", "rejected")} != {"rows": n, "created": n, "rejected": 0}:
        problems.append(f"counts {out}")
    persons = dict(Person.objects.values_list("id_number_index", "pk"))
    person_town = dict(Person.objects.values_list("pk", "town_id"))
    cases = {
        (c["person_id"], c["opened_on"]): c
        for c in Case.objects.filter(programme=KIND).values(
            "id",
            "person_id",
            "opened_on",
            "closed_on",
            "state",
            "data",
            "institution__name",
            "town_id",
            "source",
            "created_by_id",
        )
    }
    if len(cases) != n:
        problems.append(f"{len(cases)} cases for {n} rows")
    from canlian.casework.programme import parameters

    rule, params = PROGRAMME.due_rules[0], parameters()  # read once (a query per call otherwise)
    today = timezone.localdate()
    due_total = 0
    rnd = random.Random(7)
    sample = set(rnd.sample(range(n), min(SAMPLE, n)))
    sampled = 0
    for i, (id_number, start, end, mode, provider) in enumerate(expected):
        pid = persons.get(id_index(id_number))
        case = cases.get((pid, start))
        state = "ended" if end and end < today else "placed"
        days = rule.schedule(start, until=end, params=params) if state == "placed" else []
        due_total += len(days)
        if case is None:
            problems.append(f"row {i + 2}: no case")
            continue
        got = (case["closed_on"], case["state"], case["data"], case["institution__name"], case["town_id"])
        want = (end, state, {"mode": mode}, provider, person_town[pid])
        if got != want or case["source"] != "import" or case["created_by_id"] != user.pk:
            problems.append(f"row {i + 2}: {got} != {want}")
        if i in sample:
            sampled += 1
            items = list(
                DueItem.objects.filter(case_id=case["id"]).order_by("seq").values_list("seq", "due_on")
            )
            if items != list(enumerate(days, start=1)):
                problems.append(f"row {i + 2}: due items {items[:3]}… != {days[:3]}…")
            audit = AuditLog.objects.filter(
                action=f"case.{KIND}.open", object_id=str(case["id"])
            ).values_list("changes", "username")
            audit = list(audit)
            if (
                len(audit) != 1
                or audit[0][0]["due_items"] != [None, len(days)]
                or audit[0][1] != user.username
            ):
                problems.append(f"row {i + 2}: audit {audit}")
    if DueItem.objects.filter(case__programme=KIND).count() != due_total:
        problems.append(f"due items {DueItem.objects.count()} != {due_total}")
    if AuditLog.objects.filter(action=f"case.{KIND}.open").count() != n:
        problems.append("audit rows")
    return {
        "ok": not problems,
        "problems": problems[:10],
        "cases": len(cases),
        "due_items": due_total,
        "sampled": sampled,
    }


def child_import(args) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    import django

    django.setup()
    from canlian.casework import importing
    from canlian.cli import main as cli_main

    if args.child == "per_row":
        importing.BULK_MIN_ROWS = 10**9  # the per-row path: the service for every row
    from django.db import connection

    baseline = _rss_mb()
    buf = io.StringIO()
    connection.ensure_connection()
    server_before = persons_bench._backend_cpu()
    cpu_before = time.process_time()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(buf):
        code = cli_main(["services", "import", args.kind, args.file, "--json"])
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu_before
    server_after = persons_bench._backend_cpu()
    peak = _rss_mb()
    out = json.loads(buf.getvalue().strip().splitlines()[-1])
    from canlian.accounts.models import User

    checker = check_employment if args.kind == "employment" else check
    checked = checker(Path(args.file), out, User.objects.get(username=CLERK))
    result = {
        "seconds": round(seconds, 2),
        "exit": code,
        "cpu_s": round(cpu, 2),
        "server_cpu_s": None
        if server_before is None or server_after is None
        else round(server_after - server_before, 2),
        "peak_mb": round(peak, 1),
        "baseline_mb": round(baseline, 1),
        "counts": {k: out.get(k) for k in ("rows", "created", "updated", "unchanged", "rejected")},
        "checked": checked,
    }
    print("RESULT " + json.dumps(result, ensure_ascii=False, default=str))


# ---- parent --------------------------------------------------------------------------------------------


def _pg_admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _child(mode: str, file: Path, env: dict) -> dict:
    args = ["--child", mode, "--file", str(file), "--kind", KIND]
    return child_result(__file__, args, env=env, cwd=ROOT, what=mode)


class Backend:
    """Fresh set-up databases for one backend, with one pair of throw-away keys."""

    def __init__(self, name: str, pg_url: str, persons: Path, work: Path):
        self.name, self.pg_url, self.persons, self.work = name, pg_url, persons, work
        self.env = dict(os.environ)
        self.env["CANLIAN_ENCRYPTION_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
        self.env["CANLIAN_INDEX_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
        self.env.pop("DATABASE_URL", None)
        self.base: Path | None = None

    def fresh(self) -> dict:
        env = dict(self.env)
        if self.name == "postgres":
            # set up once, dumped; every run restores the dump into a new database of the same name
            dbname = self.pg_url.rsplit("/", 1)[1]
            dump = self.work / "pg-base.dump"
            _pg_admin(self.pg_url, f"DROP DATABASE IF EXISTS {dbname}")
            _pg_admin(self.pg_url, f"CREATE DATABASE {dbname}")
            env["DATABASE_URL"] = self.pg_url
            env["CANLIAN_DATA_DIR"] = str(self.work / "pg-data")
            if self.base is None:
                setup = _child("setup", self.persons, env)
                self.env["CANLIAN_TOKEN"] = env["CANLIAN_TOKEN"] = setup.pop("token")
                print(f"  set up PostgreSQL registry: {setup}", flush=True)
                subprocess.run(["pg_dump", "-Fc", "-f", str(dump), "-d", self.pg_url], check=True)
                self.base = dump
            else:
                subprocess.run(["pg_restore", "--no-owner", "-d", self.pg_url, str(dump)], check=True)
                subprocess.run(["psql", "-q", "-d", self.pg_url, "-c", "ANALYZE"], check=True)
            return env
        if self.base is None:
            self.base = self.work / "sqlite-base"
            env["CANLIAN_DATA_DIR"] = str(self.base)
            setup = _child("setup", self.persons, env)
            self.env["CANLIAN_TOKEN"] = env["CANLIAN_TOKEN"] = setup.pop("token")
            print(f"  set up SQLite registry: {setup}", flush=True)
        run = Path(tempfile.mkdtemp(prefix="run-", dir=self.work))
        shutil.rmtree(run)
        shutil.copytree(self.base, run)
        env["CANLIAN_DATA_DIR"] = str(run)
        return env

    def measure(self, mode: str, file: Path) -> dict:
        env = self.fresh()
        load_before = os.getloadavg()[0]
        result = _child(mode, file, env)
        result["load"] = (round(load_before, 2), round(os.getloadavg()[0], 2))
        if self.name == "sqlite":
            shutil.rmtree(env["CANLIAN_DATA_DIR"], ignore_errors=True)
        return result


def _cpu(result: dict) -> str:
    server = result.get("server_cpu_s")
    return f"{result['cpu_s']:.1f}" + (f" + {server:.1f}" if server is not None else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=int(os.environ.get("CANLIAN_BENCH_ROSTER_ROWS", 100_000)))
    parser.add_argument("--naive-rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--pg-url",
        default="postgres://postgres@127.0.0.1:5432/roster_bench",
        help="server and database-name prefix; a unique suffix is added per run",
    )
    parser.add_argument("--kind", choices=["custodial_care", "employment"], default="custodial_care")
    parser.add_argument("--child", choices=["setup", "bulk", "per_row"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    global KIND
    KIND = args.kind
    if args.child == "setup":
        child_setup(args)
        return 0
    if args.child:
        child_import(args)
        return 0

    work = Path(tempfile.mkdtemp(prefix="roster-bench-"))
    server, prefix = args.pg_url.rsplit("/", 1)
    pg_url = f"{server}/{prefix or 'roster_bench'}_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"
    try:
        persons = work / f"persons_{args.rows}.xlsx"
        persons_bench.make_file(persons, args.rows)
        roster = work / f"roster_{args.rows}.xlsx"
        (make_employment_roster if KIND == "employment" else make_roster)(persons, roster, args.rows)
        naive_rows = min(args.naive_rows, args.rows)
        subset = work / f"roster_{naive_rows}.xlsx"
        subset_file(roster, subset, naive_rows)
        print(f"files: {persons.name}, {roster.name} ({roster.stat().st_size / 1e6:.1f} MB), {subset.name}")
        print(f"machine: {persons_bench.machine()}")
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        results = []
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
            backend = Backend(name, pg_url, persons, work)
            if name == "postgres":
                print(f"PostgreSQL database of this run: {pg_url.rsplit('/', 1)[1]}", flush=True)
            runs = []
            for _ in range(max(1, args.repeat)):
                runs.append(backend.measure("bulk", roster))
                print(f"{name} bulk: {runs[-1]}", flush=True)
            naive = backend.measure("per_row", subset)
            print(f"{name} per-row: {naive}", flush=True)
            results.append((name, runs, naive))
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if "postgres" in args.backends:
            with contextlib.suppress(Exception):
                _pg_admin(pg_url, f"DROP DATABASE IF EXISTS {pg_url.rsplit('/', 1)[1]}")

    print()
    print(
        "| database | path | rows | seconds: median (min–max; runs) | rows/s | CPU s: import process"
        " (+ PostgreSQL backend) | 1-min load before → after | peak RSS MB | checked |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    failed = False
    for name, runs, naive in results:
        secs = [r["seconds"] for r in runs]
        median = statistics.median(secs)
        ok = all(r["checked"]["ok"] for r in runs)
        failed |= median > TARGET_SECONDS or not ok or not naive["checked"]["ok"]
        loads = ", ".join(f"{r['load'][0]}→{r['load'][1]}" for r in runs)
        cpus = ", ".join(_cpu(r) for r in runs)
        first = runs[0]["checked"]
        what = (
            f"{first['periods']:,} periods of {first['persons']:,} persons"
            if KIND == "employment"
            else f"{first['cases']:,} cases, {first['due_items']:,} due items, {first['sampled']:,} sampled"
        )
        per_row = "`employment_record`" if KIND == "employment" else "`case_open`"
        print(
            f"| {name} | `canlian services import {KIND}` (bulk commit) | {args.rows:,}"
            f" | **{median:.1f}** ({min(secs):.1f}–{max(secs):.1f}; {', '.join(f'{s:.1f}' for s in secs)})"
            f" | {args.rows / median:,.0f} | {cpus} | {loads} | {max(r['peak_mb'] for r in runs):.0f}"
            f" | {'yes' if ok else 'NO'}: {what} |"
        )
        rps = naive_rows / naive["seconds"]
        print(
            f"| {name} | same command, per-row commit ({per_row} per row) | {naive_rows:,} (measured)"
            f" | {naive['seconds']:.1f} | {rps:,.0f} | {_cpu(naive)} | {naive['load'][0]}→{naive['load'][1]}"
            f" | {naive['peak_mb']:.0f} | {'yes' if naive['checked']['ok'] else 'NO'} |"
        )
        extrapolated = args.rows / rps
        print(
            f"| {name} | per-row commit | {args.rows:,} (extrapolated ×{args.rows / naive_rows:g})"
            f" | {extrapolated:.0f} | | | | | |"
        )
        print(f"| {name} | **ratio** per-row ÷ bulk (wall) | | **{extrapolated / median:.1f}×** | | | | | |")
        per_row_cpu = (naive["cpu_s"] + (naive["server_cpu_s"] or 0)) * args.rows / naive_rows
        bulk_cpu = statistics.median(r["cpu_s"] + (r["server_cpu_s"] or 0) for r in runs)
        print(f"| {name} | **ratio** per-row ÷ bulk (CPU) | | | | **{per_row_cpu / bulk_cpu:.1f}×** | | | |")
    for name, runs, naive in results:
        for r in [*runs, naive]:
            if not r["checked"]["ok"]:
                print(f"{name}: check failed: {r['checked']['problems']}")
    print(f"target: median <= {TARGET_SECONDS} s, results checked: {'MISSED' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
