"""`canlian backup` / `canlian restore` round trips: every table, every file and every decrypted value come
back; writes still in SQLite's WAL are kept; broken, tampered and hostile archives change nothing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

PASS = "correct horse battery staple"


def _env(data_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANLIAN_", "DATABASE_URL", "DJANGO_"))}
    env.update(
        {"CANLIAN_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "config.settings.dev", "BK_PASS": PASS}
    )
    env.update(extra)
    return env


def _key_file(data_dir: Path) -> Path:
    """The embedded default keeps its keys apart from the data folder: ``<data folder>-keys/keys.json``."""
    return Path(f"{data_dir}-keys") / "keys.json"


def _canlian(data_dir: Path, *args: str, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "canlian.cli", *args],
        env=_env(data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _dump(db: Path) -> dict[str, list]:
    con = sqlite3.connect(db)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: sorted(map(repr, con.execute(f'SELECT * FROM "{n}"'))) for n in sorted(names)}
    finally:
        con.close()


def _decrypted_ids(data_dir: Path) -> list[str]:
    code = (
        "import django, json; django.setup();"
        "from canlian.registry.models import Person, Certificate;"
        "print(json.dumps(sorted(Person.objects.values_list('id_number', flat=True))"
        " + sorted(Certificate.objects.values_list('number', flat=True))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=_env(data_dir), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def source(embedded_template, tmp_path_factory):
    """An embedded installation with persons (a copy of the session's, made by `canlian demo`) and uploaded
    files."""
    src = tmp_path_factory.mktemp("source") / "data"
    shutil.copytree(embedded_template, src)
    shutil.copytree(f"{embedded_template}-keys", f"{src}-keys")
    attachments = src / "uploads" / "attachments" / "2023"
    attachments.mkdir(parents=True)
    (attachments / "a.bin").write_bytes(secrets.token_bytes(5000))
    (src / "uploads" / "imports").mkdir()
    (src / "uploads" / "imports" / "名单.xlsx").write_bytes(b"PK\x03\x04 not really")
    return src


def _wal_write(db: Path):
    """Commit one row and keep the connection open with checkpoints off: the row is only in the WAL file."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute(
        "INSERT INTO django_session (session_key, session_data, expire_date) VALUES (?, ?, ?)",
        ("walonly" + secrets.token_hex(8), "x", "2099-01-01 00:00:00"),
    )
    con.commit()
    return con


@pytest.mark.embedded
def test_round_trip_sqlite_keeps_every_table_file_and_value(source, tmp_path):
    db = source / "canlian.sqlite3"
    holder = _wal_write(db)
    try:
        assert (source / "canlian.sqlite3-wal").stat().st_size > 0
        # a plain copy of the database file, as the old operations guide said, misses the WAL write
        naive = tmp_path / "naive.sqlite3"
        naive.write_bytes(db.read_bytes())
        assert not any("walonly" in r for r in _dump(naive)["django_session"])
        archive = tmp_path / "backup.tar.gz"
        done = _canlian(source, "backup", str(archive), "--with-keys", "--passphrase-env", "BK_PASS")
        assert done.returncode == 0, done.stderr
        assert oct(archive.stat().st_mode & 0o777) == "0o600"
        expected = _dump(db)  # read through the holder's WAL
    finally:
        holder.close()
    assert any("walonly" in r for r in expected["django_session"])

    target = tmp_path / "restored"
    done = _canlian(target, "restore", str(archive), "--with-keys", "--passphrase-env", "BK_PASS")
    assert done.returncode == 0, done.stderr
    assert _dump(target / "canlian.sqlite3") == expected
    assert _files(target / "uploads") == _files(source / "uploads")
    assert json.loads(_key_file(target).read_text()) == json.loads(_key_file(source).read_text())
    assert oct(_key_file(target).stat().st_mode & 0o777) == "0o600"
    ids = _decrypted_ids(target)
    assert ids == _decrypted_ids(source) and len(ids) >= 80 and all(len(i) >= 18 for i in ids)

    # a second restore into the same (now full) installation is refused and changes nothing
    again = _canlian(target, "restore", str(archive), "--with-keys", "--passphrase-env", "BK_PASS")
    assert again.returncode == 2 and "不是空的" in again.stderr
    assert _dump(target / "canlian.sqlite3") == expected


@pytest.mark.embedded
def test_without_keys_the_restored_data_needs_the_old_keys(source, tmp_path):
    archive = tmp_path / "nokeys.tar.gz"
    assert _canlian(source, "backup", str(archive)).returncode == 0
    target = tmp_path / "t"
    done = _canlian(target, "restore", str(archive))
    # the data is back, but a new key file does not open it: the key check says so
    assert done.returncode == 2 and "密钥与数据库不匹配" in done.stderr
    _key_file(target).write_text(_key_file(source).read_text())
    assert _decrypted_ids(target) == _decrypted_ids(source)


