"""Monthly payroll at province scale: ``payroll_generate`` for 1,000,000 care-allowance enrolments on PostgreSQL.

Creates a separate database ``canlian_bench_payroll`` (postgres@127.0.0.1:5432, trust auth), migrates it and
loads a care-allowance roll set-based (``COPY``, encrypted columns encrypted on the way in, as the demo
loader does): ``--enrolments`` persons with a current certificate, mostly grade 1–2 (a few grade 3–4
intellectual or mental: the extension), and a few who are no longer payable in the month (died, moved out,
certificate cancelled, entered 特困), each enrolled in ``care_allowance`` with a bank account.

Then, each in a fresh child process, ``payroll_generate`` is timed end to end (plan + insert of every line +
audit) by a district-staff user, with the phases its progress callback reports:

1. enrolments starting in the payroll month (one month evaluated, one line per payable enrolment);
2. the same enrolments starting 3 months earlier (arrears: four months evaluated, up to four lines each).

Or, with ``--history-months N``, the steady state a real district is in: the enrolments started N months
before the payroll month and a payroll was generated for each of those months (by ``payroll_generate``, in
order, untimed; kept with ``--keep`` and reused), so the timed payroll looks back over N earlier payrolls
(24 million lines for N = 24) for arrears and finds every month already paid.

Side by side: what a clerk does today, the month's roll in a spreadsheet, with pandas over the same rows
exported as CSV (read the roll and the registry extract, join, apply the rule, write the bank sheet).

    .venv/bin/python bench/payroll.py                              # 1,000,000 enrolments
    .venv/bin/python bench/payroll.py --enrolments 100000 --keep   # keep the database afterwards
    .venv/bin/python bench/payroll.py --reuse --keep               # reuse a kept database, skip the load
    .venv/bin/python bench/payroll.py --month 2024-01 --history-months 24 --skip-clerk --keep   # steady state

The database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (str(ROOT), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

DB_NAME = "canlian_bench_payroll"
MONTH = date(2023, 7, 1)
TARGET_SECONDS = 60.0
BATCH = 50_000
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志秀玉海燕红春梅文俊晓东丹佳怡子涵浩然宇轩欣"
AREAS = ("320506", "320506", "320506", "320524", "320586", "320505", "320583", "341221")
BANKS = ("吴中农商行", "苏州银行", "中国工商银行", "中国农业银行", "中国建设银行")
# care roll: categories as in DOMAIN.md §7 among severe persons; a few grade 3–4 intellectual/mental
CATEGORIES = (4, 6, 5, 1, 2, 3, 7)
CATEGORY_WEIGHTS = (59.32, 13.71, 9.89, 8.48, 5.06, 2.03, 1.51)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _check_char(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


# ---- the roll loader (child process) ----------------------------------------------------------------------


def load_roll(*, enrolments: int, seed: int, month: date) -> dict:
    """Persons, certificates, a few 特困 periods and one care-allowance enrolment each, set-based (COPY)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from canlian.accounts.services import system_user
    from canlian.benefits.models import Enrolment, Programme
    from canlian.registry import services
    from canlian.registry.demo import (
        CERTIFICATE_COLUMNS,
        PERIOD_COLUMNS,
        PERSON_COLUMNS,
        RowWriter,
    )
    from canlian.registry.models import Certificate, EconomicStatusPeriod, Person, Region

    rnd = random.Random(seed)
    system = system_user()
    towns = list(Region.objects.filter(level=Region.Level.TOWN).values_list("pk", flat=True))
    care = Programme.objects.get(code="care_allowance")
    now = timezone.now()
    person_writer = RowWriter(Person, PERSON_COLUMNS)
    cert_writer = RowWriter(Certificate, CERTIFICATE_COLUMNS)
    period_writer = RowWriter(EconomicStatusPeriod, PERIOD_COLUMNS)
    enrol_columns = (
        "person_id",
        "programme_id",
        "status",
        "start_month",
        "bank_name",
        "bank_account",
        "created_at",
    )
    enrol_writer = RowWriter(Enrolment, enrol_columns)
    pinyin: dict[str, tuple[str, str]] = {}
    seen: set[str] = set()
    counts = {"deceased": 0, "moved_out": 0, "cancelled": 0, "tekun": 0, "grade34": 0}
    born_from, born_span = date(1935, 1, 1), (date(2015, 12, 31) - date(1935, 1, 1)).days
    t0 = time.perf_counter()
    with transaction.atomic():
        done = 0
        while done < enrolments:
            size = min(BATCH, enrolments - done)
            persons, certs_for, periods_for = [], [], []
            for _ in range(size):
                while True:
                    born = born_from + timedelta(days=rnd.randrange(born_span))
                    first17 = f"{rnd.choice(AREAS)}{born:%Y%m%d}{rnd.randrange(1000):03d}"
                    id_number = first17 + _check_char(first17)
                    if id_number not in seen:
                        seen.add(id_number)
                        break
                name = rnd.choice(SURNAMES) + rnd.choice(GIVEN) + rnd.choice(("", rnd.choice(GIVEN)))
                if name not in pinyin:
                    pinyin[name] = services.name_pinyin(name)
                r = rnd.random()
                status, death = "active", None
                if r < 0.01:
                    status, death = "deceased", month - timedelta(days=rnd.randrange(1, 300))
                    counts["deceased"] += 1
                elif r < 0.015:
                    status = "moved_out"
                    counts["moved_out"] += 1
                persons.append(
                    (
                        name,
                        *pinyin[name],
                        id_number,
                        services.id_index(id_number),
                        "M" if int(first17[16]) % 2 else "F",
                        born,
                        "",
                        rnd.choice(towns),
                        None,
                        "",
                        rnd.choice(("urban", "rural")),
                        status,
                        death,
                        rnd.choice(("", "unemployed", "employed", "retired")),
                        "",
                        "",
                        "",
                        system.pk,
                        now,
                        now,
                    )
                )
                category = rnd.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
                grade = rnd.choice((1, 2))
                if category in (5, 6) and rnd.random() < 0.15:
                    grade = rnd.choice((3, 4))
                    counts["grade34"] += 1
                components = []
                if category == 7:
                    components = [{"category": 4, "grade": grade}, {"category": 5, "grade": 2}]
                issue = max(born, date(2014, 1, 1)) + timedelta(days=rnd.randrange(0, 3000))
                issue = min(issue, month - timedelta(days=30))
                cert_status, changed = "valid", None
                if rnd.random() < 0.005:
                    cert_status, changed = "cancelled", month - timedelta(days=rnd.randrange(1, 200))
                    counts["cancelled"] += 1
                number = f"{id_number}{category}{grade}"
                certs_for.append(
                    (
                        number,
                        services.certificate_index(number),
                        category,
                        grade,
                        components,
                        issue,
                        issue.replace(year=issue.year + 10)
                        if (issue.month, issue.day) != (2, 29)
                        else date(issue.year + 10, 3, 1),
                        cert_status,
                        changed,
                        "",
                        0,
                        True,
                        now,
                    )
                )
                tekun = rnd.random() < 0.005
                counts["tekun"] += tekun
                periods_for.append(tekun)
            ids = person_writer.write(persons, with_ids=True)
            cert_writer.write([(pk, *c) for pk, c in zip(ids, certs_for, strict=True)])
            period_writer.write(
                [
                    (pk, "tekun", date(2022, 1, 1), None, "基准测试", now)
                    for pk, tekun in zip(ids, periods_for, strict=True)
                    if tekun
                ]
            )
            enrol_writer.write(
                [
                    (
                        pk,
                        care.pk,
                        "active",
                        month,
                        rnd.choice(BANKS),
                        f"6217{rnd.randrange(10**15):015d}",
                        now,
                    )
                    for pk in ids
                ]
            )
            done += size
            print(f"  loaded {done:,}/{enrolments:,}", file=sys.stderr, flush=True)
    load_s = time.perf_counter() - t0
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return {"load_s": load_s, "enrolments": enrolments, **counts}


