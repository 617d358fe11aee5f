"""``canlian backup`` and ``canlian restore``: a consistent snapshot of the database, the uploaded files and
(only when asked, encrypted with a passphrase) the keys, in one archive.

The archive is a gzip tar with:
- ``manifest.json``: format version, when, which database vendor, the applied migrations, the row count of
  every table, and the SHA-256 of every other member (checked before anything is restored);
- ``database.sqlite3`` (SQLite's online backup API: a consistent copy that includes what is still in the WAL)
  or ``database.pgdump`` (``pg_dump --format=custom``, one snapshot transaction);
- ``files/…``: everything under ``MEDIA_ROOT`` (uploads, reports, attachments: attachments are stored
  encrypted, so they stay encrypted in the archive);
- ``keys.enc`` when ``--with-keys``: the two keys, AES-GCM under a key derived from the passphrase (scrypt).

Restore goes into an empty installation only (no tables with rows, no files): it never merges into or
overwrites live data. Archives are written with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from django.conf import settings
from django.db import connection

from .exceptions import DomainError

FORMAT = 1
MANIFEST = "manifest.json"
KEYS_MEMBER = "keys.enc"
FILES_PREFIX = "files/"


class BackupError(DomainError):
    """The backup or restore cannot be done; nothing was changed."""


@dataclass
class BackupResult:
    path: Path
    vendor: str
    tables: dict[str, int]
    files: int
    with_keys: bool


# ---- helpers ----------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def table_counts() -> dict[str, int]:
    """Rows in every table of the database (the application's and Django's)."""
    with connection.cursor() as cur:
        names = sorted(connection.introspection.table_names(cur))
        counts = {}
        for name in names:
            cur.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(name)}")
            counts[name] = cur.fetchone()[0]
    return counts


def _applied_migrations() -> list[str]:
    with connection.cursor() as cur:
        if "django_migrations" not in connection.introspection.table_names(cur):
            return []
        cur.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        return [f"{app}.{name}" for app, name in cur.fetchall()]


def _pg_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or ""
    password = db.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{auth}{host}{port}/{db['NAME']}"


def _run(cmd: list[str], what: str) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=6 * 3600)
    except FileNotFoundError:
        raise BackupError(
            f"找不到 {cmd[0]}：请安装 PostgreSQL 客户端工具（postgresql-client） / {cmd[0]} not found"
        ) from None
    if done.returncode != 0:
        raise BackupError(f"{what}失败：{done.stderr.strip()[-500:]}")


def _keys_cipher(passphrase: str, salt: bytes) -> AESGCM:
    if len(passphrase) < 12:
        raise BackupError("密钥备份口令至少 12 个字符 / passphrase too short (min 12)")
    kdf = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1)
    return AESGCM(kdf.derive(passphrase.encode("utf-8")))


def _encrypt_keys(passphrase: str) -> bytes:
    from .crypto import _keys

    enc, idx = _keys()
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    plain = json.dumps(
        {"encryption_key": base64.b64encode(enc).decode(), "index_key": base64.b64encode(idx).decode()}
    ).encode()
    sealed = _keys_cipher(passphrase, salt).encrypt(nonce, plain, b"canlian-keys-v1")
    return json.dumps(
        {
            "kdf": "scrypt",
            "n": 2**15,
            "r": 8,
            "p": 1,
            **{
                k: base64.b64encode(v).decode()
                for k, v in (("salt", salt), ("nonce", nonce), ("ciphertext", sealed))
            },
        }
    ).encode()


def _decrypt_keys(blob: bytes, passphrase: str) -> dict[str, str]:
    data = json.loads(blob)
    salt, nonce, sealed = (base64.b64decode(data[k]) for k in ("salt", "nonce", "ciphertext"))
    try:
        plain = _keys_cipher(passphrase, salt).decrypt(nonce, sealed, b"canlian-keys-v1")
    except InvalidTag:
        raise BackupError("密钥备份口令不正确 / wrong passphrase for the keys") from None
    return json.loads(plain)


def _media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


# ---- backup -----------------------------------------------------------------------------------------------


def backup_create(*, out: Path, passphrase: str | None = None) -> BackupResult:
    """Write the archive to ``out`` (atomically: a temporary file renamed at the end, mode 0600)."""
    out = Path(out)
    if out.exists():
        raise BackupError(f"文件已存在：{out}（不会覆盖已有备份） / {out} exists")
    vendor = connection.vendor
    if vendor not in ("sqlite", "postgresql"):
        raise BackupError(f"不支持的数据库：{vendor}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="canlian-backup-") as tmp:
        tmp = Path(tmp)
        if vendor == "sqlite":
            db_member = "database.sqlite3"
            connection.ensure_connection()
            target = sqlite3.connect(tmp / db_member)
            try:
                connection.connection.backup(target)  # online backup: consistent, includes the WAL
            finally:
                target.close()
        else:
            db_member = "database.pgdump"
            _run(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    "--file",
                    str(tmp / db_member),
                    _pg_url(),
                ],
                "数据库导出（pg_dump）",
            )
        members: dict[str, str] = {db_member: _sha256(tmp / db_member)}
        media = _media_root()
        files = sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []
        for path in files:
            members[FILES_PREFIX + path.relative_to(media).as_posix()] = _sha256(path)
        keys_blob = _encrypt_keys(passphrase) if passphrase else None
        if keys_blob is not None:
            members[KEYS_MEMBER] = hashlib.sha256(keys_blob).hexdigest()
        tables = table_counts()
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "vendor": vendor,
            "migrations": _applied_migrations(),
            "tables": tables,
            "members": members,
            "with_keys": keys_blob is not None,
        }
        partial = out.with_name(out.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                _add_bytes(tar, MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode())
                tar.add(tmp / db_member, arcname=db_member)
                for path in files:
                    tar.add(path, arcname=FILES_PREFIX + path.relative_to(media).as_posix())
                if keys_blob is not None:
                    _add_bytes(tar, KEYS_MEMBER, keys_blob)
            os.replace(partial, out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return BackupResult(out, vendor, tables, len(files), keys_blob is not None)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


# ---- restore ----------------------------------------------------------------------------------------------


def _read_manifest(tar: tarfile.TarFile) -> dict:
    try:
        member = tar.getmember(MANIFEST)
    except KeyError:
        raise BackupError("这不是 canlian 备份文件（缺少 manifest.json） / not a canlian backup") from None
    manifest = json.loads(tar.extractfile(member).read())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"备份格式版本 {manifest.get('format')} 不受支持 / unsupported backup format")
    return manifest


def _installation_is_empty() -> None:
    """Restore only into a database with no tables (a new data folder, or a database just made with
    ``createdb``) and an empty uploads folder: it never merges into or overwrites an installation."""
    with connection.cursor() as cur:
        names = connection.introspection.table_names(cur)
    if names:
        raise BackupError(
            f"目标数据库不是空的（已有 {len(names)} 张表）：恢复只能在空的安装上进行，请使用新的数据目录"
            "（CANLIAN_DATA_DIR）或用 createdb 新建的数据库 / the target database is not empty"
        )
    media = _media_root()
    if media.exists() and any(p.is_file() for p in media.rglob("*")):
        raise BackupError(f"上传文件目录不是空的：{media} / the uploads folder is not empty")


def backup_restore(*, path: Path, passphrase: str | None = None) -> dict:
    """Restore the archive into this (empty) installation. Returns the manifest."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"找不到备份文件：{path}")
    try:
        tar = tarfile.open(path, mode="r:gz")
    except (tarfile.TarError, OSError):
        raise BackupError("备份文件已损坏或不是 canlian 备份 / unreadable archive") from None
    with tar, tempfile.TemporaryDirectory(prefix="canlian-restore-") as tmp:
        tmp = Path(tmp)
        manifest = _read_manifest(tar)
        if manifest["vendor"] != connection.vendor:
            raise BackupError(
                f"备份来自 {manifest['vendor']} 数据库，当前是 {connection.vendor}：请恢复到同类数据库 / "
                "restore into the same kind of database"
            )
        if manifest.get("with_keys") and not passphrase:
            raise BackupError("这个备份含有加密的密钥：请提供密钥备份口令（--passphrase-env 或交互输入）")
        _installation_is_empty()
        # extract with the 'data' filter: no absolute paths, no '..', no links out, no device files
        try:
            tar.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise BackupError(f"备份文件含有不安全或损坏的内容，已拒绝：{exc}") from None
        expected = manifest["members"]
        present = {p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()} - {MANIFEST}
        if present != set(expected):
            raise BackupError(
                "备份文件内容与清单不符（缺少或多出文件） / archive does not match its manifest"
            )
        for name, digest in expected.items():
            if _sha256(tmp / name) != digest:
                raise BackupError(f"备份文件已损坏：{name} 的校验值不符 / checksum mismatch")
        keys = (
            _decrypt_keys((tmp / KEYS_MEMBER).read_bytes(), passphrase) if manifest.get("with_keys") else None
        )
        if connection.vendor == "sqlite":
            _restore_sqlite(tmp / "database.sqlite3")
        else:
            _run(
                [
                    "pg_restore",
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--dbname",
                    _pg_url(),
                    str(tmp / "database.pgdump"),
                ],
                "数据库恢复（pg_restore）",
            )
        media = _media_root()
        for name in expected:
            if name.startswith(FILES_PREFIX):
                target = media / name[len(FILES_PREFIX) :]
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                shutil.copyfile(tmp / name, target)
                os.chmod(target, 0o600)
        if keys is not None:
            _install_keys(keys)
    restored = table_counts()
    differ = {t: (n, restored.get(t)) for t, n in manifest["tables"].items() if restored.get(t) != n}
    if differ:
        raise BackupError(f"恢复后的行数与备份不符：{differ}")
    return manifest


