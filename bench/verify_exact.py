"""Benchmark: the exact pass of 数据比对 (canlian.verification.matching.exact_matches) at province scale,
side by side with a bare DuckDB join and a pandas ``merge`` of the same two key columns.

    .venv/bin/python bench/verify_exact.py                              # 38,000,000 × 10,000,000
    .venv/bin/python bench/verify_exact.py --registry 3800000 --rows 1000000 --repeat 1
    .venv/bin/python bench/verify_exact.py --pandas-scale 0.25          # pandas on a quarter, extrapolated

Data: a synthetic registry of valid 18-digit resident ID numbers (Jiangsu county codes from python-stdnum,
birth dates 1930–2019, sequence numbers unique per county and birth date, GB 11643 check digit computed
vectorised over the 17 digit columns) and a list of which ~90 % are registry persons (the rest are people not
in the registry). Two keys are timed: the 18-character ID itself and a 40-hex fixed-width "blind index"
column (160 bits of a splitmix64 hash of the ID, hex-encoded, with the same width and cardinality as the
production HMAC-SHA256[:40]; a real HMAC per row would only slow the *generation*, not the join).

Generation runs first and is timed on its own; the data is written to Parquet in a temporary folder. Each
measured step then runs in its own child process: it loads the Parquet into the engine's own in-memory form
(not timed), resets the peak-RSS counter (``/proc/self/clear_refs``), runs the join ``--repeat`` times and
reports the fastest and the median time and ``VmHWM`` (peak RSS during the join, data included) — so steps do
not inflate each other. Target: polars exact pass ≤ 10 s on a 2-core machine.

Needs duckdb and pandas (bench/requirements-bench-verify.txt); a missing one is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_S = 10.0
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = b"10X98765432"
FIRST_DAY = date(1930, 1, 1)
LAST_DAY = date(2019, 12, 31)
REQUIREMENTS = "bench/requirements-bench-verify.txt"


# ---- machine and memory ----------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    mem = "?"
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
    import numpy
    import polars

    versions = [f"python {platform.python_version()}", f"polars {polars.__version__}"]
    versions.append(f"numpy {numpy.__version__}")
    for name in ("rapidfuzz", "duckdb", "pandas", "splink"):
        try:
            module = __import__(name)
            versions.append(f"{name} {getattr(module, '__version__', '?')}")
        except ImportError:
            versions.append(f"{name} (not installed)")
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "versions": ", ".join(versions),
    }


def _status_mb(field: str) -> float:
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else float("nan")


def rss_mb() -> float:
    return _status_mb("VmRSS")


def peak_mb() -> float:
    return _status_mb("VmHWM")


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0), so the peak covers only what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def run_child(script: Path, args: list[str], *, timeout: float | None = None) -> dict:
    """Run ``script --child ...`` in a fresh process; its last stdout line is a JSON object."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(script), "--child", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        reason = "killed (out of memory?)" if proc.returncode in (-9, 137) else f"exit {proc.returncode}"
        return {"error": f"{reason}: {' | '.join(tail)}", "wall_s": time.perf_counter() - started}
    return json.loads(lines[-1])


def missing(*modules: str) -> list[str]:
    out = []
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            out.append(name)
    return out


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join([line, sep, *body])


# ---- synthetic IDs (vectorised) ---------------------------------------------------------------------------


def county_codes() -> list[str]:
    """Jiangsu county-level codes python-stdnum knows (any period), without the city-level ``xx00``/``xx01``."""
    from stdnum import numdb

    db = numdb.get("cn/loc")
    codes = []
    for i in range(320000, 330000):
        code = f"{i:06d}"
        if code[4:] in ("00", "01"):
            continue
        if any("county" in props for _part, props in db.info(code)):
            codes.append(code)
    return codes


def area_weights(codes: list[str]):
    """Suzhou (3205xx) counties ten times as likely as the rest of the province."""
    import numpy as np

    w = np.array([10.0 if c.startswith("3205") else 1.0 for c in codes])
    return w / w.sum()


def n_days() -> int:
    return (LAST_DAY - FIRST_DAY).days + 1


def sample_people(rng, n: int, codes: list[str]):
    """Random (county index, birth day index) for n people."""
    import numpy as np

    area = rng.choice(len(codes), size=n, p=area_weights(codes)).astype(np.int32)
    day = rng.integers(0, n_days(), size=n, dtype=np.int32)
    return area, day