@pytest.mark.embedded
def test_wrong_passphrase_and_tampered_archive_change_nothing(source, tmp_path):
    archive = tmp_path / "b.tar.gz"
    assert (
        _canlian(source, "backup", str(archive), "--with-keys", "--passphrase-env", "BK_PASS").returncode == 0
    )
    target = tmp_path / "t1"
    wrong = _canlian(
        target,
        "restore",
        str(archive),
        "--with-keys",
        "--passphrase-env",
        "BK_PASS",
        BK_PASS="wrong passphrase!!",
    )
    assert wrong.returncode == 2 and "口令不正确" in wrong.stderr
    assert not (target / "canlian.sqlite3").exists() or _dump(target / "canlian.sqlite3") == {}

    # flip one byte of an uploaded file inside the archive: the checksum refuses it
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive, "r:gz") as tin, tarfile.open(tampered, "w:gz") as tout:
        for member in tin.getmembers():
            data = tin.extractfile(member).read()
            if member.name.endswith("a.bin"):
                data = bytes([data[0] ^ 1]) + data[1:]
            tout.addfile(member, io.BytesIO(data))
    t2 = tmp_path / "t2"
    bad = _canlian(t2, "restore", str(tampered), "--with-keys", "--passphrase-env", "BK_PASS")
    assert bad.returncode == 2 and "校验值不符" in bad.stderr
    assert not (t2 / "uploads").exists()


@pytest.mark.embedded
def test_hostile_archive_member_is_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    manifest = {
        "format": 1,
        "vendor": "sqlite",
        "members": {"../escape.txt": "0"},
        "tables": {},
        "with_keys": False,
    }
    with tarfile.open(evil, "w:gz") as tar:
        for name, data in (("manifest.json", json.dumps(manifest).encode()), ("../escape.txt", b"owned")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    target = tmp_path / "inner" / "t"
    done = _canlian(target, "restore", str(evil))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not (tmp_path / "inner" / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()


@pytest.mark.embedded
def test_backup_never_overwrites(source, tmp_path):
    existing = tmp_path / "x.tar.gz"
    existing.write_bytes(b"keep me")
    done = _canlian(source, "backup", str(existing))
    assert done.returncode == 2 and existing.read_bytes() == b"keep me"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_round_trip_postgresql(make_person, tmp_path, settings):
    from django.db import connection

    from canlian.common.backup import backup_create, table_counts
    from canlian.registry.models import Person

    people = [make_person(name=n) for n in ("王一", "王二", "王三")]
    media = Path(settings.MEDIA_ROOT)
    (media / "attachments").mkdir(parents=True, exist_ok=True)
    (media / "attachments" / "p.bin").write_bytes(b"\x00\x01secret")
    archive = tmp_path / "pg.tar.gz"
    result = backup_create(out=archive)
    assert result.vendor == "postgresql" and result.tables == table_counts()
    name = "canlian_restore_" + secrets.token_hex(4)
    db = settings.DATABASES["default"]
    admin_url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/postgres"
    subprocess.run(["psql", admin_url, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    try:
        target_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"
        data_dir = tmp_path / "pgdata"
        keys = {
            "CANLIAN_ENCRYPTION_KEY": settings.CANLIAN_ENCRYPTION_KEY,
            "CANLIAN_INDEX_KEY": settings.CANLIAN_INDEX_KEY,
            "DATABASE_URL": target_url,
            "CANLIAN_AUTO_MIGRATE": "0",
        }
        done = _canlian(data_dir, "restore", str(archive), **keys)
        assert done.returncode == 0, done.stderr
        code = (
            "import django, json; django.setup();"
            "from canlian.common.backup import table_counts;"
            "from canlian.registry.models import Person;"
            "print(json.dumps([table_counts(), sorted(Person.objects.values_list('id_number', flat=True))]))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=_env(data_dir, **keys),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        counts, ids = json.loads(out.stdout.strip().splitlines()[-1])
        # the restored installation verified its keys, recording the check value the test database lacked
        assert counts.pop("common_keycheck") == 1
        assert counts == {t: n for t, n in result.tables.items() if t != "common_keycheck"}
        assert (
            ids
            == sorted(p.id_number for p in people)
            == sorted(Person.objects.values_list("id_number", flat=True))
        )
        assert (data_dir / "uploads" / "attachments" / "p.bin").read_bytes() == b"\x00\x01secret"
    finally:
        connection.close()
        subprocess.run(
            ["psql", admin_url, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False
        )
