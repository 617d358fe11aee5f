"""Encryption at rest (AES-256-GCM) and the HMAC blind index.

Keys come from the environment (``CANLIAN_ENCRYPTION_KEY`` and ``CANLIAN_INDEX_KEY``, each 32 bytes in
base64). On the embedded default only, a key file is generated in the key folder (``settings.KEYS_DIR``,
apart from the data folder) with a warning.
Ciphertext format: ``v1:`` + urlsafe-base64(12-byte nonce + ciphertext + tag).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import warnings
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "v1:"


class KeyFileWarning(UserWarning):
    pass


class KeyMismatch(ImproperlyConfigured):
    """The keys given are not the keys the data in this database was written with."""


def key_file() -> Path:
    """Where the embedded default keeps its keys: ``KEYS_DIR/keys.json``, never inside the data folder. A key file
    left in the data folder by an earlier version is moved there (the folder 0700, the file 0600)."""
    keys_dir = Path(settings.KEYS_DIR)
    path = keys_dir / "keys.json"
    legacy = Path(settings.DATA_DIR) / "keys.json"
    if legacy.exists() and not path.exists() and legacy != path:
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.move(legacy, path)
        path.chmod(0o600)
        warnings.warn(
            f"密钥文件已从数据目录移到单独的密钥目录 {path}：备份数据时请另行妥善保管密钥。",
            KeyFileWarning,
            stacklevel=2,
        )
    return path


@lru_cache(maxsize=1)
def _keys() -> tuple[bytes, bytes]:
    enc, idx = settings.CANLIAN_ENCRYPTION_KEY, settings.CANLIAN_INDEX_KEY
    if enc and idx:
        return base64.b64decode(enc), base64.b64decode(idx)
    if not settings.CANLIAN_ALLOW_KEY_FILE:
        raise ImproperlyConfigured("CANLIAN_ENCRYPTION_KEY and CANLIAN_INDEX_KEY must be set")
    path = key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = {
            "encryption_key": base64.b64encode(secrets.token_bytes(32)).decode(),
            "index_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        warnings.warn(
            f"已生成密钥文件 {path}（仅用于内置数据库）。生产环境请通过环境变量提供密钥并妥善备份。",
            KeyFileWarning,
            stacklevel=2,
        )
    data = json.loads(path.read_text())
    return base64.b64decode(data["encryption_key"]), base64.b64decode(data["index_key"])


@lru_cache(maxsize=1)
def _aead() -> AESGCM:
    return AESGCM(_keys()[0])


def encrypt(plain: str) -> str:
    nonce = secrets.token_bytes(12)
    ct = _aead().encrypt(nonce, plain.encode("utf-8"), None)
    return PREFIX + base64.urlsafe_b64encode(nonce + ct).decode("ascii")


def decrypt(token: str) -> str:
    if not token.startswith(PREFIX):
        raise ValueError("not an encrypted value")
    raw = base64.urlsafe_b64decode(token[len(PREFIX) :])
    return _aead().decrypt(raw[:12], raw[12:], None).decode("utf-8")


def blind_index(value: str, *, purpose: str) -> str:
    """Keyed hash for uniqueness and exact lookup; ``purpose`` separates the index of each field."""
    mac = hmac.new(_keys()[1], f"{purpose}\x00{value}".encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; reads decrypt, writes encrypt. Empty string stays empty."""

    description = "Encrypted text (AES-GCM)"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        if isinstance(value, str) and value.startswith(PREFIX):
            return value
        return encrypt(str(value))


# ---- the key check value: refuse to run with keys that do not match the data --------------------------

KEY_CHECK_PLAINTEXT = "canlian-key-check-v1"
KEY_CHECK_PURPOSE = "key_check"
KEY_MISMATCH_MESSAGE = (
    "密钥与数据库不匹配：当前的加密密钥或盲索引密钥不是写入这个数据库时使用的密钥，继续运行会导致无法解密、"
    "重复登记身份证号。请恢复原来的密钥（环境变量 CANLIAN_ENCRYPTION_KEY、CANLIAN_INDEX_KEY，或内置数据库的 "
    "{key_file}；如果它是新生成的，请删除它后放回备份的密钥文件），然后重试。/ "
    "The encryption or index key does not match the data in this database: restore the original keys."
)

# Apps that store encrypted values register a probe: ``probe()`` returns False when a stored value cannot
# be read back with the current keys (decryption fails or the blind index differs), None when it has no
# data to test. Used once, for a database that predates the key check row.
_KEY_PROBES: list = []


def key_probe_register(probe) -> None:
    if probe not in _KEY_PROBES:
        _KEY_PROBES.append(probe)


def _mismatch() -> KeyMismatch:
    message = KEY_MISMATCH_MESSAGE.format(key_file=key_file())
    staged = key_file().with_name("keys.json.new")
    if staged.exists():
        message += f"\n注意：{staged} 存在，说明上一次密钥轮换在提交后未能换上新密钥文件：请核对后用它替换 keys.json。"
    return KeyMismatch(message)


def keys_verify() -> str:
    """Compare the keys with the database's key check value; ``KeyMismatch`` (Chinese message) when they differ.

    Returns ``"ok"`` when the check value matched, ``"created"`` when the database had none (a new database,
    or one that predates the check: then the registered probes must read existing data first)."""
    from cryptography.exceptions import InvalidTag

    from .models import KeyCheck

    row = KeyCheck.objects.filter(pk=1).first()
    if row is not None:
        try:
            plain = decrypt(row.ciphertext)
        except (InvalidTag, ValueError):
            raise _mismatch() from None
        if plain != KEY_CHECK_PLAINTEXT or blind_index(plain, purpose=KEY_CHECK_PURPOSE) != row.index_value:
            raise _mismatch()
        return "ok"
    for probe in _KEY_PROBES:
        try:
            if probe() is False:
                raise _mismatch()
        except (InvalidTag, ValueError):
            raise _mismatch() from None
    KeyCheck.objects.get_or_create(
        pk=1,
        defaults={
            "ciphertext": encrypt(KEY_CHECK_PLAINTEXT),
            "index_value": blind_index(KEY_CHECK_PLAINTEXT, purpose=KEY_CHECK_PURPOSE),
        },
    )
    return "created"
