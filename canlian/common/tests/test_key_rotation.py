"""`canlian keys rotate`: every encrypted value re-encrypted, every blind index rebuilt, search still finds,
the old keys no longer open anything, and a failure changes nothing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings

from canlian.common import crypto
from canlian.common.keyrotation import (
    _CALLBACKS,
    KeyPair,
    KeyRotationError,
    key_rotation_register,
    keys_rotate,
)
from canlian.common.models import AuditLog, KeyCheck
from canlian.registry.models import Certificate, Person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_keys():
    crypto._keys.cache_clear()
    crypto._aead.cache_clear()
    yield
    crypto._keys.cache_clear()
    crypto._aead.cache_clear()


def _raw(table: str, column: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {column} FROM {table} ORDER BY id")
        return [r[0] for r in cur.fetchall()]


def _use(pair: KeyPair):
    keys = pair.as_json()
    return override_settings(
        CANLIAN_ENCRYPTION_KEY=keys["encryption_key"], CANLIAN_INDEX_KEY=keys["index_key"]
    )


@pytest.fixture
def people(make_person):
    return [make_person(name=n, phone="13912345678") for n in ("张伟", "李娜", "王芳")]


def test_rotation_with_environment_keys(people, users, tmp_path):
    crypto.keys_verify()
    before_ids = sorted(p.id_number for p in people)
    before_certs = sorted(Certificate.objects.values_list("number", flat=True))
    raw_before = _raw("registry_person", "id_number")
    new = KeyPair.generate()
    out = tmp_path / "new-keys.json"
    result = keys_rotate(acting_user=users["admin"], new_keys_file=out, new=new)
    assert result.keys_file == out and json.loads(out.read_text()) == new.as_json()
    assert out.stat().st_mode & 0o077 == 0
    assert result.tables["registry_person"] == 3 and result.indexes == 6  # 3 ID + 3 certificate indexes
    assert all(a != b for a, b in zip(raw_before, _raw("registry_person", "id_number"), strict=True))
    with _use(new):
        crypto._keys.cache_clear()
        crypto._aead.cache_clear()
        assert crypto.keys_verify() == "ok"
        assert sorted(Person.objects.values_list("id_number", flat=True)) == before_ids
        assert sorted(Certificate.objects.values_list("number", flat=True)) == before_certs
        assert set(Person.objects.values_list("phone", flat=True)) == {"13912345678"}
        for p in Person.objects.all():
            assert p.id_number_index == new.index(p.id_number, purpose="id_number")
        from canlian.registry.services import id_index

        assert Person.objects.filter(id_number_index=id_index(before_ids[0])).count() == 1
    # the old keys open nothing any more
    crypto._keys.cache_clear()
    crypto._aead.cache_clear()
    with pytest.raises(crypto.KeyMismatch):
        crypto.keys_verify()
    log = AuditLog.objects.get(action="keys.rotate")
    assert log.user == users["admin"] and log.changes["indexes"] == 6
    assert before_ids[0] not in json.dumps(log.changes)


def test_environment_keys_need_a_file_for_the_new_keys(people, users):
    with pytest.raises(KeyRotationError):
        keys_rotate(acting_user=users["admin"])


def test_a_failure_changes_nothing(people, users, tmp_path):
    crypto.keys_verify()
    raw = _raw("registry_person", "id_number")
    check = KeyCheck.objects.get().ciphertext

    def broken(*, old, new):
        raise RuntimeError("attachments unreachable")

    key_rotation_register(broken)
    try:
        with pytest.raises(RuntimeError):
            keys_rotate(acting_user=users["admin"], new_keys_file=tmp_path / "k.json")
    finally:
        _CALLBACKS.remove(broken)
    assert _raw("registry_person", "id_number") == raw
    assert KeyCheck.objects.get().ciphertext == check
    assert not (tmp_path / "k.json").exists()
    assert not AuditLog.objects.filter(action="keys.rotate").exists()


def test_rotation_of_the_embedded_key_file(people, users, tmp_path, settings):
    current = KeyPair.current()
    (tmp_path / "keys.json").write_text(json.dumps(current.as_json()))
    with override_settings(
        CANLIAN_ENCRYPTION_KEY="", CANLIAN_INDEX_KEY="", DATA_DIR=Path(tmp_path), KEYS_DIR=Path(tmp_path)
    ):
        crypto._keys.cache_clear()
        crypto._aead.cache_clear()
        crypto.keys_verify()
        seen = []
        key_rotation_register(lambda *, old, new: seen.append((old, new)))
        try:
            result = keys_rotate(acting_user=users["admin"])
        finally:
            _CALLBACKS.pop()
        assert result.keys_file == tmp_path / "keys.json"
        assert not (tmp_path / "keys.json.new").exists()
        stored = json.loads((tmp_path / "keys.json").read_text())
        assert stored != current.as_json() and base64.b64decode(stored["index_key"]) != current.index_key
        assert seen and seen[0][0] == current
        assert crypto.keys_verify() == "ok"  # the new key file opens the database
        assert sorted(Person.objects.values_list("id_number", flat=True)) == sorted(
            p.id_number for p in people
        )
