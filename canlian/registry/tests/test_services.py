from datetime import date

import pytest
from django.db import connection

from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog
from canlian.registry import services
from canlian.registry.models import Certificate, Person
from canlian.registry.validation import RegionLookup, validate_person_record


def test_person_create_encrypts_and_audits(make_person, users):
    person = make_person(name="张伟", phone="13812345678")
    person.refresh_from_db()
    assert person.name_pinyin == "zhangwei" and person.name_initials == "zw"
    assert person.sex == "M" and person.birth_date == date(1980, 5, 6)
    cert = person.current_certificate
    assert (cert.category, cert.grade, cert.valid_until) == (4, 2, date(2029, 5, 6))
    with connection.cursor() as cur:
        cur.execute("SELECT id_number, phone FROM registry_person WHERE id = %s", [person.pk])
        raw_id, raw_phone = cur.fetchone()
        cur.execute("SELECT number FROM registry_certificate WHERE person_id = %s", [person.pk])
        (raw_cert,) = cur.fetchone()
    assert person.id_number not in raw_id and raw_id.startswith("v1:")
    assert "13812345678" not in raw_phone
    assert person.id_number not in raw_cert
    log = AuditLog.objects.get(action="person.create", object_id=str(person.pk))
    assert log.username == "district1"
    assert log.changes["id_number"][1] == person.masked_id
    assert person.id_number not in str(log.changes)


def test_town_staff_cannot_create_in_other_town(make_person, users):
    with pytest.raises(PermissionDenied):
        make_person(town="木渎镇", acting_user=users["town_luzhi"])
    assert Person.objects.count() == 0


def test_duplicate_id_is_refused(make_person, users, id_for):
    person = make_person()
    raw = {
        "name": "李四",
        "id_number": person.id_number,
        "certificate_number": person.id_number + "41",
        "issue_date": "2020-01-01",
        "town": "甪直镇",
        "household_type": "农村",
    }
    record, errors = validate_person_record(raw, regions=RegionLookup.load(), today=date(2026, 1, 1))
    assert errors == {}
    with pytest.raises(ValidationFailed) as exc:
        services.person_create(acting_user=users["district"], record=record)
    assert exc.value.errors == {"id_number": "该身份证号已登记，请勿重复建档"}
    assert Person.objects.count() == 1


def test_audit_rows_cannot_be_changed(make_person):
    make_person()
    log = AuditLog.objects.first()
    with pytest.raises(PermissionError):
        log.save()
    with pytest.raises(PermissionError):
        AuditLog.objects.all().delete()


@pytest.mark.postgres
def test_postgres_refuses_update_and_delete_on_audit(make_person):
    from django.db import DatabaseError, transaction

    make_person()
    for sql in ("UPDATE common_auditlog SET action = 'x'", "DELETE FROM common_auditlog"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)
    assert AuditLog.objects.filter(action="person.create").count() == 1


def test_certificate_reissue_keeps_history(make_person, users):
    person = make_person(category=4, grade=3)
    raw = {
        "name": person.name,
        "id_number": person.id_number,
        "certificate_number": person.id_number + "42B1",
        "issue_date": "2024-03-01",
        "town": "甪直镇",
        "household_type": "城镇",
    }
    record, errors = validate_person_record(raw, regions=RegionLookup.load(), today=date(2026, 1, 1))
    assert errors == {}
    changes = services.person_update(acting_user=users["town_luzhi"], person=person, record=record)
    assert set(changes) == {"certificate_number"}
    certs = list(Certificate.objects.filter(person=person).order_by("issue_date"))
    assert [(c.grade, c.is_current, c.reissue_count) for c in certs] == [(3, False, 0), (2, True, 1)]
    assert services.person_update(acting_user=users["town_luzhi"], person=person, record=record) == {}


def test_reveal_is_audited_and_refused_for_leader(make_person, users):
    person = make_person()
    assert services.person_reveal_id(acting_user=users["town_luzhi"], person=person) == person.id_number
    with pytest.raises(PermissionDenied):
        services.person_reveal_id(acting_user=users["leader"], person=person)
    results = list(
        AuditLog.objects.filter(action="person.reveal_id").order_by("id").values_list("username", "result")
    )
    assert results == [("luzhi1", "success"), ("leader1", "denied")]