# ---- measured children -----------------------------------------------------------------------------------


def _bench_user():
    from canlian.accounts.models import Role, User

    user, _ = User.objects.get_or_create(
        username="bench_district",
        defaults={"role": Role.DISTRICT_STAFF, "full_name": "基准测试-区残联业务科室"},
    )
    return user


# The shipped standards start in 2025-05 (the earliest sourced value); the benchmark's months are earlier, so
# its own database carries Suzhou's 2025 values back to 2021 (benchmark only, not a real standard).
BENCH_STANDARDS = [
    ("common.dibao_urban_rural_split", "false"),
    ("common.dibao_standard", "1155.00"),
    ("care_allowance.urban_rural_split", "false"),
    ("care_allowance.amount", "160.00"),
    ("living_allowance.rate_dibao_severe", "0.35"),
    ("living_allowance.rate_unemployed_grade34_intellectual_mental", "0.60"),
]


def _bench_standards(user) -> None:
    from canlian.benefits.models import ParameterValue

    for name, value in BENCH_STANDARDS:
        ParameterValue.objects.get_or_create(
            name=name,
            valid_from=date(2021, 1, 1),
            defaults={
                "value": value,
                "reference": "基准测试：2025 年苏州标准前推（非真实取值）",
                "created_by": user,
            },
        )


