"""Benchmark: the audit log's hash chain at 1,000,000 rows on SQLite and PostgreSQL.

    .venv/bin/python bench/audit_chain.py                                  # 1,000,000 rows, 3 verify runs
    .venv/bin/python bench/audit_chain.py --rows 100000 --backends sqlite
    .venv/bin/python bench/audit_chain.py --pg-url postgres://postgres@127.0.0.1:5432/mydb

Per backend, a fresh database (SQLite in a temporary data folder; PostgreSQL: the database of ``--pg-url``,
dropped and created here, default ``canlian_bench_audit``) is filled with ``--rows`` audit rows through
``audit_record_many`` (the bulk writer imports use), in batches of 50,000. Then, each in its own process
(so the peak RSS is that of the one walk):

- ``canlian audit verify`` (``auditchain.audit_verify``) ``--runs`` times: median, spread, peak RSS;
- the floor: the same rows read through the same cursor in the same batches, nothing computed;
- what a developer would otherwise write: the ORM's ``.iterator()`` over the model, hashing each instance.

Bulk writing is timed too: 100,000 rows chained (``audit_record_many``) against the same rows written
unchained (``insert_rows`` with the chain columns filled with constants), in a transaction rolled back.
Correctness: every verify must report the chain intact with the row count; then one row in the middle is
edited past the triggers and verify must name it. Prints a table; results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import django_setup_dev  # noqa: E402  (bench/ is the script's folder)

FILL_BATCH = 50_000
BULK_ROWS = int(os.environ.get("CANLIAN_BENCH_AUDIT_BULK", 100_000))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _entries(start: int, count: int) -> list[dict]:
    return [
        {
            "object_type": "registry.person",
            "object_id": start + i,
            "object_repr": f"张{(start + i) % 9973}（3205**********{(start + i) % 10000:04d}）",
            "changes": {
                "id_number": [None, f"3205**********{(start + i) % 10000:04d}"],
                "category": [None, (start + i) % 7 + 1],
                "grade": [None, (start + i) % 4 + 1],
                "town": [None, "甪直镇"],
            },
        }
        for i in range(count)
    ]


_setup = django_setup_dev


def child_fill(rows: int) -> dict:
    _setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from canlian.accounts.services import system_user
    from canlian.common.audit import _bulk_base, audit_record_many
    from canlian.common.bulk import insert_rows
    from canlian.common.models import AuditLog

    user = system_user()
    t0 = time.perf_counter()
    done = 0
    while done < rows:
        n = min(FILL_BATCH, rows - done)
        with transaction.atomic():
            audit_record_many(acting_user=user, action="person.import_create", entries=_entries(done, n))
        done += n
    fill_s = time.perf_counter() - t0

    # bulk write, chained vs unchained, rolled back
    chained, plain = [], []
    for _ in range(3):
        with transaction.atomic():
            t = time.perf_counter()
            audit_record_many(acting_user=user, action="person.import_create", entries=_entries(0, BULK_ROWS))
            chained.append(time.perf_counter() - t)
            transaction.set_rollback(True)
        with transaction.atomic():
            t = time.perf_counter()
            base = {**_bulk_base(user, "person.import_create"), "at": timezone.now()}
            insert_rows(
                AuditLog,
                [
                    {
                        **base,
                        "object_type": e["object_type"],
                        "object_id": str(e["object_id"]),
                        "object_repr": e["object_repr"][:200],
                        "changes": e["changes"],
                        "detail": "",
                        "seq": -1 - k,  # constants where the chain goes: what writing cost before
                        "prev_hash": "",
                        "row_hash": "",
                    }
                    for k, e in enumerate(_entries(0, BULK_ROWS))
                ],
                now=base["at"],
            )
            plain.append(time.perf_counter() - t)
            transaction.set_rollback(True)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM common_auditlog")
        (count,) = cur.fetchone()
    return {
        "fill_s": round(fill_s, 2),
        "count": count,
        "bulk_chained_s": [round(x, 3) for x in chained],
        "bulk_plain_s": [round(x, 3) for x in plain],
        "peak_mb": round(_rss_mb(), 1),
    }


def child_walk(mode: str) -> dict:
    _setup()
    from django.db import connection

    from canlian.common import auditchain

    t0 = time.perf_counter()
    if mode == "verify":
        result = auditchain.audit_verify()
        out = {"ok": result.ok, "count": result.count, "last_seq": result.last_seq}
    elif mode == "read":  # the floor: the same rows, same batches, nothing computed
        count = 0
        for _row in auditchain._rows(auditchain.VERIFY_BATCH):
            count += 1
        out = {"ok": True, "count": count}
    elif mode == "orm":  # what one would otherwise write: model instances, hashed one by one
        from canlian.common.models import AuditLog

        prev, count, ok = auditchain.GENESIS, 0, True
        for row in AuditLog.objects.order_by("seq").iterator(chunk_size=2000):
            content = auditchain.fragment(
                at=row.at,
                user_id=row.user_id,
                username=row.username,
                role=row.role,
                action=row.action,
                object_type=row.object_type,
                object_repr=row.object_repr,
                changes=auditchain.changes_canonical(row.changes),
                result=row.result,
                ip=row.ip,
                detail=row.detail,
            )
            ok = (
                ok
                and row.prev_hash == prev
                and auditchain.row_hash(row.seq, prev, row.object_id, content) == row.row_hash
            )
            prev, count = row.row_hash, count + 1
        out = {"ok": ok, "count": count}
    elif mode == "tamper":  # edit the middle row past the triggers, then verify must name it
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM common_auditlog")
            middle = cur.fetchone()[0] // 2
            if connection.vendor == "postgresql":
                cur.execute("SET session_replication_role = replica")
            else:
                from canlian.common.auditguard import sqlite_triggers_drop

                sqlite_triggers_drop(connection)
            cur.execute("UPDATE common_auditlog SET detail = 'tampered' WHERE seq = %s", [middle])
        t0 = time.perf_counter()
        result = auditchain.audit_verify()
        out = {"ok": result.ok, "count": result.count, "broken_seq": result.broken.seq, "expected": middle}
    else:
        raise SystemExit(f"unknown mode {mode}")
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["peak_mb"] = round(_rss_mb(), 1)
    return out


# ---- parent -----------------------------------------------------------------------------------------------


def _pg_admin(url: str, sql: str) -> None:
    import psycopg

    admin = url.replace("postgres://", "postgresql://", 1).rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql)


def _run(env: dict, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"child failed ({args}):\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}")


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


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


def bench_backend(backend: str, *, rows: int, runs: int, pg_url: str) -> bool:
    env = dict(os.environ)
    env["CANLIAN_ENCRYPTION_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    env["CANLIAN_INDEX_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    data_dir = tempfile.mkdtemp(prefix="canlian-bench-audit-")
    env["CANLIAN_DATA_DIR"] = data_dir
    env.pop("DATABASE_URL", None)
    env.pop("CANLIAN_DB_OWNER_URL", None)
    dbname = pg_url.rsplit("/", 1)[1]
    if backend == "postgres":
        _pg_admin(pg_url, f'DROP DATABASE IF EXISTS "{dbname}"')
        _pg_admin(pg_url, f'CREATE DATABASE "{dbname}"')
        env["DATABASE_URL"] = pg_url
    ok = True

    def run(*args: str) -> dict:
        result = _run(env, *args)
        print(f"  {backend} {' '.join(args)}: {json.dumps(result)}", flush=True)  # kept if a later step fails
        return result

    try:
        fill = run("fill", str(rows))
        verify = [run("verify") for _ in range(runs)]
        read = [run("read") for _ in range(runs)]
        orm = [run("orm")]
        tamper = run("tamper")
    finally:
        if backend == "postgres":
            _pg_admin(pg_url, f'DROP DATABASE IF EXISTS "{dbname}"')
        subprocess.run(["rm", "-rf", data_dir], check=False)
    for r in [*verify, *read, *orm]:
        ok = ok and r["ok"] and r["count"] == rows
    ok = ok and fill["count"] == rows and tamper["broken_seq"] == tamper["expected"] and not tamper["ok"]
    ok = ok and tamper["count"] == tamper["expected"] - 1
    v = [r["seconds"] for r in verify]
    rd = [r["seconds"] for r in read]
    o = [r["seconds"] for r in orm]
    med = statistics.median(v)
    print(f"\n### {backend}: {rows:,} audit rows")
    print("| what | time (median, min–max) | rows/s | peak RSS | vs verify |")
    print("|---|---|---|---|---|")
    print(
        f"| fill through audit_record_many (chained, 50k a transaction) | {fill['fill_s']:.2f} s | {rows / fill['fill_s']:,.0f} | {fill['peak_mb']} MB | |"
    )
    print(
        f"| `audit verify` ({runs} runs) | {_spread(v)} | {rows / med:,.0f} | {max(r['peak_mb'] for r in verify)} MB | 1.00 |"
    )
    print(
        f"| floor: read the same rows, nothing computed | {_spread(rd)} | {rows / statistics.median(rd):,.0f} | {max(r['peak_mb'] for r in read)} MB | {statistics.median(rd) / med:.2f} |"
    )
    print(
        f"| ORM `.iterator()` + hash per instance (1 run) | {o[0]:.2f} s | {rows / o[0]:,.0f} | {orm[0]['peak_mb']} MB | {o[0] / med:.2f} |"
    )
    print(
        f"| verify after editing row {tamper['expected']:,} | {tamper['seconds']:.2f} s | | {tamper['peak_mb']} MB | names row {tamper['broken_seq']:,} |"
    )
    c, p = fill["bulk_chained_s"], fill["bulk_plain_s"]
    print(
        f"\nbulk write of {BULK_ROWS:,} rows (3 runs, rolled back): chained {_spread(c)}, unchained {_spread(p)}; "
        f"chaining costs ×{statistics.median(c) / statistics.median(p):.2f}"
    )
    print(f"correct: {'yes' if ok else 'NO'} (every walk counted {rows:,} rows; the edited row was named)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=int(os.environ.get("CANLIAN_BENCH_AUDIT_ROWS", 1_000_000))
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/canlian_bench_audit")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode = args.child[0]
        result = child_fill(int(args.child[1])) if mode == "fill" else child_walk(mode)
        print("RESULT " + json.dumps(result))
        return 0
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    ok = True
    for backend in args.backends.split(","):
        ok = bench_backend(backend.strip(), rows=args.rows, runs=args.runs, pg_url=args.pg_url) and ok
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
