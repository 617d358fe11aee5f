"""Load test: 50 clerks at once on the real web server, 1,000,000 persons on PostgreSQL, loopback only.

One command, end to end:

1. creates a PostgreSQL database with a name of its own (``load_clerks_<time>_<random>``, or ``--db NAME``),
   migrates it and loads ``--persons`` demo persons set-based (``registry.demo.demo_load``, the code path of
   ``canlian demo``), then ``VACUUM ANALYZE``;
2. makes the clerks' accounts: town staff of several towns and district staff (who sign in with a TOTP code:
   each gets a confirmed TOTP device whose key only this process knows, and types the code the way an
   authenticator app computes it), with a random password set for this run;
3. starts the web server the way production does (``canlian serve --host 127.0.0.1 --no-demo --no-worker``
   under ``config.settings.production``: DEBUG off, waitress with its 8 threads, HTTPS as the reverse proxy
   says it through ``X-Forwarded-Proto``), on a free port of 127.0.0.1;
4. runs ``--clerks`` simulated clerks, each a thread with its own keep-alive connection and cookies: sign in
   (password, then the TOTP code for district staff), then loop over: search by Chinese name, by pinyin
   (initials or full), by ID number, open a person's page, and page the person list (first page, then
   "load more" pages 2..N, district staff filtering by town), waiting a think time between actions;
   first with the think time (``--think MIN MAX`` seconds, uniform), then with none (the stress figure);
5. checks every answer, not only its status: the person page shows the person asked for (name, masked ID,
   town), a search has the target (or, when the answer has more pages, rows that all match and a cursor that
   the target lies behind), a town filter shows only that town, pages follow each other in order, a town
   clerk who edits the URL to another town's person gets 404, and after the run every person a town clerk
   was shown is checked in the database to be of that clerk's town; every person page opened left exactly
   one ``person.view`` audit row;
6. prints requests, errors, p50 / p95 / p99 per action, throughput, the load average before and after, the
   server's CPU seconds and peak RSS (``VmHWM``), then stops the server and drops the database unless
   ``--keep``.

    .venv/bin/python bench/load_clerks.py                         # 1,000,000 persons, 50 clerks
    .venv/bin/python bench/load_clerks.py --persons 20000 --duration 30 --stress-duration 15   # quick check
    .venv/bin/python bench/load_clerks.py --keep                  # keep the database (its name is printed)
    .venv/bin/python bench/load_clerks.py --reuse --db NAME       # reuse a kept database, skip the load

Exits 1 when any action's p95 of the think-time run exceeds ``--target-ms`` (300) or any check failed.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import os
import random
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import _services_data as data  # noqa: E402

PG = data.PG
TARGET_MS = 300.0

TOWN_CLERKS_PER_TOWN = 5


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="50 clerks on the real web server, 1,000,000 persons (PostgreSQL)"
    )
    p.add_argument("--persons", type=int, default=int(os.environ.get("CANLIAN_BENCH_PERSONS", 1_000_000)))
    p.add_argument("--clerks", type=int, default=50)
    p.add_argument(
        "--district-clerks", type=int, default=10, help="how many of the clerks are district staff"
    )
    p.add_argument("--duration", type=float, default=300.0, help="seconds of the think-time run")
    p.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=(2.0, 8.0),
        metavar=("MIN", "MAX"),
        help="think time between two actions, seconds, uniform (default 2 8)",
    )
    p.add_argument(
        "--stress-duration", type=float, default=60.0, help="seconds of the no-think run (0: skip)"
    )
    p.add_argument(
        "--pages", type=int, nargs=2, default=(2, 5), metavar=("MIN", "MAX"), help="pages per list"
    )
    p.add_argument(
        "--login-spread",
        type=float,
        default=60.0,
        help="seconds over which the clerks sign in, before the runs (a password check costs ~0.5 s of CPU)",
    )
    p.add_argument("--target-ms", type=float, default=TARGET_MS)
    p.add_argument("--seed", type=int, default=2023)
    p.add_argument("--db", help="database name (default: a new unique name)")
    p.add_argument("--reuse", action="store_true", help="reuse the database --db (no reload)")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--server-log", help="write the server's output here (default: a temporary file)")
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="sample the server with py-spy during each run (collapsed stacks in DIR/think.txt, stress.txt)",
    )
    return p


# ---- database, accounts, targets --------------------------------------------------------------------------


def _new_db_name() -> str:
    return f"load_clerks_{datetime.now():%Y%m%d_%H%M%S}_{secrets.token_hex(3)}"


@dataclass
class Target:
    pk: int
    name: str
    pinyin: str
    initials: str
    id_number: str
    masked: str
    town_id: int
    town: str


@dataclass
class Clerk:
    username: str
    district: bool
    town_id: int | None
    town: str
    totp_key: bytes | None = None


@dataclass
class World:
    password: str
    clerks: list[Clerk]
    targets: dict[int, list[Target]]  # town id -> persons of that town
    towns: dict[int, str]


def prepare(db: str, *, persons: int, seed: int, reuse: bool) -> dict:
    """Create, migrate and load ``db`` (or reuse it). Returns the load figures (empty when reused)."""
    if reuse:
        if not data.pg_database_exists(db):
            raise SystemExit(f"数据库 {db} 不存在 / --reuse: no database {db}")
        if not data.keys_path(db).exists():
            raise SystemExit(f"数据库 {db} 的密钥文件不在 / --reuse: no key file {data.keys_path(db)}")
        data.setup_django(db)
        return {}
    data.drop_database(db)
    data.pg_admin(f'CREATE DATABASE "{db}"')
    data.setup_django(db)
    from django.core.management import call_command
    from django.db import connection

    from canlian.accounts.services import system_user
    from canlian.registry import demo

    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    migrate_s = time.perf_counter() - t0
    print(f"  migrated in {migrate_s:.0f} s; loading {persons:,} persons…", file=sys.stderr, flush=True)
    last = [0.0]

    def progress(done, total, message=""):
        if time.monotonic() - last[0] > 30 or done == total:
            last[0] = time.monotonic()
            print(f"  {done:,} / {total:,}", file=sys.stderr, flush=True)

    result = demo.demo_load(persons=persons, seed=seed, acting_user=system_user(), progress=progress)
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return {
        "migrate_s": migrate_s,
        "load_s": result.seconds,
        "persons": result.persons,
        "analyze_s": time.perf_counter() - t0,
    }


def make_world(*, clerks: int, district_clerks: int, seed: int) -> World:
    """The clerks' accounts (made again on every run: a new password, new TOTP devices) and the persons they
    will look for: a random sample of each of their towns, read and decrypted here."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.db.models import Count
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from canlian.accounts.models import Role, User
    from canlian.registry.models import Person, Region

    rnd = random.Random(seed)
    password = f"Load#{secrets.token_urlsafe(12)}"
    hashed = make_password(password)  # one PBKDF2 for every account
    town_clerks = clerks - district_clerks
    n_towns = max(1, (town_clerks + TOWN_CLERKS_PER_TOWN - 1) // TOWN_CLERKS_PER_TOWN)
    towns = dict(Region.objects.filter(level=Region.Level.TOWN).order_by("code").values_list("pk", "name"))
    busiest = [
        row["town_id"]
        for row in Person.objects.values("town_id")
        .order_by("town_id")
        .annotate(n=Count("pk"))
        .order_by("-n")[:n_towns]
    ]
    out: list[Clerk] = []
    with transaction.atomic():
        User.objects.filter(username__startswith="load_clerk_").delete()
        for i in range(clerks):
            if i < district_clerks:
                c = Clerk(f"load_clerk_d{i:02d}", True, None, "全区")
            else:
                town = busiest[(i - district_clerks) % len(busiest)]
                c = Clerk(f"load_clerk_t{i:02d}", False, town, towns[town])
            user = User.objects.create(
                username=c.username,
                password=hashed,
                role=Role.DISTRICT_STAFF if c.district else Role.TOWN_STAFF,
                jurisdiction_id=c.town_id,
                full_name=f"压测-{c.town}经办人{i:02d}",
                must_change_password=False,
            )
            if c.district:
                device = TOTPDevice.objects.create(user=user, name="动态验证码", confirmed=True)
                c.totp_key = device.bin_key
            out.append(c)
    lo, hi = (
        Person.objects.order_by("pk").values_list("pk", flat=True)[:1][0],
        Person.objects.order_by("-pk").values_list("pk", flat=True)[:1][0],
    )
    picks = rnd.sample(range(lo, hi + 1), min(60_000, hi - lo + 1))
    targets: dict[int, list[Target]] = defaultdict(list)
    for p in Person.objects.filter(pk__in=picks).select_related("town").iterator(chunk_size=5000):
        targets[p.town_id].append(
            Target(
                p.pk, p.name, p.name_pinyin, p.name_initials, p.id_number, p.masked_id, p.town_id, p.town.name
            )
        )
    return World(password=password, clerks=out, targets=dict(targets), towns=towns)


# ---- the server -------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db: str, port: int, log_path: Path, profile_dir: str | None = None):
        enc, idx = data.keys_path(db).read_text().split()
        self.port = port
        self.log_path = log_path
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": f"{PG}/{db}",
            "CANLIAN_AUTO_MIGRATE": "0",
            "CANLIAN_ENCRYPTION_KEY": enc,
            "CANLIAN_INDEX_KEY": idx,
            "CANLIAN_DATA_DIR": os.environ["CANLIAN_DATA_DIR"],
            "PYTHONPATH": str(ROOT),
        }
        serve = ["-m", "canlian.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-demo"]
        serve.append("--no-worker")
        self.profile_dir = Path(profile_dir) if profile_dir else None
        self.profiler: subprocess.Popen | None = None
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, *serve], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"服务未能启动 / the server exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/accounts/login/", headers={"X-Forwarded-Proto": "https"})
                resp = conn.getresponse()
                conn.close()
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status} {resp.getheader('Location') or ''}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.5)
        raise SystemExit(
            f"服务未在 {timeout:.0f} 秒内就绪 / the server did not come up ({last}):\n"
            + self.log_path.read_text()[-3000:]
        )

    def _status(self) -> dict[str, str]:
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            out[key] = value.strip()
        return out

    def peak_rss_mb(self) -> float:
        return int(self._status()["VmHWM"].split()[0]) / 1024

    def rss_mb(self) -> float:
        return int(self._status()["VmRSS"].split()[0]) / 1024

    def threads(self) -> int:
        return int(self._status()["Threads"])

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def profile_start(self, name: str) -> None:
        """py-spy (``--profile DIR``; the ``py-spy`` on PATH or in $PY_SPY) samples the server during a run:
        collapsed stacks of every thread, idle ones left out, in DIR/<name>.txt."""
        if self.profile_dir is None:
            return
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        out = self.profile_dir / f"{name}.txt"
        exe = os.environ.get("PY_SPY", "py-spy")
        cmd = [exe, "record", "--pid", str(self.proc.pid), "--rate", "200", "--format", "raw"]
        cmd += ["--nonblocking", "-o", str(out)]
        self.profiler = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def profile_stop(self) -> None:
        if self.profiler is not None:
            self.profiler.send_signal(signal.SIGINT)
            self.profiler.wait(timeout=60)
            self.profiler = None

    def stop(self) -> None:
        self.profile_stop()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---- the clerks -------------------------------------------------------------------------------------------


