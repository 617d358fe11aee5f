"""Shared by ``bench/indicators.py`` and ``bench/worklist.py``: a service-records database at district scale on
PostgreSQL, loaded set-based (``COPY`` through ``registry.demo.writer.RowWriter``), with its truth.

``--persons`` persons (each with a certificate) across the district's towns and about ``--records`` service
records of the four programmes on the case engine, spread over the years up to today:

- custodial care: cases in every state (some persons placed twice), their history rows (town review,
  approval, placement, end) and their return visits (due items: done, open, overdue);
- child rehabilitation: cases with their service months, and autism pathway events (first screen, rescreen,
  diagnosis, intervention);
- assistive devices: cases with their fitting (delivered or not);
- home renovation: cases with a household key (two persons of one household sometimes), accepted or on the way;

plus a few settlements waiting for the district. While it writes the rows the generator computes, in plain
Python over what it wrote, every indicator of ``TRUTH_YEAR`` by town and every bench user's worklist (counts,
overdue, due dates), saved beside the database so that ``--reuse`` can check against it.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG = "postgres://postgres@127.0.0.1:5432"
DB_PREFIX = "canlian_bench_services"  # + the process id: two runs at once never share (or drop) a database
BATCH = 50_000
FIRST_DAY = date(2020, 1, 1)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志秀玉海燕红春梅文俊晓东丹佳怡子涵浩然宇轩欣"
CATEGORIES = (4, 6, 5, 1, 2, 3, 7)
CATEGORY_WEIGHTS = (59.32, 13.71, 9.89, 8.48, 5.06, 2.03, 1.51)
# shares of ``--records`` (3,000,000 by default) per table
SHARES = {
    "custodial_cases": 0.04,  # + ~4 history rows and ~6 due items each
    "child_cases": 0.017,  # + ~6 service months each
    "autism_children": 0.06,  # ~1.4 events each
    "device_cases": 0.13,  # + a fitting and a history row each
    "renovation_cases": 0.027,  # + a history row each
}


def _check_char(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def age_on(born: date, on: date) -> int:
    years = on.year - born.year
    return years - 1 if (on.month, on.day) < (born.month, born.day) else years


# ---- database and Django ----------------------------------------------------------------------------------


def add_db_arguments(parser) -> None:
    """``--db``, ``--keep``, ``--reuse``, shared by the benches on this database."""
    parser.add_argument("--db", help=f"database name (default: {DB_PREFIX}_<pid>, new for each run)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse a kept database, named by --db (no reload)"
    )


def db_name(args, parser) -> str:
    """The database of this run: ``--db``, else a name no other run uses; ``--reuse`` needs ``--db``."""
    if args.reuse and not args.db:
        parser.error("--reuse 需要用 --db 指明保留的数据库 / --reuse requires --db NAME")
    return args.db or f"{DB_PREFIX}_{os.getpid()}"


def backend_cpu() -> float:
    """CPU seconds of this connection's PostgreSQL backend so far (same machine: /proc; parallel workers not
    included), 0 when it cannot be read."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def keys_path(db: str) -> Path:
    return Path(tempfile.gettempdir()) / f"canlian-bench-{db}.keys"


def truth_path(db: str) -> Path:
    return Path(tempfile.gettempdir()) / f"canlian-bench-{db}.truth.json"


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def pg_database_exists(db: str) -> bool:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone() is not None


def drop_database(db: str) -> None:
    pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    keys_path(db).unlink(missing_ok=True)
    truth_path(db).unlink(missing_ok=True)


def setup_django(db: str) -> None:
    """Point Django at ``db`` with throw-away keys (kept in a private file so a kept database can be reused)
    and a throw-away data folder; never the embedded database or the data folder's key file."""
    import atexit

    path = keys_path(db)
    if path.exists():
        enc, idx = path.read_text().split()
    else:
        enc = base64.b64encode(secrets.token_bytes(32)).decode()
        idx = base64.b64encode(secrets.token_bytes(32)).decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{enc}\n{idx}\n")
    os.environ["DATABASE_URL"] = f"{PG}/{db}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    os.environ["CANLIAN_ENCRYPTION_KEY"], os.environ["CANLIAN_INDEX_KEY"] = enc, idx
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    if not os.environ.get("CANLIAN_DATA_DIR"):
        folder = tempfile.mkdtemp(prefix=f"{db}-data-")
        atexit.register(shutil.rmtree, folder, True)
        os.environ["CANLIAN_DATA_DIR"] = folder
    import django

    django.setup()


