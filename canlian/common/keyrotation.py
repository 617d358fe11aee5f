"""``canlian keys rotate``: re-encrypt every encrypted value and rebuild every blind index under new keys.

What is rotated is found, not listed by hand: every ``EncryptedTextField`` of every installed model, and
the blind indexes that apps declare with ``blind_index_register`` (model, index column, source column,
purpose). Apps with encrypted data outside the database (attachments on disk) register a
``key_rotation_register(callback)`` that re-seals it with the two ciphers it is given.

Order, so that no crash leaves data without its keys:
1. the new keys are written first (``keys.json.new`` beside the key file, or the ``--new-keys-file``);
2. one transaction re-encrypts and re-indexes every row and replaces the key check value, with an audit row;
3. after the commit the new key file replaces the old one (embedded default). If the process dies between
   2 and 3, the key check refuses to start and names ``keys.json.new``, which holds the right keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.apps import apps
from django.conf import settings
from django.db import connection, transaction

from . import crypto
from .exceptions import DomainError

CHUNK = 2000


class KeyRotationError(DomainError):
    pass


@dataclass(frozen=True)
class IndexSpec:
    model: str  # "app_label.ModelName"
    index_field: str
    source_field: str
    purpose: str


_INDEXES: list[IndexSpec] = []
_CALLBACKS: list[Callable] = []


def blind_index_register(model: str, *, index_field: str, source_field: str, purpose: str) -> None:
    spec = IndexSpec(model, index_field, source_field, purpose)
    if spec not in _INDEXES:
        _INDEXES.append(spec)


def key_rotation_register(callback: Callable) -> None:
    """``callback(*, old: KeyPair, new: KeyPair)`` re-seals data kept outside the database; it runs inside the
    rotation's transaction, before the commit (raise to abort the whole rotation)."""
    if callback not in _CALLBACKS:
        _CALLBACKS.append(callback)


@dataclass(frozen=True)
class KeyPair:
    encryption_key: bytes
    index_key: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(secrets.token_bytes(32), secrets.token_bytes(32))

    @classmethod
    def current(cls) -> KeyPair:
        enc, idx = crypto._keys()
        return cls(enc, idx)

    def encrypt(self, plain: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.encryption_key).encrypt(nonce, plain.encode("utf-8"), None)
        return crypto.PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def index(self, value: str, *, purpose: str) -> str:
        return hmac.new(self.index_key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()[:40]

    def as_json(self) -> dict[str, str]:
        return {
            "encryption_key": base64.b64encode(self.encryption_key).decode(),
            "index_key": base64.b64encode(self.index_key).decode(),
        }


@dataclass
class RotationResult:
    values: int
    indexes: int
    tables: dict[str, int]
    keys_file: Path


def _write_private(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())


def _encrypted_fields():
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, crypto.EncryptedTextField)]
        if fields and not model._meta.proxy:
            yield model, fields


def keys_rotate(
    *, acting_user, new_keys_file: Path | None = None, new: KeyPair | None = None
) -> RotationResult:
    """Rotate to ``new`` (default: freshly generated) keys. With keys from the environment, ``new_keys_file``
    is required: the new keys are written there for the operator to put into the environment."""
    from .audit import audit_record

    crypto.keys_verify()  # never rotate data that the current keys do not open
    env_keys = bool(settings.CANLIAN_ENCRYPTION_KEY and settings.CANLIAN_INDEX_KEY)
    if env_keys and new_keys_file is None:
        raise KeyRotationError(
            "密钥来自环境变量：请用 --new-keys-file 指定新密钥的保存位置，轮换后把环境变量改为新密钥"
        )
    old, new = KeyPair.current(), new or KeyPair.generate()
    if new == old:
        raise KeyRotationError("新密钥与当前密钥相同")
    key_file = crypto.key_file()
    staged = Path(new_keys_file) if new_keys_file else key_file.with_name("keys.json.new")
    if staged.exists():
        raise KeyRotationError(f"{staged} 已存在：上一次轮换可能未完成，请先确认该文件中的密钥后再处理")
    _write_private(staged, new.as_json())

    values = indexes = 0
    tables: dict[str, int] = {}
    qn = connection.ops.quote_name
    try:
        with transaction.atomic():
            for model, fields in _encrypted_fields():
                table, pk = model._meta.db_table, model._meta.pk.column
                specs = [s for s in _INDEXES if s.model == model._meta.label]
                index_cols = {s.index_field: s for s in specs}
                cols = [f.column for f in fields]
                sets = ", ".join(f"{qn(c)} = %s" for c in cols + list(index_cols))
                sql = f"UPDATE {qn(table)} SET {sets} WHERE {qn(pk)} = %s"
                names = [f.attname for f in fields]
                last = None
                while True:
                    qs = model._base_manager.order_by("pk").values_list("pk", *names)  # decrypts (old keys)
                    if last is not None:
                        qs = qs.filter(pk__gt=last)
                    chunk = list(qs[:CHUNK])
                    if not chunk:
                        break
                    params = []
                    for row in chunk:
                        plain = dict(zip(names, row[1:], strict=True))
                        sealed = [new.encrypt(v) if v else v for v in plain.values()]
                        idx = [
                            new.index(plain[s.source_field], purpose=s.purpose)
                            if plain[s.source_field]
                            else ""
                            for s in index_cols.values()
                        ]
                        values += sum(1 for v in plain.values() if v)
                        indexes += sum(1 for v in idx if v)
                        params.append([*sealed, *idx, row[0]])
                    with connection.cursor() as cur:
                        cur.executemany(sql, params)
                    tables[table] = tables.get(table, 0) + len(chunk)
                    last = chunk[-1][0]
            for callback in _CALLBACKS:
                callback(old=old, new=new)
            from .models import KeyCheck

            KeyCheck.objects.filter(pk=1).update(
                ciphertext=new.encrypt(crypto.KEY_CHECK_PLAINTEXT),
                index_value=new.index(crypto.KEY_CHECK_PLAINTEXT, purpose=crypto.KEY_CHECK_PURPOSE),
            )
            audit_record(
                acting_user=acting_user,
                action="keys.rotate",
                object_type="common.keycheck",
                object_id=1,
                object_repr="加密密钥与盲索引密钥",
                changes={"values": values, "indexes": indexes, "tables": tables},
            )
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    if not env_keys:
        os.replace(staged, key_file)
        staged = key_file
    crypto._keys.cache_clear()
    crypto._aead.cache_clear()
    return RotationResult(values, indexes, tables, staged)