def totp_now(key: bytes, *, step: int = 30, digits: int = 6) -> str:
    """RFC 6238, what an authenticator app shows (the algorithm of ``django_otp.oath.totp``)."""
    counter = struct.pack(">Q", int(time.time()) // step)
    mac = hmac.new(key, counter, hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return f"{code:0{digits}d}"


CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
ROW_RE = re.compile(r'<tr data-person="(\d+)"[^>]*>(.*?)</tr>', re.S)
CELL_RE = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
TAG_RE = re.compile(r"<[^>]+>")
MORE_RE = re.compile(r'id="load-more-button"\s+href="([^"]+)"')
DETAIL_NAME_RE = re.compile(r'id="person-name">([^<]*)<')
DETAIL_ID_RE = re.compile(r'id="id-number" class="masked">([^<]*)<')
DETAIL_TOWN_RE = re.compile(r"<dt>镇\(街道\)</dt><dd>([^<]*)</dd>")


@dataclass
class Row:
    pk: int
    name: str
    masked: str
    town: str | None  # the town column (district staff only)


def parse_rows(html: str, *, town_column: bool) -> list[Row]:
    rows = []
    for pk, body in ROW_RE.findall(html):
        cells = [unescape(TAG_RE.sub("", c)).strip() for c in CELL_RE.findall(body)]
        rows.append(Row(int(pk), cells[0], cells[1], cells[5] if town_column else None))
    return rows


class CheckFailed(Exception):
    pass


@dataclass
class Sample:
    action: str
    ms: float
    ok: bool
    requests: int
    phase: str
    error: str = ""


@dataclass
class Results:
    samples: list[Sample] = field(default_factory=list)
    seen_by_town_clerk: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    person_views: int = 0  # person pages opened and shown (each must leave one person.view audit row)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)
            if not sample.ok:
                self.errors.append(f"{sample.phase} {sample.action}: {sample.error}")


class Browser:
    """One clerk's browser: a keep-alive connection, its cookies, the CSRF token of the last form."""

    def __init__(self, port: int):
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.origin = f"https://{self.host}"
        self.conn: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self.requests = 0
        self.timeout = 60.0

    def _connect(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return self.conn

    def request(self, method: str, path: str, form: dict | None = None, *, htmx: bool = False):
        headers = {
            "Host": self.host,
            "X-Forwarded-Proto": "https",  # what the reverse proxy (deploy/nginx/canlian.conf) sets
            "User-Agent": "canlian-load-clerk",
            "Accept": "text/html",
            "Referer": f"{self.origin}/registry/persons/",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
        if htmx:
            headers["HX-Request"] = "true"
        for attempt in (1, 2):
            conn = self._connect()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                text = resp.read().decode("utf-8", "replace")
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()  # the server closed an idle keep-alive connection: open a new one, once
                self.conn = None
                if attempt == 2:
                    raise
        self.requests += 1
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                k, _, v = value.split(";", 1)[0].partition("=")
                self.cookies[k.strip()] = v.strip()
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
            self.conn = None
        token = CSRF_RE.search(text)
        if token:
            self.csrf = token.group(1)
        location = resp.getheader("Location")
        if location:
            location = urlsplit(location)._replace(scheme="", netloc="").geturl()
        return resp.status, location, text


class ClerkRun:
    def __init__(self, clerk: Clerk, world: World, port: int, results: Results, args, rnd: random.Random):
        self.clerk, self.world, self.results, self.args, self.rnd = clerk, world, results, args, rnd
        self.browser = Browser(port)
        self.signed_in = False
        if clerk.district:
            self.mine = [t for ts in world.targets.values() for t in ts]
            self.others: list[Target] = []
        else:
            self.mine = world.targets[clerk.town_id]
            self.others = [t for town, ts in world.targets.items() if town != clerk.town_id for t in ts]

    # -- helpers

    def expect(self, cond: bool, message: str) -> None:
        if not cond:
            raise CheckFailed(message)

    def get(self, path: str, *, htmx: bool = False, status: int = 200) -> str:
        code, _, text = self.browser.request("GET", path, htmx=htmx)
        self.expect(code == status, f"GET {path}: HTTP {code}, expected {status}")
        return text

    def post(self, path: str, form: dict) -> tuple[int, str | None, str]:
        return self.browser.request("POST", path, {"csrfmiddlewaretoken": self.browser.csrf, **form})

    def rows(self, html: str) -> list[Row]:
        rows = parse_rows(html, town_column=self.clerk.district)
        if not self.clerk.district:
            with self.results.lock:
                self.results.seen_by_town_clerk[self.clerk.town_id].update(r.pk for r in rows)
        return rows

    # -- sign in

    def login(self) -> None:
        self.browser.timeout = 300.0  # a queue of password checks on a busy machine is slow, not an error
        self.get("/accounts/login/")
        code, location, _ = self.post(
            "/accounts/login/",
            {"username": self.clerk.username, "password": self.world.password, "next": "/"},
        )
        self.expect(code == 302 and location == "/", f"login: HTTP {code} → {location}")
        if self.clerk.district:  # the next page asks for the second factor first
            code, location, _ = self.browser.request("GET", "/")
            self.expect(code == 302 and location.startswith("/accounts/otp/verify/"), f"no TOTP step: {code}")
            self.get(location)
            code, location, _ = self.post(location, {"token": totp_now(self.clerk.totp_key), "next": "/"})
            self.expect(code == 302 and location == "/", f"TOTP: HTTP {code} → {location}")
        code, _, _ = self.browser.request("GET", "/")  # home (redirects to the user's start page)
        self.expect(code in (200, 302), f"home: HTTP {code}")
        self.get("/registry/persons/")  # the list page (and its search form's CSRF token)
        self.browser.timeout = 60.0
        self.browser.conn = None  # a new connection with the shorter timeout
        self.signed_in = True

    # -- actions: each returns the action's name for the record

    def _search(self, q: str, target: Target, action: str) -> None:
        code, location, _ = self.post("/registry/persons/", {"q": q})
        self.expect(code == 302 and location.startswith("/registry/persons/?"), f"search {q}: HTTP {code}")
        html = self.get(location)
        rows = self.rows(html)
        more = MORE_RE.search(html) is not None
        pks = [r.pk for r in rows]
        self.expect(pks == sorted(pks, reverse=True), f"search {q}: rows out of order")
        if action == "search_name":
            self.expect(all(q in r.name for r in rows), f"search {q}: a row without the name")
        if target.pk in pks:
            return
        self.expect(more and rows and target.pk < pks[-1], f"search {q}: person {target.pk} not found")

    def search_name(self) -> str:
        t = self.rnd.choice(self.mine)
        self._search(t.name, t, "search_name")
        return "search_name"

    def search_pinyin(self) -> str:
        t = self.rnd.choice(self.mine)
        self._search(t.initials if self.rnd.random() < 0.5 else t.pinyin, t, "search_pinyin")
        return "search_pinyin"

    def search_id(self) -> str:
        t = self.rnd.choice(self.mine)
        code, _, html = self.post("/registry/persons/", {"q": t.id_number})
        self.expect(code == 200, f"search by ID: HTTP {code}")
        # the number typed stays in the search box of the answer (a POST: never in a URL), nowhere else
        html_without_box = html.replace(f'value="{t.id_number}"', "", 1)
        self.expect(t.id_number not in html_without_box, "search by ID: the full number is on the page")
        rows = self.rows(html)
        self.expect(
            [(r.pk, r.masked) for r in rows] == [(t.pk, t.masked)],
            f"search by ID of {t.pk}: got {[(r.pk, r.masked) for r in rows]}",
        )
        return "search_id"

    def open_person(self) -> str:
        if self.others and self.rnd.random() < 0.1:  # a town clerk edits the URL: another town's person
            t = self.rnd.choice(self.others)
            self.get(f"/registry/persons/{t.pk}/", status=404)
            return "open_other_town_404"
        t = self.rnd.choice(self.mine)
        html = self.get(f"/registry/persons/{t.pk}/")
        name, masked, town = (
            DETAIL_NAME_RE.search(html),
            DETAIL_ID_RE.search(html),
            DETAIL_TOWN_RE.search(html),
        )
        self.expect(bool(name and masked and town), f"person {t.pk}: page without name / ID / town")
        got = (unescape(name.group(1)), masked.group(1), unescape(town.group(1)))
        self.expect(got == (t.name, t.masked, t.town), f"person {t.pk}: shows {got}")
        with self.results.lock:
            self.results.person_views += 1
        return "open_person"

    def list_pages(self, phase: str, deadline: float) -> None:
        """The list, then "load more" (htmx) pages 2..N; each page is one action with a think time between."""
        town = None
        path = "/registry/persons/"
        if self.clerk.district and self.rnd.random() < 0.5:
            town = self.rnd.choice(list(self.world.targets))
            path += f"?{urlencode({'town': town})}"
        pages = self.rnd.randint(*self.args.pages)
        last_pk = None
        for n in range(1, pages + 1):
            action = "list_page_1" if n == 1 else "list_page_next"
            t0 = time.perf_counter()
            before = self.browser.requests
            try:
                html = self.get(path, htmx=n > 1)
                rows = self.rows(html)
                pks = [r.pk for r in rows]
                more = MORE_RE.search(html)
                self.expect(len(rows) == 50 or (rows and not more), f"{path}: {len(rows)} rows")
                self.expect(pks == sorted(pks, reverse=True), f"{path}: rows out of order")
                self.expect(last_pk is None or pks[0] < last_pk, f"{path}: page does not follow the last")
                if town is not None:
                    name = self.world.towns[town]
                    self.expect(all(r.town == name for r in rows), f"{path}: a row of another town")
                ok, error = True, ""
                if more is None:  # the last page
                    self.results.add(Sample(action, (time.perf_counter() - t0) * 1000, ok, 1, phase))
                    return
                path, last_pk = unescape(more.group(1)), pks[-1]
            except (CheckFailed, OSError, http.client.HTTPException) as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            ms = (time.perf_counter() - t0) * 1000
            self.results.add(Sample(action, ms, ok, self.browser.requests - before, phase, error))
            if not ok or time.monotonic() >= deadline:
                return
            self.think()

    def think(self) -> None:
        lo, hi = self.think_range
        if hi > 0:
            time.sleep(self.rnd.uniform(lo, hi))

    def run(self, phase: str, deadline: float, think: tuple[float, float]) -> None:
        self.think_range = think
        if think[1] > 0:
            time.sleep(self.rnd.uniform(0, think[1]))  # do not all start in the same second
        actions = [
            (self.search_name, 25),
            (self.search_pinyin, 15),
            (self.search_id, 15),
            (self.open_person, 25),
            (None, 20),  # page the list
        ]
        funcs, weights = zip(*actions, strict=True)
        while time.monotonic() < deadline:
            func = self.rnd.choices(funcs, weights)[0]
            if func is None:
                self.list_pages(phase, deadline)
            else:
                t0 = time.perf_counter()
                before = self.browser.requests
                try:
                    action, ok, error = func(), True, ""
                except (CheckFailed, OSError, http.client.HTTPException) as exc:
                    action, ok, error = func.__name__, False, f"{type(exc).__name__}: {exc}"
                ms = (time.perf_counter() - t0) * 1000
                self.results.add(Sample(action, ms, ok, self.browser.requests - before, phase, error))
                if not ok and think[1] == 0:
                    time.sleep(1)  # a failing clerk does not spin
            if time.monotonic() < deadline:
                self.think()


@dataclass
class Phase:
    name: str
    think: tuple[float, float]
    seconds: float
    wall: float = 0.0
    load_before: tuple[float, float, float] = (0, 0, 0)
    load_after: tuple[float, float, float] = (0, 0, 0)
    server_cpu: float = 0.0
    client_cpu: float = 0.0


def run_phase(phase: Phase, runs: list[ClerkRun], server: Server) -> None:
    phase.load_before = os.getloadavg()
    cpu0, client0 = server.cpu_s(), time.process_time()
    t0 = time.monotonic()
    deadline = t0 + phase.seconds
    threads = [threading.Thread(target=r.run, args=(phase.name, deadline, phase.think)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    phase.wall = time.monotonic() - t0
    phase.server_cpu = server.cpu_s() - cpu0
    phase.client_cpu = time.process_time() - client0
    phase.load_after = os.getloadavg()


def login_all(runs: list[ClerkRun], results: Results, spread: float) -> None:
    """Every clerk signs in (spread over ``spread`` seconds, as a morning would); timed, outside the runs."""

    def one(run: ClerkRun, delay: float) -> None:
        time.sleep(delay)
        t0 = time.perf_counter()
        before = run.browser.requests
        try:
            run.login()
            ok, error = True, ""
        except (CheckFailed, OSError, http.client.HTTPException) as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - t0) * 1000
        results.add(Sample("login", ms, ok, run.browser.requests - before, "login", error))

    threads = [
        threading.Thread(target=one, args=(r, spread * i / max(len(runs), 1))) for i, r in enumerate(runs)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# ---- checks after the run ---------------------------------------------------------------------------------


def check_database(results: Results, started_at, clerks: list[Clerk]) -> list[str]:
    """What only the database can tell: every person a town clerk was shown is of that clerk's town, and every
    person page opened left one person.view audit row."""
    from django.db import connections

    from canlian.common.models import AuditLog
    from canlian.registry.models import Person

    connections.close_all()
    problems = []
    for town, pks in results.seen_by_town_clerk.items():
        stray = Person.objects.filter(pk__in=pks).exclude(town_id=town).count()
        if stray:
            problems.append(f"town {town}: {stray} persons of another town were shown to its clerks")
    views = AuditLog.objects.filter(
        action="person.view", at__gte=started_at, username__in=[c.username for c in clerks]
    ).count()
    if views != results.person_views:
        problems.append(f"person.view audit rows: {views}, person pages shown: {results.person_views}")
    return problems


# ---- report -------------------------------------------------------------------------------------------------


def q(data: list[float], p: float) -> float:
    data = sorted(data)
    if not data:
        return float("nan")
    k = (len(data) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


ACTION_ORDER = (
    "login",
    "search_name",
    "search_pinyin",
    "search_id",
    "open_person",
    "open_other_town_404",
    "list_page_1",
    "list_page_next",
)
ACTION_LABEL = {
    "login": "登录 sign in (password; + TOTP for district staff)",
    "search_name": "姓名查找 search by Chinese name (POST + redirected GET)",
    "search_pinyin": "拼音查找 search by pinyin / initials (POST + GET)",
    "search_id": "身份证号查找 search by ID number (POST)",
    "open_person": "打开档案 open a person page (audited read)",
    "open_other_town_404": "改网址看他镇档案 another town's person by URL → 404",
    "list_page_1": "名单第1页 list, first page (district: half filtered by town)",
    "list_page_next": "名单后续页 list, load more (pages 2..N)",
}


def report(phase: Phase, samples: list[Sample], target_ms: float) -> float:
    mine = [s for s in samples if s.phase == phase.name]
    think = f"{phase.think[0]:g}–{phase.think[1]:g} s uniform" if phase.think[1] else "none"
    requests = sum(s.requests for s in mine)
    errors = sum(not s.ok for s in mine)
    print(f"\n### {phase.name}: think time {think}, {phase.wall:.0f} s\n")
    print(
        f"actions {len(mine):,}, requests {requests:,}, errors {errors}; throughput "
        f"{len(mine) / phase.wall:.1f} actions/s, {requests / phase.wall:.1f} requests/s; load average "
        f"(1/5/15 min) before {'/'.join(f'{x:.1f}' for x in phase.load_before)}, after "
        f"{'/'.join(f'{x:.1f}' for x in phase.load_after)}; server CPU {phase.server_cpu:.0f} s "
        f"({phase.server_cpu / phase.wall:.2f} cores, {phase.server_cpu * 1000 / max(requests, 1):.1f} ms a "
        f"request); client CPU {phase.client_cpu:.0f} s\n"
    )
    print("| action | n | errors | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for action in ACTION_ORDER:
        ms = [s.ms for s in mine if s.action == action and s.ok]
        n = sum(1 for s in mine if s.action == action)
        if not n:
            continue
        err = sum(1 for s in mine if s.action == action and not s.ok)
        p95 = q(ms, 0.95)
        if action != "login":
            worst = max(worst, p95)
        flag = " ⚠" if p95 > target_ms and action != "login" else ""
        print(
            f"| {ACTION_LABEL[action]} | {n:,} | {err} | {q(ms, 0.5):.0f} | {p95:.0f}{flag} | {q(ms, 0.99):.0f} "
            f"| {max(ms, default=float('nan')):.0f} |"
        )
    ms = [s.ms for s in mine if s.ok and s.action != "login"]
    print(
        f"| **all actions** | {len(mine):,} | {errors} | {q(ms, 0.5):.0f} | {q(ms, 0.95):.0f} | "
        f"{q(ms, 0.99):.0f} | {max(ms, default=float('nan')):.0f} |"
    )
    return worst


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0.0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = int(line.split()[1]) / 1024 / 1024
    import psycopg

    with psycopg.connect(f"{PG}/postgres") as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
        sb = conn.execute("SHOW shared_buffers").fetchone()[0]
    import platform

    return (
        f"nproc {os.cpu_count()}, {cpu}, {mem:.1f} GiB RAM, PostgreSQL {pg} (shared_buffers {sb}), "
        f"Python {platform.python_version()}"
    )


# ---- main ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.reuse and not args.db:
        raise SystemExit("--reuse 需要 --db 名称 / --reuse requires --db NAME")
    if args.district_clerks > args.clerks:
        raise SystemExit("--district-clerks 不能多于 --clerks")
    db = args.db or _new_db_name()
    print(f"database: {db}", file=sys.stderr, flush=True)
    server = None
    try:
        figures = prepare(db, persons=args.persons, seed=args.seed, reuse=args.reuse)
        from django.db import connections
        from django.utils import timezone

        from canlian.registry.models import Person
        from canlian.serve import WAITRESS_OPTIONS

        persons = Person.objects.count()
        world = make_world(clerks=args.clerks, district_clerks=args.district_clerks, seed=args.seed)
        connections.close_all()
        started_at = timezone.now()
        port = _free_port()
        log_path = Path(args.server_log or tempfile.mkstemp(prefix=f"{db}-server-", suffix=".log")[1])
        server = Server(db, port, log_path, args.profile)
        server.wait_ready()
        rss_idle = server.rss_mb()
        results = Results()
        rnd = random.Random(args.seed)
        runs = [
            ClerkRun(c, world, port, results, args, random.Random(rnd.getrandbits(64))) for c in world.clerks
        ]
        print(f"  {len(runs)} clerks sign in over {args.login_spread:.0f} s…", file=sys.stderr, flush=True)
        login_all(runs, results, spread=args.login_spread)
        runs = [r for r in runs if r.signed_in]  # the others are counted as errors of the sign-in
        print(f"  {len(runs)} / {len(world.clerks)} clerks signed in", file=sys.stderr, flush=True)
        phases = [Phase("think-time run", tuple(args.think), args.duration)]
        if args.stress_duration > 0:
            phases.append(Phase("stress run (no think time)", (0.0, 0.0), args.stress_duration))
        for i, phase in enumerate(phases):
            print(f"  {phase.name}: {phase.seconds:.0f} s…", file=sys.stderr, flush=True)
            if i:
                time.sleep(5)
            server.profile_start("think" if phase.think[1] else "stress")
            run_phase(phase, runs, server)
            server.profile_stop()
        peak_rss, threads = server.peak_rss_mb(), server.threads()
        server.stop()
        problems = check_database(results, started_at, world.clerks)

        print("\n## Load test: clerks on the web server, PostgreSQL\n")
        print(f"machine: {machine()}")
        towns = sorted({c.town for c in world.clerks if not c.district})
        print(
            f"database {db}: {persons:,} persons"
            + (
                f" (loaded in {figures['load_s']:.0f} s, migrate {figures['migrate_s']:.0f} s, VACUUM ANALYZE "
                f"{figures['analyze_s']:.0f} s)"
                if figures
                else " (reused)"
            )
        )
        print(
            f"server: canlian serve (waitress, {WAITRESS_OPTIONS['threads']} threads), config.settings.production, DEBUG off, "
            f"127.0.0.1:{port}; {threads} threads in the process; RSS {rss_idle:.0f} MB idle, peak (VmHWM) "
            f"{peak_rss:.0f} MB"
        )
        print(
            f"clerks: {args.clerks} ({args.district_clerks} district staff with TOTP, "
            f"{args.clerks - args.district_clerks} town staff of {len(towns)} towns: {'、'.join(towns)}); "
            f"action mix: name search 25%, pinyin 15%, ID 15%, person page 25% (a town clerk's 1 in 10 is "
            f"another town's person by URL, expecting 404), list paging 20% ({args.pages[0]}–{args.pages[1]} pages)"
        )
        worst = 0.0
        login = [s for s in results.samples if s.phase == "login"]
        ms = [s.ms for s in login if s.ok]
        print(
            f"\nsign-in (before the runs, spread over {args.login_spread:.0f} s): {len(login)} clerks, "
            f"{sum(not s.ok for s in login)} errors, p50 {q(ms, 0.5):.0f} ms, max {max(ms, default=0):.0f} ms; "
            f"{len(runs)} clerks in the runs"
        )
        for phase in phases:
            w = report(phase, results.samples, args.target_ms)
            if phase is phases[0]:
                worst = w
        print(f"\nchecks after the run: {'all passed' if not problems else '; '.join(problems)}")
        errors = [e for e in results.errors]
        if errors:
            print(f"\nerrors ({len(errors)}), first 20:")
            for e in errors[:20]:
                print(f"  {e}")
        print(f"\nserver log: {log_path}")
        failed = bool(problems or errors)
        return 0 if worst <= args.target_ms and not failed else 1
    finally:
        if server is not None and server.proc.poll() is None:
            server.stop()
        if not args.keep:
            if "django" in sys.modules and os.environ.get("DJANGO_SETTINGS_MODULE"):
                from django.db import connections

                connections.close_all()
            data.drop_database(db)
            print(f"dropped {db}", file=sys.stderr)
        else:
            print(f"kept {db} (reuse: --reuse --db {db})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