def prepare(db: str, *, persons: int, records: int, seed: int, reuse: bool) -> dict:
    """Create, migrate and load ``db`` (or reuse it); returns the truth."""
    if reuse and pg_database_exists(db) and truth_path(db).exists():
        setup_django(db)
        truth = json.loads(truth_path(db).read_text())
        from django.utils import timezone

        if truth["today"] != timezone.localdate().isoformat():
            raise SystemExit(
                f"基准数据库按 {truth['today']} 生成，今天的待办已不同：请去掉 --reuse 重新生成 / regenerate"
            )
        return truth
    drop_database(db)
    pg_admin(f'CREATE DATABASE "{db}"')
    setup_django(db)
    from django.core.management import call_command

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"  migrated in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    truth = load(persons=persons, records=records, seed=seed)
    truth_path(db).write_text(json.dumps(truth, ensure_ascii=False))
    return truth


# ---- the loader ---------------------------------------------------------------------------------------------


def _users(towns, institutions):
    from canlian.accounts.models import Role, User

    def user(username, role, full_name, **kw):
        u, _ = User.objects.get_or_create(
            username=username, defaults={"role": role, "full_name": full_name, **kw}
        )
        u.set_password("bench-password-1")
        u.save()
        return u

    return {
        "district": user("bench_district", Role.DISTRICT_STAFF, "基准-区残联审核人"),
        "town": user("bench_town", Role.TOWN_STAFF, "基准-镇(街道)经办人", jurisdiction_id=towns[0]),
        "maker": user("bench_maker", Role.TOWN_STAFF, "基准-镇(街道)初审人", jurisdiction_id=towns[1]),
        "institution": user(
            "bench_institution",
            Role.INSTITUTION_STAFF,
            "基准-托养机构工作人员",
            institution_id=institutions["custodial_provider"][0],
        ),
    }


def _institutions(towns, system) -> dict[str, list[int]]:
    from canlian.institutions.models import Institution

    out = {}
    for kind, n in (("custodial_provider", 12), ("rehab_institution", 8), ("device_service_point", 4)):
        out[kind] = []
        for i in range(n):
            inst, _ = Institution.objects.get_or_create(
                name=f"基准{Institution.Kind(kind).label}{i + 1:02d}",
                defaults={
                    "kind": kind,
                    "town_id": towns[i % len(towns)],
                    "designated_from": date(2018, 1, 1),
                    "designated_to": date(2030, 12, 31),
                    "state": "designated",
                    "created_by": system,
                },
            )
            out[kind].append(inst.pk)
    return out


