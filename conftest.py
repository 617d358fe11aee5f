"""Fixtures shared by the whole suite: regions, one user per role, persons built through the services."""

from __future__ import annotations

import os
from datetime import date

import pytest

PG_URL_HINT = "postgres://postgres@127.0.0.1:5432/test"


def _postgres_answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def pytest_configure(config):
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres") and not _postgres_answers(url):
        if os.environ.get("CI") == "true":
            raise pytest.UsageError(
                f"PostgreSQL does not answer at {url}: in CI the PostgreSQL suite must run"
            )
        pytest.exit(
            f"PostgreSQL 未响应（{url}），跳过 PostgreSQL 测试 / PostgreSQL not answering: skipped",
            returncode=0,
        )


def pytest_report_header(config):
    db = os.environ.get("DATABASE_URL") or "embedded SQLite"
    return f"canlian database: {db}"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        # tests marked ``embedded`` run the CLI on an embedded SQLite installation of their own, whatever
        # DATABASE_URL says: the SQLite suite has already run them, so the PostgreSQL suite does not repeat them
        again = pytest.mark.skip(
            reason="内置数据库的命令行测试已在 SQLite 套件中运行 / embedded-only, run by make test"
        )
        # browser tests drive the pages, which the SQLite suite has already driven; what differs by database
        # (locks, queries, constraints) is tested below the browser, so the PostgreSQL suite skips them unless
        # marked ``postgres``
        browser = pytest.mark.skip(
            reason="浏览器测试已在 SQLite 套件中运行 / browser tests run in the SQLite suite (make test)"
        )
        for item in items:
            if "embedded" in item.keywords:
                item.add_marker(again)
            elif "chromium_browser" in getattr(item, "fixturenames", ()) and "postgres" not in item.keywords:
                item.add_marker(browser)
        return
    skip = pytest.mark.skip(
        reason=f"需要 PostgreSQL：DATABASE_URL={PG_URL_HINT} make test-pg / needs PostgreSQL"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def _ensure_reference_data() -> None:
    """Rows that data migrations load (towns and villages, programmes). A transactional test (live server,
    concurrency) flushes every table when it ends, so tests after it put them back the same idempotent way."""
    import importlib

    from django.apps import apps

    from canlian.benefits.models import Programme
    from canlian.registry.models import Region

    if Region.objects.filter(level=Region.Level.TOWN).count() < 14:
        importlib.import_module("canlian.registry.migrations.0002_wuzhong_regions").load(apps, None)
    if not Region.objects.filter(level=Region.Level.COMMUNITY, official=True).exists():
        importlib.import_module("canlian.registry.migrations.0012_villages_from_division_codes").load(
            apps, None
        )
    if Programme.objects.count() < 5:
        importlib.import_module("canlian.benefits.migrations.0002_programmes").load(apps, None)


# The example standards the older tests were written against (2022–2023). They have no source and are not
# shipped (``benefits/parameters`` holds only sourced values, from 2025-05): tests that work in 2023 months
# use them through the ``example_standards_2023`` fixture, as values an administrator could have added.
EXAMPLE_STANDARDS_2023 = [
    ("common.dibao_urban_rural_split", date(2022, 7, 1), True),
    ("common.dibao_standard_urban", date(2022, 7, 1), "1095.00"),
    ("common.dibao_standard_urban", date(2023, 7, 1), "1175.00"),
    ("common.dibao_standard_rural", date(2022, 7, 1), "1095.00"),
    ("common.dibao_standard_rural", date(2023, 7, 1), "1175.00"),
    ("care_allowance.urban_rural_split", date(2022, 1, 1), True),
    ("care_allowance.amount_urban", date(2022, 1, 1), "130.00"),
    ("care_allowance.amount_urban", date(2023, 7, 1), "150.00"),
    ("care_allowance.amount_rural", date(2022, 1, 1), "90.00"),
    ("care_allowance.amount_rural", date(2023, 7, 1), "110.00"),
    ("living_allowance.rate_dibao_severe", date(2023, 4, 1), "0.30"),
    ("living_allowance.include_near_dibao", date(2023, 4, 1), True),
    ("living_allowance.rate_unemployed_grade34_intellectual_mental", date(2023, 4, 1), "0"),
]


@pytest.fixture
def example_standards_2023(monkeypatch):
    """The shipped parameters plus the unsourced 2022–2023 example values (tests only)."""
    from canlian.benefits import parameters

    extended = parameters.ParameterSet.from_yaml().with_values(
        [
            (name, day, value, "测试：2022–2023 年示例标准（非真实取值）")
            for name, day, value in EXAMPLE_STANDARDS_2023
        ]
    )
    monkeypatch.setattr(parameters, "_YAML_CACHE", extended)
    return extended


@pytest.fixture
def towns(db):
    from canlian.registry.models import Region

    _ensure_reference_data()
    return {r.name: r for r in Region.objects.filter(level=Region.Level.TOWN)}


@pytest.fixture
def make_user(db, towns):
    from canlian.accounts.models import User

    def _make(username: str, role: str, town: str | None = None, password: str = "Canlian#2023pw"):
        return User.objects.create_user(
            username=username,
            password=password,
            role=role,
            jurisdiction=towns[town] if town else None,
            full_name=username,
        )

    return _make


@pytest.fixture
def users(make_user):
    return {
        "admin": make_user("admin1", "district_admin"),
        "district": make_user("district1", "district_staff"),
        "town_luzhi": make_user("luzhi1", "town_staff", "甪直镇"),
        "town_mudu": make_user("mudu1", "town_staff", "木渎镇"),
        "institution": make_user("inst1", "institution_staff"),
        "leader": make_user("leader1", "leader"),
        "auditor": make_user("auditor1", "auditor"),
        "counsellor": make_user("counsellor1", "counsellor"),
    }


def _check_char(first17: str) -> str:
    from canlian.registry.identity import check_char

    return check_char(first17)


def make_id(birth: date, seq: int = 1, area: str = "320506", male: bool = True) -> str:
    s = seq * 2 + (1 if male else 0)
    first17 = f"{area}{birth:%Y%m%d}{s % 1000:03d}"
    return first17 + _check_char(first17)


@pytest.fixture
def id_for():
    return make_id


@pytest.fixture
def make_person(db, users, towns):
    from canlian.registry.services import person_create
    from canlian.registry.validation import RegionLookup, validate_person_record

    counter = {"n": 0}

    def _make(
        name: str = "张伟",
        town: str = "甪直镇",
        birth: date = date(1980, 5, 6),
        category: int = 4,
        grade: int = 2,
        issue: date = date(2019, 5, 6),
        household: str = "城镇",
        economic: str = "",
        acting_user=None,
        **extra,
    ):
        counter["n"] += 1
        id_number = make_id(birth, counter["n"])
        raw = {
            "name": name,
            "id_number": id_number,
            "certificate_number": f"{id_number}{category}{grade}",
            "issue_date": issue,
            "town": town,
            "household_type": household,
            "economic_status": economic,
            **extra,
        }
        record, errors = validate_person_record(raw, regions=RegionLookup.load(), today=date.today())
        assert not errors, errors
        return person_create(acting_user=acting_user or users["district"], record=record)

    return _make


# ---- command-line identity (accounts/services.py: a token or the password proves who runs a write) --------

FIXTURE_PASSWORD = "Canlian#2023pw"


@pytest.fixture(autouse=True)
def _no_cli_identity_from_environment(monkeypatch):
    """A token or user name in the developer's environment must not prove anything in a test."""
    monkeypatch.delenv("CANLIAN_TOKEN", raising=False)
    monkeypatch.delenv("CANLIAN_USER", raising=False)


@pytest.fixture
def cli_token(db, monkeypatch):
    """``cli_token(user)``: a token created for the user (as in the web) and set as ``CANLIAN_TOKEN``."""
    from canlian.accounts.services import cli_token_create

    def _as(user, days: int = 1) -> str:
        _, raw = cli_token_create(user=user, days=days)
        monkeypatch.setenv("CANLIAN_TOKEN", raw)
        return raw

    return _as


@pytest.fixture
def cli_password(monkeypatch):
    """``--user X`` prompts for X's password: the operator types the fixture users' password (checked)."""
    monkeypatch.setattr("canlian.cli.ask_password", lambda username: FIXTURE_PASSWORD)


# ---- real-browser tests (Playwright driving Debian's chromium) -------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def chromium_browser():
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        message = "未安装 chromium（apt-get install chromium），跳过浏览器测试 / chromium missing: browser tests skipped"
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI: .ci/run installs it with apt")
        pytest.skip(message)
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture
def browser_page(chromium_browser, live_server):
    context = chromium_browser.new_context(
        locale="zh-CN", viewport={"width": 1366, "height": 850}, base_url=live_server.url
    )
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def login_as():
    def _login(page, username: str, password: str = "Canlian#2023pw"):
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        return page

    return _login


@pytest.fixture(scope="session")
def embedded_template(tmp_path_factory):
    """One embedded installation (SQLite, a generated ``keys.json`` in ``<data>-keys/``, 40 demo persons) made
    once by the CLI for the whole session; tests take their own copy with ``embedded_copy`` instead of
    migrating a new database each."""
    import subprocess
    import sys

    src = tmp_path_factory.mktemp("embedded") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANLIAN_", "DATABASE_URL", "DJANGO_"))}
    env.update({"CANLIAN_DATA_DIR": str(src), "DJANGO_SETTINGS_MODULE": "config.settings.dev"})
    made = subprocess.run(
        [sys.executable, "-m", "canlian.cli", "demo", "--persons", "40", "--registry-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stderr
    return src


@pytest.fixture
def embedded_copy(embedded_template, tmp_path):
    """A copy of the session's embedded installation (its data folder and its key folder beside it) for one
    test: ``embedded_copy()`` → the data folder."""
    import shutil

    def copy(name: str = "data"):
        dest = tmp_path / name
        shutil.copytree(embedded_template, dest)
        shutil.copytree(f"{embedded_template}-keys", f"{dest}-keys")
        return dest

    return copy


@pytest.fixture
def other_writer_can_write():
    """``other_writer_can_write()``: whether another connection gets SQLite's write lock at once (busy
    timeout 0), to see a sliced write leave the lock free between its slices."""
    import sqlite3

    from django.db import connection

    def _probe() -> bool:
        other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return False
        finally:
            other.close()

    return _probe
