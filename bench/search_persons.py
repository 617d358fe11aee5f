"""Person search at province scale: 1,000,000 demo persons on PostgreSQL, through the real selector.

Creates a separate database (``canlian_bench_search`` on postgres@127.0.0.1:5432, trust auth), migrates it,
loads the demo population set-based (timed), runs VACUUM ANALYZE, then times
``canlian.registry.selectors.person_page`` with ``time.perf_counter`` for a district user and a town user:
first page, deep page, search by ID / certificate number / Chinese name / pinyin initials, and a category +
town filter. Prints p50 / p95 / max in ms and the machine. Side by side: what a user would otherwise do,
open the same rows in an Excel workbook (openpyxl, and python-calamine as the fastest reader) and filter them.

    .venv/bin/python bench/search_persons.py                 # 1,000,000 persons, 200 runs per case
    .venv/bin/python bench/search_persons.py --persons 100000 --runs 50 --keep
    .venv/bin/python bench/search_persons.py --reuse --keep   # reuse a kept database, skip the load

The database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DB_NAME = "canlian_bench_search"
PG = "postgres://postgres@127.0.0.1:5432"
TARGET_MS = 50.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Person search benchmark on PostgreSQL (1,000,000 persons)")
    p.add_argument("--persons", type=int, default=int(os.environ.get("CANLIAN_BENCH_PERSONS", 1_000_000)))
    p.add_argument("--runs", type=int, default=int(os.environ.get("CANLIAN_BENCH_RUNS", 200)))
    p.add_argument("--seed", type=int, default=2023)
    p.add_argument("--excel-rows", type=int, default=100_000, help="rows in the xlsx comparison (scaled)")
    p.add_argument("--no-excel", action="store_true", help="skip the Excel comparison")
    p.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    p.add_argument("--reuse", action="store_true", help="reuse an existing bench database (no reload)")
    p.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of every case")
    return p


# ---- database --------------------------------------------------------------------------------------------


def _admin():
    import psycopg

    return psycopg.connect(f"{PG}/postgres", autocommit=True)


def _db_exists() -> bool:
    with _admin() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone() is not None


def _create_db() -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def _drop_db() -> None:
    from django.db import connections

    connections.close_all()
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def _django(keys_file: Path) -> None:
    """Point Django at the bench database with bench-only keys (never the data folder's key file)."""
    os.environ["DATABASE_URL"] = f"{PG}/{DB_NAME}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    os.environ.setdefault("CANLIAN_DATA_DIR", tempfile.mkdtemp(prefix="canlian-bench-"))
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    if keys_file.exists():
        enc, idx = keys_file.read_text().split()
    else:
        enc = base64.b64encode(secrets.token_bytes(32)).decode()
        idx = base64.b64encode(secrets.token_bytes(32)).decode()
        keys_file.write_text(f"{enc}\n{idx}\n")
    os.environ["CANLIAN_ENCRYPTION_KEY"], os.environ["CANLIAN_INDEX_KEY"] = enc, idx
    import django

    django.setup()


# ---- machine ---------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    from django.db import connection

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
        cur.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        collate = cur.fetchone()[0]
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "postgresql": f"{pg} (collation {collate})",
        "python": platform.python_version(),
    }


# ---- cases -----------------------------------------------------------------------------------------------


@dataclass
class Case:
    label: str
    user: str  # "district" or "town"
    queries: list[dict]  # PersonFilters kwargs + optional "after", cycled over the runs


@dataclass
class Timing:
    case: Case
    ms: list[float]
    rows: float
    db_ms: list[float]

    def q(self, p: float, *, db: bool = False) -> float:
        data = sorted(self.db_ms if db else self.ms)
        k = (len(data) - 1) * p
        lo, hi = int(k), min(int(k) + 1, len(data) - 1)
        return data[lo] + (data[hi] - data[lo]) * (k - lo)