def _reset_payrolls(start_month: date) -> None:
    """Remove earlier bench payrolls and set every enrolment's start month (set-based, outside the timing)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("TRUNCATE benefits_payrollline")
        cur.execute("DELETE FROM benefits_payroll")
        cur.execute("UPDATE benefits_enrolment SET start_month = %s", [start_month])
        cur.execute("VACUUM ANALYZE benefits_enrolment")


def _ensure_history(care, user, month: date, months: int) -> list[dict]:
    """Steady state: enrolments started ``months`` months before ``month`` and a payroll was generated for
    each of those months, in order, by ``payroll_generate`` itself (untimed; kept for ``--reuse``). Any
    payroll for ``month`` left by an earlier timed run is removed."""
    from django.db import connection

    from canlian.benefits.models import Payroll
    from canlian.benefits.services.payroll import payroll_generate

    first = add_months(month, -months)
    wanted = [add_months(first, k) for k in range(months)]
    have = sorted(Payroll.objects.filter(programme=care).exclude(month=month).values_list("month", flat=True))
    with connection.cursor() as cur:
        cur.execute("SELECT min(start_month), max(start_month) FROM benefits_enrolment")
        starts = cur.fetchone()
    built = []
    if have != wanted or starts != (first, first):
        _reset_payrolls(first)
        for m in wanted:
            t0 = time.perf_counter()
            p = payroll_generate(acting_user=user, programme=care, month=m)
            built.append(
                {"month": f"{m:%Y-%m}", "seconds": round(time.perf_counter() - t0, 1), "lines": p.line_count}
            )
            print(f"  history {m:%Y-%m}: {built[-1]}", file=sys.stderr, flush=True)
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE benefits_payrollline")
    else:
        old = Payroll.objects.filter(programme=care, month=month).first()
        if old is not None:
            with connection.cursor() as cur:
                cur.execute("DELETE FROM benefits_payrollline WHERE payroll_id = %s", [old.pk])
                cur.execute("DELETE FROM benefits_payroll WHERE id = %s", [old.pk])
                cur.execute("VACUUM ANALYZE benefits_payrollline")
    return built


def child_generate(args) -> dict:
    import eligibility as E

    E._django(args.db)
    from django.db import connection

    from canlian.benefits.models import PayrollLine, Programme
    from canlian.benefits.services.payroll import payroll_generate

    month = E._month(args.month)
    start = E._month(args.start)
    care = Programme.objects.get(code="care_allowance")
    user = _bench_user()
    _bench_standards(user)
    history = []
    if args.history_months:
        history = _ensure_history(care, user, month, args.history_months)
    else:
        _reset_payrolls(start)
    marks: list[tuple[str, float]] = []

    def progress(done: int, total: int, message: str = "") -> None:
        if not marks or marks[-1][0] != message:
            marks.append((message, time.perf_counter()))

    base = E.peak_mb()
    cpu0, pg0 = E.cpu_seconds(), E.backend_cpu_seconds()
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    marks.append(("开始", t0))
    payroll = payroll_generate(acting_user=user, programme=care, month=month, progress=progress)
    t1 = time.perf_counter()
    cpu1, pg1 = E.cpu_seconds(), E.backend_cpu_seconds()
    phases = {}
    for (name, at), (_next, nxt) in zip(marks, [*marks[1:], ("", t1)], strict=True):
        phases[name] = round(nxt - at, 2)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*), coalesce(sum(amount_fen), 0), count(DISTINCT for_month) "
            "FROM benefits_payrollline WHERE payroll_id = %s",
            [payroll.pk],
        )
        lines, total, months = cur.fetchone()
        cur.execute(
            "SELECT kind, count(*) FROM benefits_payrollline WHERE payroll_id = %s GROUP BY kind ORDER BY kind",
            [payroll.pk],
        )
        kinds = dict(cur.fetchall())
        cur.execute("SELECT count(*) FROM benefits_payrollline")
        table_lines = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM benefits_payrollline l JOIN benefits_enrolment e ON e.id = l.enrolment_id "
            "WHERE l.payroll_id = %s AND l.bank_name <> e.bank_name",
            [payroll.pk],
        )
        bank_mismatch = cur.fetchone()[0]
    # bank accounts are encrypted (a new nonce each time): compare decrypted values on a sample
    sample = list(
        PayrollLine.objects.filter(payroll=payroll)
        .order_by("?")
        .values_list("bank_account", "enrolment__bank_account")[:2000]
    )
    bank_mismatch += sum(a != b or not a.isdigit() for a, b in sample)
    return {
        "seconds": t1 - t0,
        "cpu_python_s": cpu1 - cpu0,
        "cpu_postgres_s": pg1 - pg0,
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "phases": phases,
        "lines": lines,
        "line_count": payroll.line_count,
        "total_fen": int(total),
        "payroll_total_fen": payroll.total_fen,
        "months_in_lines": months,
        "kinds": kinds,
        "lines_in_table": table_lines,
        "history_built": history,
        "bank_mismatch": bank_mismatch,
        "accounts_checked": len(sample),
        "peak_mb": E.peak_mb(),
        "baseline_mb": base,
    }


def child_load(args) -> dict:
    import eligibility as E

    E._django(args.db)
    from django.core.management import call_command

    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    migrate_s = time.perf_counter() - t0
    out = load_roll(enrolments=args.enrolments, seed=args.seed, month=E._month(args.month))
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]
    return {**out, "migrate_s": migrate_s, "postgresql": version}


def child_migrate(args) -> dict:
    """A kept database (``--reuse``) gets the migrations added since it was loaded."""
    import eligibility as E

    E._django(args.db)
    from django.core.management import call_command

    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    return {"migrate_s": time.perf_counter() - t0}


def child_export(args) -> dict:
    """Write the clerk's inputs as CSV: the roll (enrolments) and the registry extract (facts)."""
    import eligibility as E

    E._django(args.db)
    import polars as pl

    from canlian.benefits.selectors import facts_for_month, registry_frames

    month = E._month(args.month)
    facts = facts_for_month(registry_frames(), month)
    facts.write_csv(Path(args.out) / "facts.csv")
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT id, person_id, bank_name FROM benefits_enrolment ORDER BY id")
        roll = pl.DataFrame(cur.fetchall(), schema=["enrolment_id", "person_id", "bank_name"], orient="row")
    roll.write_csv(Path(args.out) / "roll.csv")
    return {"facts": facts.height, "roll": roll.height}


