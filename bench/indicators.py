"""All indicators for a year by town at district scale on PostgreSQL: ``workplan.selectors.progress(year)``,
the call ``canlian workplan progress YEAR`` makes, over 1,000,000 persons and ~3,000,000 service records.

Loads the database with ``bench/_services_data.py`` (``COPY``; the generator knows every indicator by town
for the year before today), then, ``--runs`` times each in a fresh process:

1. ``progress(year)``: every registered indicator, counted by town in the database;
2. side by side, the naive way, a per-case Python loop over the rows (fetch each programme's rows ordered,
   keep each person's first, count in Python), which is how the selectors counted before they grouped in
   SQL (kept here, verbatim in spirit, as the comparison).

Each run's result is checked against the truth for every indicator and every town. Prints the median, the
spread (min–max), the load average before and after, peak memory and the ratio. Target: median ≤ 2 s.

    .venv/bin/python bench/indicators.py                          # 1,000,000 persons, ~3,000,000 records
    .venv/bin/python bench/indicators.py --persons 100000 --records 300000 --keep
    .venv/bin/python bench/indicators.py --db NAME --keep         # name the database and keep it
    .venv/bin/python bench/indicators.py --db NAME --reuse --keep  # reuse a kept database (same day)

Each run makes its own database (``canlian_bench_services_<pid>``) unless ``--db`` names one; ``--reuse``
needs ``--db``. The database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import _services_data as data  # noqa: E402

TARGET_S = 2.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="All indicators for a year by town (PostgreSQL)")
    p.add_argument("--persons", type=int, default=int(os.environ.get("CANLIAN_BENCH_PERSONS", 1_000_000)))
    p.add_argument("--records", type=int, default=int(os.environ.get("CANLIAN_BENCH_RECORDS", 3_000_000)))
    p.add_argument("--runs", type=int, default=int(os.environ.get("CANLIAN_BENCH_RUNS", 5)))
    p.add_argument("--seed", type=int, default=2026)
    data.add_db_arguments(p)
    p.add_argument("--child", choices=("sql", "naive"), help=argparse.SUPPRESS)
    return p


# ---- the naive way: per-row Python over the fetched rows -----------------------------------------------------


def naive_progress(year: int) -> dict[str, dict]:
    """Every indicator by town as a per-case Python loop over the rows (the selectors before SQL grouping)."""
    from canlian.casework.child_rehab_models import AutismScreening, ChildRehabMonth
    from canlian.casework.device_models import DeviceFitting
    from canlian.casework.models import Case
    from canlian.casework.programme import parameters
    from canlian.casework.programmes.custodial_care import target_reasons
    from canlian.registry.models import Certificate, Person

    y0, y1 = date(year, 1, 1), date(year, 12, 31)
    out: dict[str, dict] = {}

    def first_town(rows):
        town_of: dict[int, int] = {}
        for pid, town in rows:
            town_of.setdefault(pid, town)
        counts: dict[int, int] = defaultdict(int)
        for town in town_of.values():
            counts[town] += 1
        return dict(counts)

    # custodial care: first ever placement that really started, in the year, meeting the definition
    first: dict[int, tuple] = {}
    for pid, opened, town in (
        Case.objects.filter(programme="custodial_care", state__in=("placed", "ended"))
        .order_by("opened_on", "id")
        .values_list("person_id", "opened_on", "town_id")
        .iterator(chunk_size=20_000)
    ):
        first.setdefault(pid, (opened, town))
    firsts = {pid: v for pid, v in first.items() if y0 <= v[0] <= y1}
    certs = defaultdict(list)
    for c in Certificate.objects.filter(person_id__in=list(firsts)):
        certs[c.person_id].append(c)
    counts: dict[int, int] = defaultdict(int)
    params = parameters()
    for person in Person.objects.filter(pk__in=list(firsts)).only("id", "birth_date", "employment_status"):
        opened, town = firsts[person.pk]
        if not target_reasons(person, certs[person.pk], opened, params=params):
            counts[town] += 1
    out["custodial_new"] = dict(counts)
    out["child_rehab_served"] = first_town(
        ChildRehabMonth.objects.filter(case__programme="child_rehab", month__gte=y0, month__lte=y1)
        .order_by("case__person_id", "month", "id")
        .values_list("case__person_id", "case__town_id")
        .iterator(chunk_size=20_000)
    )

    def cohort(stage, result=None):
        qs = AutismScreening.objects.filter(stage=stage, on__gte=y0, on__lte=y1)
        if result:
            qs = qs.filter(result=result)
        found: dict[int, tuple] = {}
        for pid, town, on in qs.order_by("person_id", "on", "id").values_list("person_id", "town_id", "on"):
            found.setdefault(pid, (town, on))
        return found

    out["autism_first_screened"] = first_town((pid, t) for pid, (t, _on) in cohort("first").items())
    for code, stage, result, nxt in (
        ("autism_rescreen_rate", "first", "positive", "rescreen"),
        ("autism_diagnosis_rate", "rescreen", "positive", "diagnosis"),
        ("autism_intervention_rate", "diagnosis", "confirmed", "intervention"),
    ):
        base = cohort(stage, result)
        nexts = {
            pid
            for pid, on in AutismScreening.objects.filter(stage=nxt, person_id__in=list(base)).values_list(
                "person_id", "on"
            )
            if on >= base[pid][1]
        }
        out[code] = {
            "numerator": first_town((pid, t) for pid, (t, _on) in base.items() if pid in nexts),
            "denominator": first_town((pid, t) for pid, (t, _on) in base.items()),
        }
    out["devices_fitted"] = first_town(
        DeviceFitting.objects.filter(
            case__programme="devices", case__state="fitted", fitted_on__gte=y0, fitted_on__lte=y1
        )
        .order_by("fitted_on", "id")
        .values_list("case__person_id", "case__town_id")
        .iterator(chunk_size=20_000)
    )
    seen = defaultdict(set)
    for town, key, pid in (
        Case.objects.filter(programme="renovation", state="accepted", closed_on__gte=y0, closed_on__lte=y1)
        .values_list("town_id", "data__household", "person_id")
        .iterator(chunk_size=20_000)
    ):
        seen[town].add(key or f"person:{pid}")
    out["renovation_done"] = {town: len(keys) for town, keys in seen.items()}
    return out


# ---- the measured child ------------------------------------------------------------------------------------


def _from_progress(result: dict) -> dict[str, dict]:
    """``progress()`` output (by town name) → ``{code: {town id: n}}`` (rates: numerator and denominator)."""
    from canlian.registry.models import Region

    pk = dict(Region.objects.filter(level=Region.Level.TOWN).values_list("name", "pk"))
    out = {}
    for code, v in result["indicators"].items():
        counts = {pk[name]: n for name, n in v["by_town"].items() if n}
        if "by_town_denominator" in v:
            below = {pk[name]: n for name, n in v["by_town_denominator"].items() if n}
            out[code] = {"numerator": counts, "denominator": below}
        else:
            out[code] = counts
    return out


def _normalise(found: dict) -> dict:
    def clean(d):
        return {str(k): v for k, v in d.items() if v}

    return {
        code: ({part: clean(val[part]) for part in val} if "numerator" in val else clean(val))
        for code, val in found.items()
    }


def child(args) -> None:
    data.setup_django(args.db)
    from django.db import connection

    from canlian.workplan.selectors import progress

    truth = json.loads(data.truth_path(args.db).read_text())
    year = truth["year"]
    connection.ensure_connection()

    def once():
        cpu, db_cpu, t0 = time.process_time(), data.backend_cpu(), time.perf_counter()
        found = _from_progress(progress(year)) if args.child == "sql" else naive_progress(year)
        return found, time.perf_counter() - t0, time.process_time() - cpu, data.backend_cpu() - db_cpu

    found, seconds, cpu_s, db_cpu_s = once()  # a fresh process: what `canlian workplan progress` costs
    found_warm, warm_seconds, _cpu, _db = once()  # again in the same process: the board in a web worker
    if _normalise(found_warm) != _normalise(found):
        raise SystemExit("the second call differs from the first")
    expected = {code: v for code, v in truth["indicators"].items()}
    got = _normalise(found)
    wrong = []
    for code, want in expected.items():
        want = (
            {p: {k: v for k, v in want[p].items() if v} for p in want}
            if "numerator" in want
            else {k: v for k, v in want.items() if v}
        )
        if got.get(code) != want:
            wrong.append(code)
    print(
        "RESULT "
        + json.dumps(
            {
                "seconds": seconds,
                "warm_seconds": warm_seconds,
                "cpu_s": cpu_s,
                "db_cpu_s": db_cpu_s,
                "peak_mb": round(data.peak_mb(), 1),
                "wrong": wrong,
                "indicators": len(expected),
                "totals": {
                    c: (sum(v.values()) if "numerator" not in v else sum(v["numerator"].values()))
                    for c, v in got.items()
                },
            }
        ),
        flush=True,
    )


def run_child(kind: str, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--db", args.db]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"child {kind} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.db = data.db_name(args, parser)
    if args.child:
        child(args)
        return 0
    print(f"machine: {data.machine()}", flush=True)
    t0 = time.perf_counter()
    truth = data.prepare(
        args.db, persons=args.persons, records=args.records, seed=args.seed, reuse=args.reuse
    )
    print(
        f"data: {truth['persons']:,} persons, {truth['records']:,} service records {truth['tables']} "
        f"(load {time.perf_counter() - t0:.0f} s); year {truth['year']}",
        flush=True,
    )
    rc = 0
    try:
        results = {}
        for kind in ("sql", "naive"):
            load_before = data.load_average()
            runs = [run_child(kind, args) for _ in range(args.runs)]
            load_after = data.load_average()
            secs = [r["seconds"] for r in runs]
            wrong = sorted({c for r in runs for c in r["wrong"]})
            warm = [r["warm_seconds"] for r in runs]
            results[kind] = {
                "warm_median": statistics.median(warm),
                "warm_min": min(warm),
                "warm_max": max(warm),
                "cpu": statistics.median(r["cpu_s"] for r in runs),
                "db_cpu": statistics.median(r["db_cpu_s"] for r in runs),
                "median": statistics.median(secs),
                "min": min(secs),
                "max": max(secs),
                "peak_mb": max(r["peak_mb"] for r in runs),
                "wrong": wrong,
                "load": f"{load_before} → {load_after}",
                "totals": runs[0]["totals"],
            }
            if wrong:
                rc = 1
        print(
            "\nall indicators for a year by town (seconds; cold = first call in a fresh process, warm = again)"
        )
        print(
            f"{'way':<34}{'cold med':>9}{'min':>7}{'max':>7}{'warm med':>9}{'min':>7}{'max':>7}"
            f"{'CPU py+db':>11}{'peak MB':>8}  correct  load 1-min before → after"
        )
        labels = {"sql": "progress(year), grouped in SQL", "naive": "per-case Python loop (naive)"}
        for kind, r in results.items():
            ok = "yes" if not r["wrong"] else "NO: " + ", ".join(r["wrong"])
            print(
                f"{labels[kind]:<34}{r['median']:>9.3f}{r['min']:>7.3f}{r['max']:>7.3f}"
                f"{r['warm_median']:>9.3f}{r['warm_min']:>7.3f}{r['warm_max']:>7.3f}"
                f"{r['cpu']:>6.2f}+{r['db_cpu']:<4.2f}{r['peak_mb']:>8.0f}  {ok:<8} {r['load']}"
            )
        ratio = results["naive"]["median"] / results["sql"]["median"]
        warm_ratio = results["naive"]["warm_median"] / results["sql"]["warm_median"]
        print(
            f"\nratio naive / SQL (median): cold {ratio:.1f}×, warm {warm_ratio:.1f}×; runs: {args.runs}; "
            f"target median ≤ {TARGET_S} s"
        )
        print(f"indicator totals: {results['sql']['totals']}")
        if results["sql"]["median"] > TARGET_S:
            print(f"未达标 / over target: median {results['sql']['median']:.3f} s > {TARGET_S} s")
            rc = 1
    finally:
        if not args.keep:
            data.drop_database(args.db)
    return rc


if __name__ == "__main__":
    sys.exit(main())