def build_cases(town_user, runs: int) -> list[Case]:
    """Query values drawn from the loaded data (a spread-out sample of persons), so every search hits."""
    from canlian.registry.models import Certificate, Person

    bottom = Person.objects.order_by("pk").values_list("pk", flat=True)[:200]
    town_bottom = (
        Person.objects.filter(town_id=town_user.jurisdiction_id).order_by("pk").values_list("pk", flat=True)
    )[:200]
    total = Person.objects.count()
    step = max(total // min(runs, total), 1)
    first_pk = bottom[0]
    sample_pks = [first_pk + i * step for i in range(min(runs, total))]
    sample = list(Person.objects.filter(pk__in=sample_pks).order_by("pk"))
    town_sample = list(
        Person.objects.filter(town_id=town_user.jurisdiction_id, pk__in=sample_pks).order_by("pk")
    )
    certs = dict(
        Certificate.objects.filter(person__in=sample, is_current=True).values_list("person_id", "number")
    )
    mudu = town_user.jurisdiction_id
    return [
        Case("首页 first page", "district", [{}]),
        Case("首页 first page", "town", [{}]),
        Case("深页 deep page (cursor near the bottom)", "district", [{"after": pk} for pk in bottom]),
        Case("深页 deep page (cursor near the bottom)", "town", [{"after": pk} for pk in town_bottom]),
        Case("身份证号 search by ID (18 digits)", "district", [{"q": p.id_number} for p in sample]),
        Case("身份证号 search by ID (18 digits)", "town", [{"q": p.id_number} for p in town_sample]),
        Case("残疾人证号 search by certificate no.", "district", [{"q": certs[p.pk]} for p in sample]),
        Case("姓名 search by Chinese name (contains)", "district", [{"q": p.name} for p in sample]),
        Case("姓名 search by Chinese name (contains)", "town", [{"q": p.name} for p in town_sample]),
        Case("姓氏 search by surname (1 char)", "district", [{"q": p.name[0]} for p in sample]),
        Case("拼音首字母 search by pinyin initials", "district", [{"q": p.name_initials} for p in sample]),
        Case("拼音首字母 search by pinyin initials", "town", [{"q": p.name_initials} for p in town_sample]),
        Case("全拼 search by full pinyin", "district", [{"q": p.name_pinyin} for p in sample]),
        Case(
            "罕见或查无 rare / absent name",
            "district",
            [{"q": q} for q in ("鑫", "贝", "查无此人", "欧阳", "司马", "xq", "zzz", "秀英")],
        ),
        Case("类别 filter category", "district", [{"category": c} for c in (1, 2, 3, 4, 5, 6, 7)]),
        Case(
            "类别+镇 filter category + town",
            "district",
            [{"category": c, "town": mudu} for c in (1, 2, 3, 4, 5, 6, 7)],
        ),
        Case("类别+等级 filter category + grade", "town", [{"category": c, "grade": 1} for c in (1, 5, 6)]),
    ]


def run_case(case: Case, user, runs: int, today: date, explain: bool) -> Timing:
    from canlian.registry.selectors import PersonFilters, person_page

    def once(params: dict) -> int:
        params = dict(params)
        after = params.pop("after", None)
        page = person_page(user, PersonFilters(**params), today=today, after=after)
        for person in page.items:  # what the list template touches
            _ = (person.masked_id, person.town.name, person.current_certificate)
        return len(page.items)

    for params in case.queries[:5]:  # warm-up
        once(params)
    ms, rows = [], 0
    for i in range(runs):
        params = case.queries[i % len(case.queries)]
        t0 = time.perf_counter()
        rows += once(params)
        ms.append((time.perf_counter() - t0) * 1000)
    if explain:
        print(f"\n--- {case.label} [{case.user}]")
        print(
            _page_query(user, case.queries[len(case.queries) // 2], today).explain(analyze=True, buffers=True)
        )
    db_ms = []
    for i in range(min(runs, 50)):
        plan = _page_query(user, case.queries[i % len(case.queries)], today).explain(
            analyze=True, timing=False
        )
        db_ms.append(float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1)))
    return Timing(case, ms, rows / runs, db_ms)


def _page_query(user, params: dict, today: date):
    """The main query of ``person_page`` (without the certificate prefetch), for EXPLAIN ANALYZE."""
    from canlian.registry.selectors import PAGE_SIZE, PersonFilters, persons_filtered

    params = dict(params)
    after = params.pop("after", None)
    qs = persons_filtered(user, PersonFilters(**params), today=today)
    if after:
        qs = qs.filter(pk__lt=after)
    return qs.select_related("town", "community").order_by("-pk")[: PAGE_SIZE + 1]


# ---- the Excel comparison --------------------------------------------------------------------------------


def excel_comparison(rows: int, seed: int, needle: str) -> dict[str, float]:
    """Write ``rows`` persons to an .xlsx (openpyxl, write-only), then time opening it and filtering by name
    with openpyxl (read-only) and with python-calamine. Returns seconds for ``rows``."""
    import openpyxl
    from python_calamine import CalamineWorkbook

    from canlian.registry.demo import generate_population
    from canlian.registry.identity import CATEGORY_LABELS, GRADE_LABELS

    people = generate_population(persons=rows, seed=seed + 1)
    path = Path(tempfile.mkdtemp(prefix="canlian-bench-xlsx-")) / "persons.xlsx"
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("残疾人")
    ws.append(["姓名", "身份证号", "残疾人证号", "类别", "等级", "镇(街道)", "村(社区)", "发证日期", "电话"])
    for p in people:
        c = p.certificates[-1]
        ws.append(
            [
                p.name,
                p.id_number,
                c.number,
                CATEGORY_LABELS[c.category],
                GRADE_LABELS[c.grade],
                p.town_code,
                p.community_name,
                c.issue_date,
                p.phone,
            ]
        )
    wb.save(path)
    size_mb = path.stat().st_size / 1e6

    t0 = time.perf_counter()
    wb = openpyxl.load_workbook(path, read_only=True)
    hits = [r for r in wb.active.iter_rows(min_row=2, values_only=True) if needle in (r[0] or "")]
    wb.close()
    openpyxl_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    hits_c = [r for r in sheet[1:] if needle in (r[0] or "")]
    calamine_s = time.perf_counter() - t0
    assert len(hits) == len(hits_c)
    path.unlink()
    return {"openpyxl": openpyxl_s, "calamine": calamine_s, "size_mb": size_mb, "hits": len(hits)}


# ---- main ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv if argv is not None else [])
    keys_file = Path(tempfile.gettempdir()) / f"{DB_NAME}.keys"
    reuse = args.reuse and _db_exists()
    if not reuse:
        keys_file.unlink(missing_ok=True)
        _create_db()
    _django(keys_file)

    from django.core.management import call_command
    from django.db import connection
    from tqdm import tqdm

    from canlian.accounts.models import User
    from canlian.accounts.services import system_user
    from canlian.registry import demo
    from canlian.registry.models import Person

    try:
        t0 = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        migrate_s = time.perf_counter() - t0
        system = system_user()
        demo.demo_users_ensure(acting_user=system)
        load = None
        if not Person.objects.exists():
            bar = tqdm(
                total=args.persons, file=sys.stderr, unit="人", desc="载入演示数据", dynamic_ncols=True
            )

            def progress(done, total, message=""):
                bar.update(done - bar.n)

            load = demo.demo_load(persons=args.persons, seed=args.seed, acting_user=system, progress=progress)
            bar.close()
        t0 = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        analyze_s = time.perf_counter() - t0
        persons = Person.objects.count()

        district = User.objects.get(username="demo_district")
        town = User.objects.select_related("jurisdiction").get(username="demo_mudu")
        users = {"district": district, "town": town}
        today = date.today()
        load_before = os.getloadavg()[0]
        timings = [
            run_case(case, users[case.user], args.runs, today, args.explain)
            for case in build_cases(town, args.runs)
        ]
        info = machine()
        info["load average (1 min) before / after the timings"] = (
            f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
        )
        excel = None
        if not args.no_excel:
            excel = excel_comparison(args.excel_rows, args.seed, needle="张伟")
        report(info, persons, load, migrate_s, analyze_s, timings, excel, args)
        worst = max(t.q(0.95) for t in timings)
    finally:
        if not args.keep:
            _drop_db()
            keys_file.unlink(missing_ok=True)
    return 0 if worst <= TARGET_MS else 1


def report(info, persons, load, migrate_s, analyze_s, timings, excel, args) -> None:
    print("\n## Person search, PostgreSQL, through registry.selectors.person_page\n")
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(
        f"persons: {persons:,}   runs per case: {args.runs}   page size: 50   target p95 <= {TARGET_MS:.0f} ms"
    )
    if load is not None:
        print(
            f"load (canlian demo, set-based, one transaction): {load.persons:,} persons, "
            f"{load.certificates:,} certificates, {load.economic_periods:,} economic periods in "
            f"{load.seconds:.1f} s ({load.persons / load.seconds:,.0f} persons/s); "
            f"migrate {migrate_s:.1f} s, VACUUM ANALYZE {analyze_s:.1f} s"
        )
    print(
        "\ntimes: the whole selector call (queries + decrypting + building the page) with time.perf_counter;"
        " database p95: EXPLAIN (ANALYZE, TIMING OFF) execution time of the page query over 50 runs\n"
    )
    print("| case | user | p50 ms | p95 ms | max ms | rows/page | database p95 ms |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for t in timings:
        flag = "" if t.q(0.95) <= TARGET_MS else " ⚠"
        user = "区 district" if t.case.user == "district" else "镇 town (木渎镇)"
        print(
            f"| {t.case.label} | {user} | {t.q(0.5):.1f} | {t.q(0.95):.1f}{flag} | {max(t.ms):.1f} "
            f"| {t.rows:.0f} | {t.q(0.95, db=True):.1f} |"
        )
    if excel:
        scale = persons / args.excel_rows
        name_p95 = max(t.q(0.95) for t in timings if "Chinese name" in t.case.label)
        print(
            f"\nExcel instead (open the workbook and filter by a name; {args.excel_rows:,}-row .xlsx of "
            f"{excel['size_mb']:.1f} MB timed, scaled ×{scale:.0f} to {persons:,} rows):"
        )
        print("| tool | measured s | scaled to all rows, s | vs canlian name search p95 |")
        print("|---|---:|---:|---:|")
        for tool in ("openpyxl", "calamine"):
            s = excel[tool]
            print(
                f"| {tool} (read + filter) | {s:.2f} | {s * scale:.1f} | "
                f"{s * scale * 1000 / name_p95:,.0f}× slower |"
            )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