def child_clerk(args) -> dict:
    """The clerk's monthly roll with pandas: read both sheets, join, apply the care rule, write the bank sheet."""
    import eligibility as E
    import pandas as pd

    from canlian.benefits.parameters import shipped

    month = E._month(args.month)
    base = E.peak_mb()
    folder = Path(args.out)
    t0 = time.perf_counter()
    facts = pd.read_csv(
        folder / "facts.csv",
        parse_dates=E.PANDAS_DATES,
        dtype={"household_type": str, "cert_status": str},
    )
    roll = pd.read_csv(folder / "roll.csv")
    t1 = time.perf_counter()
    amounts = E.pandas_allowances(facts, month, shipped())
    sheet = roll.merge(amounts, on="person_id", how="left")
    sheet = sheet[sheet["care_allowance_eligible"].fillna(False).astype(bool)]
    sheet = sheet[["enrolment_id", "person_id", "bank_name", "care_allowance_amount_fen"]]
    t2 = time.perf_counter()
    sheet.to_csv(folder / "bank_sheet.csv", index=False)
    t3 = time.perf_counter()
    return {
        "seconds": t3 - t0,
        "read_s": t1 - t0,
        "rules_s": t2 - t1,
        "write_s": t3 - t2,
        "lines": len(sheet),
        "total_fen": int(sheet["care_allowance_amount_fen"].sum()),
        "peak_mb": E.peak_mb(),
        "baseline_mb": base,
    }


CHILDREN = {
    "generate": child_generate,
    "load": child_load,
    "migrate": child_migrate,
    "export": child_export,
    "clerk": child_clerk,
}