def _restore_sqlite(source: Path) -> None:
    connection.close()
    src = sqlite3.connect(source)
    try:
        connection.ensure_connection()
        src.backup(connection.connection)
    finally:
        src.close()
    connection.close()


def _install_keys(keys: dict[str, str]) -> None:
    """Put the restored keys where this installation reads them: the key file of the embedded default. With
    keys from the environment they must be the same ones (else say so)."""
    from . import crypto

    if settings.CANLIAN_ENCRYPTION_KEY and settings.CANLIAN_INDEX_KEY:
        if (settings.CANLIAN_ENCRYPTION_KEY, settings.CANLIAN_INDEX_KEY) != (
            keys["encryption_key"],
            keys["index_key"],
        ):
            raise BackupError(
                "环境变量中的密钥与备份中的密钥不同：请把 CANLIAN_ENCRYPTION_KEY、CANLIAN_INDEX_KEY 设为备份中的密钥"
                "（不设环境变量时会写入密钥目录的 keys.json） / environment keys differ from the backup's"
            )
        return
    path = crypto.key_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name("keys.json.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"encryption_key": keys["encryption_key"], "index_key": keys["index_key"]}, fh)
    os.replace(tmp, path)
    crypto._keys.cache_clear()
    crypto._aead.cache_clear()