def load(*, persons: int, records: int, seed: int) -> dict:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from django.utils import timezone

    from canlian.accounts.services import system_user
    from canlian.casework.child_rehab_models import AutismScreening, ChildRehabMonth
    from canlian.casework.device_models import DeviceCatalogVersion, DeviceFitting, DeviceItem
    from canlian.casework.models import Case, DueItem, Settlement
    from canlian.casework.programme import parameters
    from canlian.common.models import WorkflowHistory
    from canlian.registry import services
    from canlian.registry.demo import CERTIFICATE_COLUMNS, PERSON_COLUMNS
    from canlian.registry.demo.writer import RowWriter
    from canlian.registry.models import Certificate, Person, Region

    rnd = random.Random(seed)
    today = timezone.localdate()
    year = today.year - 1
    y0, y1 = date(year, 1, 1), date(year, 12, 31)
    params = parameters()
    age_lo = int(params.at("custodial_care.age_min", date(2023, 1, 1)))
    age_hi = int(params.at("custodial_care.age_max", date(2023, 1, 1)))
    visit_days = int(params.at("custodial_care.visit_interval_days", today))
    tz = timezone.get_current_timezone()
    system = system_user()
    now = timezone.now()
    towns = list(Region.objects.filter(level=Region.Level.TOWN).order_by("code").values_list("pk", flat=True))
    insts = _institutions(towns, system)
    users = _users(towns, insts)
    version = DeviceCatalogVersion.objects.get_or_create(
        version="基准目录", defaults={"effective_from": date(2018, 1, 1), "imported_by": system}
    )[0]
    item = DeviceItem.objects.get_or_create(
        version=version,
        code="122203",
        defaults={"name": "轮椅", "cap": "1000.00", "replacement_years": 5, "categories": [4]},
    )[0]
    case_ct = ContentType.objects.get_for_model(Case).pk
    span = (today - FIRST_DAY).days

    def day_between(a: date, b: date) -> date:
        return a + timedelta(days=rnd.randrange(max(1, (b - a).days + 1)))

    def at(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, 10, 0, tzinfo=tz)

    n_share = {k: max(1, int(v * records)) for k, v in SHARES.items()}
    t0 = time.perf_counter()

    # -- persons and certificates ---------------------------------------------------------------------------
    person_writer = RowWriter(Person, PERSON_COLUMNS)
    cert_writer = RowWriter(Certificate, CERTIFICATE_COLUMNS)
    born_from, born_span = date(1940, 1, 1), (date(2023, 12, 31) - date(1940, 1, 1)).days
    birth, employ, town_of, cert_of, names = [], [], [], [], []  # by person index
    ids: list[int] = []
    pinyin: dict[str, tuple[str, str]] = {}
    seen: set[str] = set()
    with transaction.atomic():
        done = 0
        while done < persons:
            size = min(BATCH, persons - done)
            prow, crow = [], []
            for _ in range(size):
                while True:
                    born = born_from + timedelta(days=rnd.randrange(born_span))
                    first17 = f"320506{born:%Y%m%d}{rnd.randrange(1000):03d}"
                    id_number = first17 + _check_char(first17)
                    if id_number not in seen:
                        seen.add(id_number)
                        break
                name = rnd.choice(SURNAMES) + rnd.choice(GIVEN) + rnd.choice(("", rnd.choice(GIVEN)))
                if name not in pinyin:
                    pinyin[name] = services.name_pinyin(name)
                town = rnd.choice(towns)
                emp = rnd.choice(("", "unemployed", "employed", "retired"))
                birth.append(born)
                employ.append(emp)
                town_of.append(town)
                names.append(name)
                prow.append(
                    (
                        name,
                        *pinyin[name],
                        id_number,
                        services.id_index(id_number),
                        "M" if int(first17[16]) % 2 else "F",
                        born,
                        "",
                        town,
                        None,
                        "",
                        rnd.choice(("urban", "rural")),
                        "active",
                        None,
                        emp,
                        "",
                        "",
                        "",
                        system.pk,
                        now,
                        now,
                    )
                )
                category = rnd.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
                grade = rnd.randint(1, 4)
                components = []
                if category == 7:
                    components = [
                        {"category": rnd.choice((1, 2, 4)), "grade": rnd.randint(1, 4)},
                        {"category": rnd.choice((3, 5, 6)), "grade": rnd.randint(1, 4)},
                    ]
                issue = max(born, date(2012, 1, 1)) + timedelta(days=rnd.randrange(0, 3650))
                issue = min(issue, today - timedelta(days=1))
                until = date(issue.year + 10, issue.month, min(issue.day, 28))
                status, changed = "valid", None
                if rnd.random() < 0.03:
                    status, changed = "cancelled", day_between(issue, max(issue, today - timedelta(days=1)))
                cert_of.append((category, grade, components, issue, until, status, changed))
                number = f"{id_number}{category}{grade}"
                crow.append(
                    (
                        number,
                        services.certificate_index(number),
                        category,
                        grade,
                        components,
                        issue,
                        until,
                        status,
                        changed,
                        "",
                        0,
                        True,
                        now,
                    )
                )
            batch_ids = person_writer.write(prow, with_ids=True)
            cert_writer.write([(pk, *c) for pk, c in zip(batch_ids, crow, strict=True)])
            ids += batch_ids
            done += size
            print(f"  persons {done:,}/{persons:,}", file=sys.stderr, flush=True)
    adults = [i for i in range(persons) if date(1950, 1, 1) <= birth[i] <= date(2008, 12, 31)]
    children = [i for i in range(persons) if birth[i] >= date(2016, 1, 1)]

    truth: dict = {"today": today.isoformat(), "year": year, "indicators": {}, "worklist": {}}
    ind = truth["indicators"]
    open_due: list[tuple] = []  # (case town, case institution, due_on)
    reviews: list[tuple] = []  # (programme, move, town, case id placeholder, since, maker)

    case_columns = (
        "person_id",
        "programme",
        "town_id",
        "institution_id",
        "state",
        "opened_on",
        "closed_on",
        "close_reason",
        "data",
        "source",
        "version",
        "created_by_id",
        "created_at",
        "updated_at",
    )
    case_writer = RowWriter(Case, case_columns)
    hist_writer = RowWriter(
        WorkflowHistory,
        (
            "content_type_id",
            "object_id",
            "workflow",
            "move",
            "move_label",
            "from_state",
            "to_state",
            "by_id",
            "at",
            "note",
            "data",
        ),
    )

    def history(case_id, code, move, frm, to, by, day):
        return (case_ct, str(case_id), f"case.{code}", move, move, frm, to, by, at(day), "", {})

    def case_town(i: int) -> int:
        return town_of[i] if rnd.random() > 0.03 else rnd.choice(towns)  # a few moved since

    def qualifies(i: int, start: date) -> bool:
        if not age_lo <= age_on(birth[i], start) <= age_hi or employ[i] == "employed":
            return False
        cat, grade, comps, issue, until, status, changed = cert_of[i]
        if not (issue <= start <= until and (status == "valid" or (changed is not None and changed > start))):
            return False
        parts = [(c["category"], c["grade"]) for c in comps] if cat == 7 and comps else [(cat, grade)]
        return any(c in (5, 6) or (c in (1, 4) and g <= 2) for c, g in parts)

    def review_due(since: date) -> date:
        return since + timedelta(days=int(params.at("worklist.review_days", since)))

    # -- custodial care ---------------------------------------------------------------------------------------
    with transaction.atomic():
        rows, meta = [], []
        for _ in range(n_share["custodial_cases"]):
            i = rnd.choice(adults)
            for _k in range(2 if rnd.random() < 0.15 else 1):
                opened = FIRST_DAY + timedelta(days=rnd.randrange(span))
                r = rnd.random()
                state = (
                    "placed"
                    if r < 0.85
                    else "applied"
                    if r < 0.90
                    else "town_reviewed"
                    if r < 0.94
                    else "approved"
                    if r < 0.97
                    else "rejected"
                )
                closed, inst = None, None
                if state == "placed":
                    inst = rnd.choice(insts["custodial_provider"])
                    end = opened + timedelta(days=rnd.randrange(30, 1500))
                    if end < today:
                        state, closed = "ended", end
                elif state == "rejected":
                    closed = opened + timedelta(days=3)
                t = case_town(i)
                rows.append(
                    (
                        ids[i],
                        "custodial_care",
                        t,
                        inst,
                        state,
                        opened,
                        closed,
                        "基准" if closed else "",
                        {"mode": "boarding"} if inst else {},
                        "import",
                        0,
                        system.pk,
                        now,
                        now,
                    )
                )
                meta.append((i, t, inst, state, opened, closed))
        case_ids = case_writer.write(rows, with_ids=True)
        hist, dues = [], []
        firsts: dict[int, tuple] = {}
        chain = ("applied", "town_reviewed", "approved", "placed", "ended")
        moves = {"town_reviewed": "town_review", "approved": "approve", "placed": "place", "ended": "end"}
        for cid, (i, t, inst, state, opened, closed) in zip(case_ids, meta, strict=True):
            if state in ("placed", "ended"):
                key = (opened, cid)
                if i not in firsts or key < firsts[i][0]:
                    firsts[i] = (key, t)
                # return visits, every visit_days from the start, up to the end (or a week ahead)
                last = min(closed or today + timedelta(days=7), opened + timedelta(days=visit_days * 8))
                due, seq = opened + timedelta(days=visit_days), 1
                while due <= last:
                    done_on = None
                    if due < today - timedelta(days=45) and rnd.random() < 0.97:
                        done_on = due + timedelta(days=rnd.randrange(0, 5))
                    dues.append(
                        (cid, "return_visit", seq, due, done_on, system.pk if done_on else None, "", False)
                    )
                    if done_on is None:
                        open_due.append((t, inst, due))
                    due, seq = due + timedelta(days=visit_days), seq + 1
            if state == "rejected":
                hist.append(
                    history(cid, "custodial_care", "reject", "applied", "rejected", users["maker"].pk, closed)
                )
                continue
            steps = {"town_reviewed": 1, "approved": 2, "placed": 3, "ended": 4}.get(state, 0)
            for frm, to in list(itertools.pairwise(chain))[:steps]:
                day = {
                    "town_reviewed": opened + timedelta(days=1),
                    "approved": opened + timedelta(days=2),
                    "placed": opened,
                    "ended": closed,
                }[to]
                by = users["maker"].pk if to == "town_reviewed" else system.pk
                hist.append(history(cid, "custodial_care", moves[to], frm, to, by, day))
            if state == "town_reviewed":
                reviews.append(
                    ("custodial_care", "approve", t, inst, opened + timedelta(days=1), users["maker"].pk)
                )
        hist_writer.write(hist)
        RowWriter(
            DueItem, ("case_id", "kind", "seq", "due_on", "done_on", "done_by_id", "note", "cancelled")
        ).write(dues)
        counts: dict[int, int] = defaultdict(int)
        for i, ((opened, _), t) in firsts.items():
            if y0 <= opened <= y1 and qualifies(i, opened):
                counts[t] += 1
        ind["custodial_new"] = dict(counts)
        print(
            f"  custodial {len(case_ids):,} cases, {len(hist):,} history, {len(dues):,} due", file=sys.stderr
        )

    # -- child rehabilitation: cases + service months; autism events ---------------------------------------------
    with transaction.atomic():
        rows, meta = [], []
        for _ in range(n_share["child_cases"]):
            i = rnd.choice(children)
            for _k in range(2 if rnd.random() < 0.1 else 1):
                opened = FIRST_DAY + timedelta(days=rnd.randrange(span))
                r = rnd.random()
                state = "in_service" if r < 0.8 else "assessed" if r < 0.9 else "applied"
                inst = rnd.choice(insts["rehab_institution"]) if state == "in_service" else None
                t = case_town(i)
                rows.append(
                    (
                        ids[i],
                        "child_rehab",
                        t,
                        inst,
                        state,
                        opened,
                        None,
                        "",
                        {},
                        "import",
                        0,
                        system.pk,
                        now,
                        now,
                    )
                )
                meta.append((i, t, inst, state, opened))
        case_ids = case_writer.write(rows, with_ids=True)
        months, hist = [], []
        first_month: dict[int, tuple] = {}
        for cid, (i, t, inst, state, opened) in zip(case_ids, meta, strict=True):
            if state == "assessed":
                hist.append(
                    history(cid, "child_rehab", "assess", "applied", "assessed", users["maker"].pk, opened)
                )
                reviews.append(("child_rehab", "approve", t, inst, opened, users["maker"].pk))
            if state != "in_service":
                continue
            hist.append(history(cid, "child_rehab", "choose", "approved", "in_service", system.pk, opened))
            m = opened.replace(day=1)
            for _k in range(rnd.randint(1, 12)):
                if m > today:
                    break
                months.append(
                    (
                        cid,
                        m,
                        inst,
                        20,
                        4,
                        "20000.00",
                        "0.00",
                        "1500.00",
                        "1500.00",
                        "0.00",
                        "",
                        0,
                        "0.00",
                        "",
                        system.pk,
                        now,
                    )
                )
                if y0 <= m <= y1:
                    # the first service month of the year, ties on the month broken by the row order (id)
                    key = (m, len(months))
                    if i not in first_month or key < first_month[i][0]:
                        first_month[i] = (key, t)
                m = (m + timedelta(days=32)).replace(day=1)
        RowWriter(
            ChildRehabMonth,
            (
                "case_id",
                "month",
                "institution_id",
                "days_attended",
                "age",
                "year_cap",
                "used_before",
                "amount_asked",
                "amount_allowed",
                "amount_cut",
                "cut_reason",
                "meal_days",
                "meal_amount",
                "meal_reason",
                "recorded_by_id",
                "recorded_at",
            ),
        ).write(months)
        hist_writer.write(hist)
        counts = defaultdict(int)
        for _key, t in first_month.values():
            counts[t] += 1
        ind["child_rehab_served"] = dict(counts)

        events = []
        cohort = {
            s: {} for s in ("first", "rescreen", "diagnosis", "intervention")
        }  # stage -> i -> [(on, res, t)]
        for i in rnd.sample(children, min(len(children), n_share["autism_children"])):
            t = case_town(i)
            for _k in range(2 if rnd.random() < 0.05 else 1):
                on = day_between(max(birth[i], FIRST_DAY), today - timedelta(days=1))
                path = [("first", "positive" if rnd.random() < 0.3 else "negative")]
                if path[-1][1] == "positive" and rnd.random() < 0.8:
                    path.append(("rescreen", "positive" if rnd.random() < 0.5 else "negative"))
                    if path[-1][1] == "positive" and rnd.random() < 0.8:
                        path.append(("diagnosis", "confirmed" if rnd.random() < 0.6 else "excluded"))
                        if path[-1][1] == "confirmed" and rnd.random() < 0.8:
                            path.append(("intervention", "started"))
                day = on
                for stage, result in path:
                    if day > today:
                        break
                    if any(d == day for d, _r, _t in cohort[stage].get(i, [])):
                        break
                    events.append((ids[i], t, stage, day, result, "基准医院", "", system.pk, now))
                    cohort[stage].setdefault(i, []).append((day, result, t))
                    day = day + timedelta(days=rnd.randrange(0, 60))
        RowWriter(
            AutismScreening,
            (
                "person_id",
                "town_id",
                "stage",
                "on",
                "result",
                "place",
                "note",
                "recorded_by_id",
                "recorded_at",
            ),
        ).write(events)

        def first_in_year(stage, result=None):
            out = {}
            for i, evs in cohort[stage].items():
                evs = sorted(e for e in evs if y0 <= e[0] <= y1 and (result is None or e[1] == result))
                if evs:
                    out[i] = evs[0]
            return out

        def by_town(found, keep=None):
            c = defaultdict(int)
            for i, (_d, _r, t) in found.items():
                if keep is None or i in keep:
                    c[t] += 1
            return dict(c)

        ind["autism_first_screened"] = by_town(first_in_year("first"))
        for code, stage, result, nxt in (
            ("autism_rescreen_rate", "first", "positive", "rescreen"),
            ("autism_diagnosis_rate", "rescreen", "positive", "diagnosis"),
            ("autism_intervention_rate", "diagnosis", "confirmed", "intervention"),
        ):
            base = first_in_year(stage, result)
            followed = {
                i for i, (d, _r, _t) in base.items() if any(e[0] >= d for e in cohort[nxt].get(i, []))
            }
            ind[code] = {"numerator": by_town(base, followed), "denominator": by_town(base)}
        print(
            f"  child rehab {len(case_ids):,} cases, {len(months):,} months, {len(events):,} autism events",
            file=sys.stderr,
            flush=True,
        )

    # -- assistive devices ------------------------------------------------------------------------------------------
    with transaction.atomic():
        rows, meta = [], []
        for _ in range(n_share["device_cases"]):
            i = rnd.randrange(persons)
            opened = FIRST_DAY + timedelta(days=rnd.randrange(span))
            r = rnd.random()
            state = "fitted" if r < 0.85 else "assessed" if r < 0.92 else "town_reviewed"
            t = case_town(i)
            rows.append(
                (ids[i], "devices", t, None, state, opened, None, "", {}, "import", 0, system.pk, now, now)
            )
            meta.append((i, t, state, opened))
        case_ids = case_writer.write(rows, with_ids=True)
        fits, hist = [], []
        first_fit: dict[int, tuple] = {}
        for n, (cid, (i, t, state, opened)) in enumerate(zip(case_ids, meta, strict=True)):
            fitted = opened + timedelta(days=rnd.randrange(5, 90)) if state == "fitted" else None
            if fitted and fitted > today:
                fitted = today
            fits.append(
                (
                    cid,
                    version.pk,
                    item.pk,
                    "",
                    item.pk if fitted else None,
                    "1000.00" if fitted else None,
                    "800.00" if fitted else None,
                    "200.00" if fitted else None,
                    fitted,
                )
            )
            move = {"fitted": "fit", "assessed": "assess", "town_reviewed": "town_review"}[state]
            by = users["maker"].pk if state == "assessed" else system.pk
            hist.append(history(cid, "devices", move, "?", state, by, fitted or opened))
            if state == "assessed":
                reviews.append(("devices", "approve", t, None, opened, by))
            if fitted and y0 <= fitted <= y1:
                key = (fitted, n)
                if i not in first_fit or key < first_fit[i][0]:
                    first_fit[i] = (key, t)
        RowWriter(
            DeviceFitting,
            (
                "case_id",
                "version_id",
                "requested_id",
                "village_worker",
                "item_id",
                "price",
                "subsidy",
                "own_share",
                "fitted_on",
            ),
        ).write(fits)
        hist_writer.write(hist)
        counts = defaultdict(int)
        for _key, t in first_fit.values():
            counts[t] += 1
        ind["devices_fitted"] = dict(counts)

    # -- home renovation -----------------------------------------------------------------------------------------
    with transaction.atomic():
        rows, meta = [], []
        last_household = None
        for _ in range(n_share["renovation_cases"]):
            i = rnd.randrange(persons)
            t = case_town(i)
            household = f"{t}:基准路{rnd.randrange(10**6)}号"
            if last_household and rnd.random() < 0.1:
                t, household = last_household  # a second person of the same household
            last_household = (t, household)
            opened = FIRST_DAY + timedelta(days=rnd.randrange(span))
            r = rnd.random()
            state = (
                "accepted" if r < 0.8 else "works_done" if r < 0.87 else "planned" if r < 0.94 else "applied"
            )
            closed = None
            if state == "accepted":
                closed = min(today, opened + timedelta(days=rnd.randrange(30, 200)))
            data = {"household": household} if rnd.random() < 0.95 else {}
            rows.append(
                (
                    ids[i],
                    "renovation",
                    t,
                    None,
                    state,
                    opened,
                    closed,
                    "",
                    data,
                    "import",
                    0,
                    system.pk,
                    now,
                    now,
                )
            )
            meta.append((i, t, state, opened, closed, data.get("household")))
        case_ids = case_writer.write(rows, with_ids=True)
        hist, households = [], defaultdict(set)
        for cid, (i, t, state, opened, closed, household) in zip(case_ids, meta, strict=True):
            if state == "accepted" and y0 <= closed <= y1:
                households[t].add(household or f"person:{ids[i]}")
            if state == "planned":
                hist.append(
                    history(cid, "renovation", "plan", "surveyed", "planned", users["maker"].pk, opened)
                )
                reviews.append(("renovation", "approve", t, None, opened, users["maker"].pk))
            elif state == "works_done":
                # the bench town clerk completed a third of their own town's works: not theirs to accept
                by = users["town"].pk if t == towns[0] and rnd.random() < 1 / 3 else users["maker"].pk
                hist.append(history(cid, "renovation", "complete", "in_works", "works_done", by, opened))
                reviews.append(("renovation", "accept", t, None, opened, by))
            elif state == "accepted":
                hist.append(history(cid, "renovation", "accept", "works_done", "accepted", system.pk, closed))
        hist_writer.write(hist)
        ind["renovation_done"] = {t: len(k) for t, k in households.items()}

    # -- settlements waiting for the district ----------------------------------------------------------------------
    with transaction.atomic():
        settlements = []
        for inst in insts["custodial_provider"]:
            for k in range(1, 13):
                month = (today.replace(day=1) - timedelta(days=31 * k)).replace(day=1)
                settlements.append(
                    Settlement(
                        institution_id=inst,
                        programme="custodial_care",
                        month=month,
                        cases=10,
                        amount_asked="9000.00",
                        state="submitted",
                        created_by=users["institution"] if inst == insts["custodial_provider"][0] else system,
                    )
                )
        Settlement.objects.bulk_create(settlements)
        settlement_ct = ContentType.objects.get_for_model(Settlement).pk
        submitted, hist = [], []
        for s in Settlement.objects.all():
            day = min(today, s.month + timedelta(days=40))
            hist.append(
                (
                    settlement_ct,
                    str(s.pk),
                    "settlement",
                    "submit",
                    "提交",
                    "draft",
                    "submitted",
                    s.created_by_id,
                    at(day),
                    "",
                    {},
                )
            )
            submitted.append(day)
        hist_writer.write(hist)

    # -- the worklist truth per bench user ----------------------------------------------------------------------------
    horizon = today + timedelta(days=7)
    district, clerk = users["district"], users["town"]
    inst0 = insts["custodial_provider"][0]

    def summary(dues, review_days_list):
        all_due = sorted(dues + review_days_list)
        return {
            "count": len(all_due),
            "overdue": sum(1 for d in all_due if d < today),
            "first_due": [d.isoformat() for d in all_due[:200]],
        }

    d_due = [d for _t, _i, d in open_due if d <= horizon]
    d_reviews = [review_due(s) for p, m, _t, _i, s, by in reviews if by != district.pk]
    d_reviews += [review_due(d) for d in submitted]  # settlements: the district user submitted none
    truth["worklist"]["district"] = summary(d_due, d_reviews)
    c_due = [d for t, _i, d in open_due if d <= horizon and t == towns[0]]
    c_reviews = [
        review_due(s) for p, m, t, _i, s, by in reviews if m == "accept" and t == towns[0] and by != clerk.pk
    ]
    truth["worklist"]["town"] = summary(c_due, c_reviews)
    truth["worklist"]["institution"] = summary(
        [d for _t, i, d in open_due if d <= horizon and i == inst0], []
    )
    truth["load_s"] = round(time.perf_counter() - t0, 1)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM registry_person")
        truth["persons"] = cur.fetchone()[0]
        total = 0
        for table in (
            "casework_case",
            "casework_dueitem",
            "common_workflowhistory",
            "casework_childrehabmonth",
            "casework_autismscreening",
            "casework_devicefitting",
        ):
            cur.execute(f"SELECT count(*) FROM {table}")
            n = cur.fetchone()[0]
            truth.setdefault("tables", {})[table] = n
            total += n
        truth["records"] = total
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    truth["indicators"] = {
        code: (
            {str(k): v for k, v in val.items()}
            if "numerator" not in val
            else {part: {str(k): v for k, v in val[part].items()} for part in val}
        )
        for code, val in ind.items()
    }
    return truth


def bench_users() -> dict:
    from canlian.accounts.models import User

    return {k: User.objects.get(username=f"bench_{k}") for k in ("district", "town", "institution")}


def machine() -> dict:
    import platform

    cpu, mem = "?", "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": mem, "python": platform.python_version()}


def peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
