"""``common.bulk``: set-based inserts that write what ``save()`` would write."""

import json

import pytest
from django.db import connection
from django.utils import timezone

from canlian.common import auditchain
from canlian.common.audit import audit_record_many
from canlian.common.auditchain import audit_verify
from canlian.common.bulk import JSONText, insert_rows, reserve_pks
from canlian.common.crypto import PREFIX, encrypt
from canlian.common.models import AuditLog
from canlian.registry.models import Person


def _raw(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@pytest.mark.django_db
def test_insert_rows_encrypts_plain_values_and_keeps_ciphertext(towns):
    now = timezone.now()
    sealed = encrypt("13812345678")
    common = {
        "sex": "M",
        "household_type": "urban",
        "town_id": towns["木渎镇"].pk,
        "name_pinyin": "",
        "name_initials": "",
    }
    n = insert_rows(
        Person,
        [
            {
                **common,
                "name": "甲某",
                "id_number": "320506198001010011",
                "id_number_index": "a",
                "birth_date": "1980-01-01",
                "phone": sealed,
            },
            {
                **common,
                "name": "乙某",
                "id_number": "320506198001010038",
                "id_number_index": "b",
                "birth_date": "1980-01-01",
            },
        ],
        now=now,
    )
    assert n == 2
    raw = dict(
        _raw(
            "SELECT id_number_index, id_number FROM registry_person WHERE id_number_index IN (%s, %s)",
            ["a", "b"],
        )
    )
    assert all(value.startswith(PREFIX) and "3205" not in value for value in raw.values())
    first, second = Person.objects.get(id_number_index="a"), Person.objects.get(id_number_index="b")
    assert (first.id_number, first.phone) == ("320506198001010011", "13812345678")
    assert (second.phone, second.status, second.created_at) == ("", Person.Status.ACTIVE, now)  # defaults


@pytest.mark.django_db
def test_audit_record_many_writes_json_and_serialised_json(users):
    before = AuditLog.objects.count()
    count = audit_record_many(
        acting_user=users["district"],
        action="person.import_create",
        entries=[
            {"object_type": "t", "object_id": 1, "object_repr": "x" * 300, "changes": {"名": [None, "张三"]}},
            {"object_type": "t", "object_id": 2, "changes": JSONText(json.dumps({"a": [1, 2]}))},
        ],
    )
    assert count == 2 and AuditLog.objects.count() == before + 2
    rows = {row.object_id: row for row in AuditLog.objects.filter(action="person.import_create")}
    assert rows["1"].changes == {"名": [None, "张三"]} and len(rows["1"].object_repr) == 200
    assert rows["2"].changes == {"a": [1, 2]}
    assert rows["1"].username == users["district"].username and rows["1"].role == users["district"].role
    # changes given already serialised are hashed as what they say, not as a JSON string: the chain holds
    assert audit_verify().ok


@pytest.mark.django_db
def test_reserve_pks():
    reserved = reserve_pks(AuditLog, 3)
    if connection.vendor != "postgresql":
        assert reserved is None
        return
    assert len(reserved) == 3 and len(set(reserved)) == 3
    now = timezone.now()
    rows = [{"id": pk, "action": "test.reserved", "object_id": str(pk), "at": now} for pk in reserved]

    def write(rows, links):  # audit rows carry their place in the hash chain
        chained = [
            {**row, "seq": seq, "prev_hash": prev, "row_hash": digest}
            for row, (seq, prev, digest) in zip(rows, links, strict=True)
        ]
        return insert_rows(AuditLog, chained, now=now, with_pk=True)

    auditchain.append_many(
        rows, object_id=lambda r: r["object_id"], content=auditchain.fragment_of, write=write
    )
    assert sorted(AuditLog.objects.filter(action="test.reserved").values_list("pk", flat=True)) == sorted(
        reserved
    )
    later = AuditLog.objects.create(action="test.after")  # the sequence moved past the reserved keys
    assert later.pk > max(reserved)
    assert auditchain.audit_verify().ok
