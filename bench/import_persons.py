"""Benchmark: import 100,000 persons from .xlsx end to end (read, validate, commit) on SQLite and PostgreSQL,
side by side with what a user would otherwise write: openpyxl + one ORM save per row.

    .venv/bin/python bench/import_persons.py                      # 100,000 rows, naive side on 10,000
    .venv/bin/python bench/import_persons.py --rows 20000 --naive-rows 2000 --backends sqlite

Every measurement runs in a fresh child process against a fresh database (SQLite in a temporary data folder;
PostgreSQL in a database ``canlian_bench`` created and dropped here; the test suite's ``test`` database is
not touched), so the peak RSS is that of one import. The naive side runs on a subset and is extrapolated
linearly to the full row count (said so in the table). Prints a table; results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADERS = [
    "姓名",
    "身份证号",
    "残疾人证号",
    "发证日期",
    "镇(街道)",
    "村(社区)",
    "户口性质",
    "家庭经济状况",
    "联系电话",
    "残疾类别",
    "残疾等级",
    "就业状况",
]
TOWNS = {  # real villages, in the short form clerks write (新家社区 = 新家社区居委会)
    "长桥街道": ("龙桥社区", "新家社区", "蠡墅社区"),
    "越溪街道": ("龙翔社区", "旺山村", "张桥村"),
    "郭巷街道": ("尹山社区", "姜庄社区", "双浜社区"),
    "横泾街道": ("泾苑社区", "上林村", "新齐村"),
    "香山街道": ("蒋墩社区", "舟山村", "梅舍村"),
    "城南街道": ("东湖社区", "南石湖社区", "宝带桥社区"),
    "太湖街道": ("融湾社区", "颐湾社区", "融悦湾社区"),
    "甪直镇": ("保圣社区", "澄墩村", "淞南村"),
    "木渎镇": ("香溪社区", "天平村", "金山村"),
    "胥口镇": ("子胥社区", "马舍村", "新峰村"),
    "东山镇": ("洞庭社区", "陆巷村", "杨湾村"),
    "光福镇": ("梅园社区", "冲山村", "香雪村"),
    "金庭镇": ("东河社区", "东村村", "堂里村"),
    "临湖镇": ("渡村社区", "浦庄村", "前塘村"),
}
AREAS = ("320524", "320524", "320502", "320503", "320505", "320583", "320584", "321002", "340104", "320506")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国建华志强秀兰玉兰桂兰海燕小红春梅文俊晓东红梅丹丹佳怡子涵浩然宇轩欣怡梓萱"
CATEGORIES = ["视力", "听力", "言语", "肢体", "智力", "精神", "多重"]
GRADES = ["一级", "二级", "三级", "四级"]
CAT_WEIGHTS = [848, 354, 355, 5932, 989, 1371, 151]


def _check_char(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def make_file(path: Path, rows: int, *, seed: int = 2023) -> None:
    """A synthetic, valid 100,000-row file in the standard template's layout, every ID unique."""
    import xlsxwriter

    rnd = random.Random(seed)
    today = date.today()
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    ws = wb.add_worksheet("残疾人名单")
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, HEADERS)
    seen: set[str] = set()
    towns = list(TOWNS)
    start = date(1935, 1, 1)
    span = (date(2020, 12, 31) - start).days
    for r in range(1, rows + 1):
        while True:
            born = start + timedelta(days=rnd.randrange(span))
            first17 = f"{rnd.choice(AREAS)}{born:%Y%m%d}{rnd.randrange(1000):03d}"
            id_number = first17 + _check_char(first17)
            if id_number not in seen:
                seen.add(id_number)
                break
        cat = rnd.choices(range(1, 8), CAT_WEIGHTS)[0]
        grade = rnd.randint(1, 4)
        issue = born + timedelta(days=rnd.randrange(max(1, (today - born).days)))
        issue = max(issue, date(2000, 1, 1)) if born < date(2000, 1, 1) else issue
        town = rnd.choice(towns)
        name = rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2, 2))))
        economic = rnd.choices(["", "低保", "低保边缘", "特困供养", "支出型困难"], [80, 10, 6, 2, 2])[0]
        ws.write_string(r, 0, name)
        ws.write_string(r, 1, id_number)
        ws.write_string(r, 2, f"{id_number}{cat}{grade}")
        ws.write_datetime(r, 3, issue, date_fmt) if r % 3 else ws.write_string(r, 3, issue.isoformat())
        ws.write_string(r, 4, town)
        ws.write_string(r, 5, rnd.choice(TOWNS[town]))
        ws.write_string(r, 6, rnd.choice(("城镇", "农村")))
        ws.write_string(r, 7, economic)
        ws.write_string(r, 8, f"1{rnd.choice('3589')}{rnd.randrange(10**9):09d}")
        ws.write_string(r, 9, CATEGORIES[cat - 1])
        ws.write_string(r, 10, GRADES[grade - 1])
        ws.write_string(r, 11, rnd.choice(("", "就业", "未就业", "在校", "离退休")))
    wb.close()