def run_child(kind: str, **options) -> dict:

    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind]
    for key, value in options.items():
        if value is not None:
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    out = subprocess.run(cmd, env=dict(os.environ), cwd=ROOT, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"child {kind} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Payroll generation for 1,000,000 enrolments on PostgreSQL")
    p.add_argument("--enrolments", type=int, default=1_000_000)
    p.add_argument("--month", default=f"{MONTH:%Y-%m}")
    p.add_argument("--arrears-months", type=int, default=3, help="second run: start this many months earlier")
    p.add_argument(
        "--history-months",
        type=int,
        default=0,
        help="steady state instead: enrolments started this many months earlier and a payroll was made for "
        "each of those months (built once, untimed; kept with --keep)",
    )
    p.add_argument("--seed", type=int, default=2023)
    p.add_argument("--db", default=DB_NAME)
    p.add_argument("--reuse", action="store_true", help="reuse a kept database (skip the load)")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--skip-clerk", action="store_true")
    p.add_argument("--json", help="also write every figure to this JSON file")
    p.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    p.add_argument("--start", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(CHILDREN[args.child](args), default=str), flush=True)
        return 0
    import eligibility as E

    month = E._month(args.month)
    report: dict = {"machine": E.machine(), "month": args.month}
    print(f"machine: {report['machine']}", flush=True)
    reuse = args.reuse and E.pg_database_exists(args.db)
    if not reuse:
        E.drop_database(args.db)
    E.bench_keys(args.db)
    if reuse:
        migrated = run_child("migrate", db=args.db)
        print(f"reusing database {args.db} (migrate: {migrated['migrate_s']:.1f} s)", flush=True)
    else:
        E.pg_admin(f'CREATE DATABASE "{args.db}"')
        load = run_child("load", db=args.db, enrolments=args.enrolments, seed=args.seed, month=args.month)
        report["load"] = load
        print(f"loaded {load['enrolments']:,} enrolments in {load['load_s']:.0f} s: {load}", flush=True)
    try:
        runs = [("no arrears", month)]
        if args.history_months:
            runs = [
                (f"after {args.history_months} monthly payrolls", add_months(month, -args.history_months))
            ]
        elif args.arrears_months:
            runs.append(
                (f"start {args.arrears_months} months earlier", add_months(month, -args.arrears_months))
            )
        report["runs"] = []
        for label, start in runs:
            r = run_child(
                "generate",
                db=args.db,
                month=args.month,
                start=f"{start:%Y-%m}",
                history_months=args.history_months or None,
            )
            r["label"] = label
            report["runs"].append(r)
            print(
                f"payroll_generate ({label}): {r['seconds']:.1f} s (CPU: Python {r['cpu_python_s']:.1f} s, "
                f"PostgreSQL {r['cpu_postgres_s']:.1f} s; load {r['load_before']:.1f}), {r['lines']:,} lines, "
                f"total {r['total_fen'] / 100:,.2f} yuan, peak {r['peak_mb']:,.0f} MB, phases {r['phases']}, "
                f"kinds {r['kinds']}, {r['lines_in_table']:,} lines in the table",
                flush=True,
            )
            assert r["lines"] == r["line_count"] and r["total_fen"] == r["payroll_total_fen"], r
            assert r["bank_mismatch"] == 0 and r["accounts_checked"] > 0, r
        if not args.skip_clerk and E._has("pandas"):
            with tempfile.TemporaryDirectory(prefix="canlian-bench-clerk-") as folder:
                run_child("export", db=args.db, month=args.month, out=folder)
                clerk = run_child("clerk", month=args.month, out=folder)
            report["clerk"] = clerk
            first = report["runs"][0]
            print(
                f"clerk's pandas roll: {clerk['seconds']:.1f} s for {clerk['lines']:,} lines "
                f"(total {clerk['total_fen'] / 100:,.2f}); canlian payroll_generate {first['seconds']:.1f} s",
                flush=True,
            )
            assert clerk["lines"] == first["lines"] and clerk["total_fen"] == first["total_fen"], (
                clerk,
                first,
            )
    finally:
        if not args.keep:
            E.drop_database(args.db)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    print("\n== summary ==")
    for r in report["runs"]:
        cpu = r["cpu_python_s"] + r["cpu_postgres_s"]
        print(
            f"{args.enrolments:,} enrolments, {r['label']}: {r['seconds']:.1f} s wall for {r['lines']:,} lines, "
            f"CPU {cpu:.1f} s (Python {r['cpu_python_s']:.1f} + PostgreSQL {r['cpu_postgres_s']:.1f}), "
            f"load {r['load_before']:.1f}, peak RSS {r['peak_mb']:,.0f} MB "
            f"(target: ≤ {TARGET_SECONDS:.0f} s for 1,000,000 enrolments)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
