"""Encryption at rest (AES-256-GCM) and the HMAC blind index.

Keys come from the environment (``CANLIAN_ENCRYPTION_KEY`` and ``CANLIAN_INDEX_KEY``, each 32 bytes in
base64). On the embedded default only, a key file is generated in the data folder with a warning.
Ciphertext format: ``v1:`` + urlsafe-base64(12-byte nonce + ciphertext + tag).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import warnings
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "v1:"


class KeyFileWarning(UserWarning):
    pass


@lru_cache(maxsize=1)
def _keys() -> tuple[bytes, bytes]:
    enc, idx = settings.CANLIAN_ENCRYPTION_KEY, settings.CANLIAN_INDEX_KEY
    if enc and idx:
        return base64.b64decode(enc), base64.b64decode(idx)
    if not settings.CANLIAN_ALLOW_KEY_FILE:
        raise ImproperlyConfigured("CANLIAN_ENCRYPTION_KEY and CANLIAN_INDEX_KEY must be set")
    path = settings.DATA_DIR / "keys.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
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