def subset_file(src: Path, dst: Path, rows: int) -> None:
    import xlsxwriter
    from python_calamine import CalamineWorkbook

    data = CalamineWorkbook.from_path(str(src)).get_sheet_by_index(0).to_python()[: rows + 1]
    wb = xlsxwriter.Workbook(str(dst), {"constant_memory": True, "strings_to_numbers": False})
    ws = wb.add_worksheet("残疾人名单")
    for r, row in enumerate(data):
        for c, value in enumerate(row):
            ws.write(r, c, value)
    wb.close()


# ---- child process: one measured import --------------------------------------------------------------


_CPU_FIELDS = [
    (resource.RUSAGE_SELF, "ru_utime"),
    (resource.RUSAGE_SELF, "ru_stime"),
    (resource.RUSAGE_CHILDREN, "ru_utime"),
    (resource.RUSAGE_CHILDREN, "ru_stime"),
]


def _backend_cpu() -> float | None:
    """CPU seconds of this connection's PostgreSQL backend process so far (same machine: /proc), else None."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    import django

    django.setup()
    from canlian.cli import ensure_database

    ensure_database()
    from canlian.accounts.services import system_user

    user = system_user()
    path = Path(args.file)
    baseline = _rss_mb()
    before = [getattr(resource.getrusage(who), f) for who, f in _CPU_FIELDS]
    server_before = _backend_cpu()
    phases: dict[str, float] = {}
    t0 = time.perf_counter()

    if args.mode == "fast":
        # What `canlian import persons FILE` runs: read, validate (worker processes), write, one transaction.
        from canlian.registry.importers import import_workers, persons_import

        marks: dict[str, float] = {}

        def progress(done: int, total: int, message: str = "") -> None:
            marks.setdefault(message, time.perf_counter())

        staged = persons_import(path, acting_user=user, allow_new_communities=True, progress=progress)
        t1 = time.perf_counter()
        order = sorted(marks.items(), key=lambda kv: kv[1])
        for (name, at), nxt in zip(order, [*[v for _k, v in order[1:]], t1], strict=True):
            phases[name] = round(nxt - at, 2)
        phases["workers"] = import_workers(staged.counts["rows"])
        counts = staged.counts
    else:
        import openpyxl

        from canlian.registry import services
        from canlian.registry.validation import FIELD_LABELS, RegionLookup, validate_person_record

        keys = {label: key for key, label in FIELD_LABELS.items()}
        wb = openpyxl.load_workbook(path, read_only=True)
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = [keys.get(h) for h in next(rows)]
        regions = RegionLookup.load()
        today = date.today()
        created = rejected = 0
        for values in rows:
            raw = {k: v for k, v in zip(header, values, strict=False) if k}
            record, errors = validate_person_record(
                raw, regions=regions, today=today, allow_new_community=True
            )
            if errors:
                rejected += 1
                continue
            services.person_create(acting_user=user, record=record)  # one ORM save (and audit) per row
            created += 1
        t1 = time.perf_counter()
        counts = {"rows": created + rejected, "created": created, "rejected": rejected}
    server_after = _backend_cpu()
    print(
        "RESULT "
        + json.dumps(
            {
                "seconds": round(t1 - t0, 2),
                "peak_mb": round(_rss_mb(), 1),
                "workers_peak_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
                "cpu_s": round(
                    sum(
                        getattr(resource.getrusage(w), f) - b
                        for (w, f), b in zip(_CPU_FIELDS, before, strict=True)
                    ),
                    2,
                ),
                "server_cpu_s": None
                if server_before is None or server_after is None
                else round(server_after - server_before, 2),
                "baseline_mb": round(baseline, 1),
                "counts": counts,
                "phases": phases,
            }
        )
    )


# ---- parent: orchestration -----------------------------------------------------------------------------


def _pg_admin(url: str, sql: str) -> None:
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql)


def run_child(*, backend: str, mode: str, file: Path, pg_url: str) -> dict:
    env = dict(os.environ)
    env["CANLIAN_ENCRYPTION_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    env["CANLIAN_INDEX_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    data_dir = tempfile.mkdtemp(prefix="canlian-bench-")
    env["CANLIAN_DATA_DIR"] = data_dir
    env.pop("DATABASE_URL", None)
    if backend == "postgres":
        dbname = pg_url.rsplit("/", 1)[1]
        _pg_admin(pg_url, f"DROP DATABASE IF EXISTS {dbname}")
        _pg_admin(pg_url, f"CREATE DATABASE {dbname}")
        env["DATABASE_URL"] = pg_url
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--file", str(file)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        if backend == "postgres":
            _pg_admin(pg_url, f"DROP DATABASE IF EXISTS {pg_url.rsplit('/', 1)[1]}")
        subprocess.run(["rm", "-rf", data_dir], check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"child failed ({backend} {mode}):\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}")


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, {platform.system()}"


def _cpu(result: dict) -> str:
    server = result.get("server_cpu_s")
    return f"{result['cpu_s']:.1f}" + (f" + {server:.1f}" if server is not None else "")


TARGET_SECONDS = 15
TARGET_MB = 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=int(os.environ.get("CANLIAN_BENCH_IMPORT_ROWS", 100_000)))
    parser.add_argument("--naive-rows", type=int, default=10_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the canlian import per database (best kept)"
    )
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/canlian_bench_import")
    parser.add_argument("--child", choices=["fast", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.child:
        args.mode = args.child
        child(args)
        return 0

    work = Path(tempfile.mkdtemp(prefix="canlian-bench-files-"))
    full = work / f"persons_{args.rows}.xlsx"
    t = time.perf_counter()
    make_file(full, args.rows)
    print(f"generated {full.name} ({full.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s")
    naive_rows = min(args.naive_rows, args.rows)
    subset = work / f"persons_{naive_rows}.xlsx"
    subset_file(full, subset, naive_rows)
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    results = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        runs = []
        for _ in range(max(1, args.repeat)):
            runs.append(run_child(backend=backend, mode="fast", file=full, pg_url=args.pg_url))
            print(f"{backend} canlian: {runs[-1]}", flush=True)
        naive = run_child(backend=backend, mode="naive", file=subset, pg_url=args.pg_url)
        print(f"{backend} naive: {naive}", flush=True)
        results.append((backend, runs, naive))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    print()
    print(
        "| database | method | rows | seconds | rows/s | CPU s (import processes + PostgreSQL backend)"
        " | peak RSS MB (main / workers) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    failed = False
    for backend, runs, naive in results:
        best = min(runs, key=lambda r: r["seconds"])
        median = sorted(r["seconds"] for r in runs)[len(runs) // 2]
        failed |= best["seconds"] > TARGET_SECONDS or max(r["peak_mb"] for r in runs) > TARGET_MB
        print(
            f"| {backend} | canlian import ({best['phases'].get('workers', 1)} validation workers, set-based)"
            f" | {args.rows:,} | {best['seconds']:.1f} (median of {len(runs)}: {median:.1f})"
            f" | {args.rows / best['seconds']:,.0f} | {_cpu(best)}"
            f" | {max(r['peak_mb'] for r in runs):.0f} / {max(r['workers_peak_mb'] for r in runs):.0f} |"
        )
        naive_rps = naive_rows / naive["seconds"]
        extrapolated = args.rows / naive_rps
        print(
            f"| {backend} | openpyxl + one ORM save per row | {naive_rows:,} (measured) | {naive['seconds']:.1f}"
            f" | {naive_rps:,.0f} | {_cpu(naive)} | {naive['peak_mb']:.0f} |"
        )
        print(
            f"| {backend} | openpyxl + one ORM save per row | {args.rows:,} (extrapolated x{args.rows / naive_rows:g})"
            f" | {extrapolated:.0f} | {naive_rps:,.0f} | | |"
        )
        print(
            f"| {backend} | **ratio** naive / canlian, {args.rows:,} rows | | **{extrapolated / best['seconds']:.0f}x**"
            " | | | |"
        )
    print()
    for backend, runs, _naive in results:
        best = min(runs, key=lambda r: r["seconds"])
        print(f"{backend}: phases (s) {best['phases']}; counts {best['counts']}")
    print(f"target: <= {TARGET_SECONDS} s and <= {TARGET_MB} MB peak: {'MISSED' if failed else 'met'}")
    subprocess.run(["rm", "-rf", str(work)], check=False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