def assign_ids(rng, area, day, codes: list[str]):
    """Unique valid 18-character IDs (ASCII matrix n × 18) for people given (county, birth day).

    Within one county and birth day the three sequence digits are consecutive from a random start, so people
    born the same day in the same county (and twins) get close numbers, as they do in reality.
    """
    import numpy as np

    n = len(area)
    key = area.astype(np.int64) * n_days() + day
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    new_group = np.empty(n, dtype=bool)
    new_group[0] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=new_group[1:])
    group = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    rank = np.arange(n) - starts[group]
    if rank.max() >= 1000:
        raise ValueError("more than 1000 people share a county and a birth day")
    offset = rng.integers(0, 1000, size=len(starts))
    seq = np.empty(n, dtype=np.int32)
    seq[order] = (offset[group] + rank) % 1000
    del key, order, sorted_key, new_group, group, rank

    digits = np.empty((n, 18), dtype=np.uint8)
    area_digits = np.array([[int(ch) for ch in c] for c in codes], dtype=np.uint8)
    digits[:, 0:6] = area_digits[area]
    born = np.datetime64(FIRST_DAY.isoformat(), "D") + day
    year = born.astype("datetime64[Y]").astype(np.int32) + 1970
    month_start = born.astype("datetime64[M]")
    month = month_start.astype(np.int32) % 12 + 1
    dom = (born - month_start.astype("datetime64[D]")).astype(np.int32) + 1
    for col, (value, width) in enumerate([(year, 4), (month, 2), (dom, 2), (seq, 3)]):
        base = 6 + sum((4, 2, 2, 3)[:col])
        for k in range(width):
            digits[:, base + k] = (value // 10 ** (width - 1 - k)) % 10
    total = np.zeros(n, dtype=np.int32)
    for j, w in enumerate(WEIGHTS):
        total += digits[:, j].astype(np.int32) * w
    lut = np.frombuffer(CHECK_CHARS, dtype=np.uint8)
    digits[:, :17] += 48
    digits[:, 17] = lut[total % 11]
    return digits


def strings(mat, name: str):
    """ASCII matrix (n × w) → polars String series, vectorised."""
    import polars as pl

    mat = mat if mat.flags["C_CONTIGUOUS"] else mat.copy()
    return pl.Series(name, mat.view(f"S{mat.shape[1]}").ravel()).cast(pl.String)


def hex_index(ids, chunk: int = 4_000_000):
    """A 40-hex fixed-width keyed hash of each ID (n × 40 ASCII matrix): splitmix64 of the 17 digits, 3 words."""
    import numpy as np

    n = len(ids)
    out = np.empty((n, 40), dtype=np.uint8)
    lut = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for lo in range(0, n, chunk):
            block = ids[lo : lo + chunk, :17].astype(np.uint64) - np.uint64(48)
            value = np.zeros(len(block), dtype=np.uint64)
            for j in range(17):
                value = value * np.uint64(10) + block[:, j]
            words = []
            for salt in (0x9E3779B97F4A7C15, 0xD1B54A32D192ED03, 0x8CB92BA72F3D8DD7):
                z = value + np.uint64(salt)
                z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
                z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
                z = z ^ (z >> np.uint64(31))
                words.append(((z[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.uint8))
            out[lo : lo + chunk] = lut[np.concatenate(words, axis=1)[:, :40]]
    return out


def generate(folder: Path, n_registry: int, n_rows: int, present: float, seed: int) -> dict:
    """Write registry.parquet (person_id, id_number, id_index) and rows.parquet (row_id, id_number, id_index,
    true_person_id) into ``folder``."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    codes = county_codes()
    n_in = round(n_rows * present)
    n_out = n_rows - n_in
    area, day = sample_people(rng, n_registry + n_out, codes)
    ids = assign_ids(rng, area, day, codes)
    del area, day
    index = hex_index(ids)
    registry = pl.DataFrame(
        [
            pl.Series("person_id", np.arange(1, n_registry + 1, dtype=np.int64)),
            strings(ids[:n_registry], "id_number"),
            strings(index[:n_registry], "id_index"),
        ]
    )
    picked = rng.choice(n_registry, size=n_in, replace=False)
    rows_src = np.concatenate([picked, np.arange(n_registry, n_registry + n_out)])
    rng.shuffle(rows_src)
    rows = pl.DataFrame(
        [
            pl.Series("row_id", np.arange(1, n_rows + 1, dtype=np.int64)),
            strings(ids[rows_src], "id_number"),
            strings(index[rows_src], "id_index"),
            pl.Series("true_person_id", np.where(rows_src < n_registry, rows_src + 1, 0)).replace(0, None),
        ]
    )
    del ids, index
    registry.write_parquet(folder / "registry.parquet", compression="lz4")
    rows.write_parquet(folder / "rows.parquet", compression="lz4")
    return {"registry": registry.height, "rows": rows.height, "present": n_in}


# ---- measured steps (each in its own process) -------------------------------------------------------------


def cpu_s() -> float:
    """CPU seconds (user + system, all threads) this process has used so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _time(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    cpu0 = cpu_s()
    for _ in range(repeat):
        result = None
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    _time.cpu = (cpu_s() - cpu0) / repeat
    return times, result


def child(engine: str, key: str, folder: Path, repeat: int, fraction: float) -> dict:
    import polars as pl

    n_registry = pl.scan_parquet(folder / "registry.parquet").select(pl.len()).collect().item()
    n_rows = pl.scan_parquet(folder / "rows.parquet").select(pl.len()).collect().item()
    n_registry, n_rows = int(n_registry * fraction), int(n_rows * fraction)
    if engine != "pandas":
        registry = pl.read_parquet(folder / "registry.parquet", columns=["person_id", key]).head(n_registry)
        rows = pl.read_parquet(folder / "rows.parquet", columns=["row_id", key]).head(n_rows)
    load = os.getloadavg()[0]

    if engine == "polars":
        from canlian.verification.matching import exact_matches

        loaded = rss_mb()
        reset_peak()
        times, result = _time(lambda: exact_matches(registry, rows, key=key), repeat)
        matched = result.height
    elif engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute(f"SET threads = {os.cpu_count()}")
        con.register("registry_df", registry.to_arrow())
        con.register("rows_df", rows.to_arrow())
        con.execute("CREATE TABLE registry AS SELECT * FROM registry_df")
        con.execute("CREATE TABLE rows AS SELECT * FROM rows_df")
        con.unregister("registry_df")
        con.unregister("rows_df")
        del registry, rows
        loaded = rss_mb()
        reset_peak()
        sql = (
            "CREATE OR REPLACE TABLE matched AS SELECT r.row_id, p.person_id "
            f"FROM rows r JOIN registry p ON r.{key} = p.{key}"
        )
        times, _ = _time(lambda: con.execute(sql), repeat)
        matched = con.execute("SELECT count(*) FROM matched").fetchone()[0]
    elif engine == "pandas":
        import pandas as pd

        # read the way a pandas user would (pandas 3: Arrow-backed "str" columns)
        reg_pd = pd.read_parquet(folder / "registry.parquet", columns=["person_id", key])
        rows_pd = pd.read_parquet(folder / "rows.parquet", columns=["row_id", key])
        if fraction < 1.0:
            reg_pd = reg_pd.head(n_registry)
            rows_pd = rows_pd.head(n_rows)
        loaded = rss_mb()
        reset_peak()
        times, result = _time(
            lambda: rows_pd.merge(reg_pd, on=key, how="inner")[["row_id", "person_id"]], repeat
        )
        matched = len(result)
    else:
        raise ValueError(engine)
    return {
        "engine": engine,
        "key": key,
        "registry": n_registry,
        "rows": n_rows,
        "matched": int(matched),
        "best_s": min(times),
        "median_s": statistics.median(times),
        "times": times,
        "cpu_s": _time.cpu,
        "load": load,
        "loaded_mb": loaded,
        "peak_mb": peak_mb(),
    }


# ---- main ------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(description="数据比对 exact pass: polars vs DuckDB vs pandas")
    p.add_argument("--registry", type=int, default=int(env("CANLIAN_BENCH_VERIFY_REGISTRY", 38_000_000)))
    p.add_argument("--rows", type=int, default=int(env("CANLIAN_BENCH_VERIFY_ROWS", 10_000_000)))
    p.add_argument("--present", type=float, default=0.9, help="share of list rows that are in the registry")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per engine and key (pandas: 1)")
    p.add_argument("--keys", default="id_number,id_index", help="join keys to time, comma-separated")
    p.add_argument("--engines", default="polars,duckdb,pandas")
    p.add_argument(
        "--pandas-scale",
        type=float,
        default=1.0,
        help="run pandas on this fraction of both tables and extrapolate linearly (1.0 = full size)",
    )
    p.add_argument("--data", type=Path, help="reuse/keep the generated Parquet in this folder")
    p.add_argument("--seed", type=int, default=38)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--engine", help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    p.add_argument("--fraction", type=float, default=1.0, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.child:
        print(json.dumps(child(args.engine, args.key, args.data, args.repeat, args.fraction)), flush=True)
        return 0

    info = machine()
    print("数据比对 · 精确比对 / exact pass benchmark")
    for k, v in info.items():
        print(f"  {k}: {v}")
    folder = args.data or Path(tempfile.mkdtemp(prefix="canlian-bench-exact-"))
    folder.mkdir(parents=True, exist_ok=True)
    keep = args.data is not None
    try:
        if (folder / "registry.parquet").exists() and (folder / "rows.parquet").exists():
            print(f"\nreusing data in {folder}")
        else:
            started = time.perf_counter()
            counts = generate(folder, args.registry, args.rows, args.present, args.seed)
            print(
                f"\ngenerated {fmt_int(counts['registry'])} registry persons and {fmt_int(counts['rows'])} list "
                f"rows ({fmt_int(counts['present'])} in the registry) in {time.perf_counter() - started:.1f} s "
                "(not part of any measured time)"
            )
        results = []
        for key in args.keys.split(","):
            for engine in args.engines.split(","):
                absent = missing(engine) if engine != "polars" else []
                if absent:
                    print(f"  跳过 {engine}：未安装（pip install -r {REQUIREMENTS}）", flush=True)
                    continue
                fraction = args.pandas_scale if engine == "pandas" else 1.0
                repeat = 1 if engine == "pandas" else args.repeat
                child_args = ["--engine", engine, "--key", key, "--data", str(folder)]
                child_args += ["--repeat", str(repeat), "--fraction", str(fraction)]
                print(f"  measuring {engine} on {key} …", flush=True)
                res = run_child(Path(__file__), child_args, timeout=3600)
                res.setdefault("engine", engine)
                res.setdefault("key", key)
                res["fraction"] = fraction
                results.append(res)
                if "error" in res:
                    print(f"    {engine}: {res['error']}", flush=True)
        print()
        print(report(results, args))
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    polars_runs = [r for r in results if r["engine"] == "polars" and "error" not in r]
    if not polars_runs or any(r["best_s"] > TARGET_S for r in polars_runs):
        print(f"\n目标未达成：精确比对超过 {TARGET_S:.0f} 秒", file=sys.stderr)
        return 1
    return 0


def report(results: list[dict], args) -> str:
    out = []
    for key in dict.fromkeys(r["key"] for r in results):
        group = [r for r in results if r["key"] == key]
        base = next((r for r in group if r["engine"] == "polars" and "error" not in r), None)
        rows = []
        for r in group:
            if "error" in r:
                rows.append([r["engine"], *["—"] * 9, r["error"][:60]])
                continue
            scale = 1.0 / r["fraction"]
            best = r["best_s"] * scale
            note = "measured"
            if r["fraction"] < 1.0:
                note = f"measured on {r['fraction']:.0%} ({fmt_int(r['registry'])} × {fmt_int(r['rows'])}), ×{scale:g}"
            ratio = f"{best / base['best_s']:.2f}×" if base else "—"
            rows.append(
                [
                    r["engine"],
                    fmt_int(r["registry"] * scale),
                    fmt_int(r["rows"] * scale),
                    fmt_int(r["matched"] * scale),
                    f"{best:.2f}",
                    f"{r['median_s'] * scale:.2f}",
                    f"{r['cpu_s'] * scale:.1f}",
                    f"{r['load']:.1f}",
                    fmt_int((r["registry"] + r["rows"]) * scale / best),
                    f"{r['peak_mb']:,.0f} ({r['loaded_mb']:,.0f})",
                    ratio + ("" if note == "measured" else f" — {note}"),
                ]
            )
        label = "18-character ID" if key == "id_number" else "40-hex blind index"
        out.append(f"key: {key} ({label}); repeat {args.repeat} (pandas 1), best and median seconds")
        headers = ["engine", "registry", "rows", "matched", "best s", "median s", "CPU s/run", "load"]
        headers += ["rows/s (both tables)"]
        headers += ["peak MB (data loaded)", "time ÷ polars"]
        out.append(table(headers, rows))
        out.append("")
    out.append(
        "CPU s/run = user + system seconds of the measuring process per run; load = 1-minute load average when "
        "the step started (other work on the machine); peak = VmHWM during the runs, the loaded data included "
        f"(in brackets: RSS with the data loaded). Target: polars ≤ {TARGET_S:.0f} s."
    )
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
