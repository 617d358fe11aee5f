"""A new-person form submitted twice at once: the second gets a Chinese message, never an IntegrityError."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection, transaction

from canlian.common.exceptions import ValidationFailed
from canlian.registry.models import Person
from canlian.registry.services import person_create
from canlian.registry.validation import RegionLookup, validate_person_record

pytestmark = pytest.mark.django_db(transaction=True)


def _record(id_for):
    number = id_for(date(1981, 2, 3), 41)
    raw = {
        "name": "周杰",
        "id_number": number,
        "certificate_number": f"{number}42",
        "issue_date": date(2020, 1, 1),
        "town": "甪直镇",
        "household_type": "城镇",
    }
    record, errors = validate_person_record(raw, regions=RegionLookup.load(), today=date.today())
    assert not errors
    return record


def test_two_submissions_at_once_create_one_person(users, id_for):
    record = _record(id_for)
    first_inserted, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first():
        try:
            with transaction.atomic():
                outcome["first"] = person_create(acting_user=users["town_luzhi"], record=record)
                first_inserted.set()
                release.wait(10)  # hold the transaction open while the second request runs
        finally:
            first_inserted.set()
            connection.close()

    def second():
        first_inserted.wait(10)
        try:
            person_create(acting_user=users["town_luzhi"], record=_record_copy(record))
            outcome["second"] = "created"
        except ValidationFailed as exc:
            outcome["second"] = exc.errors
        except Exception as exc:  # the defect: IntegrityError reached the user as a 500
            outcome["second"] = repr(exc)
        finally:
            connection.close()

    a, b = threading.Thread(target=first), threading.Thread(target=second)
    a.start()
    b.start()
    first_inserted.wait(10)
    b.join(1.0)  # the second request is now blocked on the unique index (PostgreSQL) or the write lock
    release.set()
    a.join(20)
    b.join(20)
    assert isinstance(outcome["first"], Person)
    assert isinstance(outcome["second"], dict), outcome["second"]
    assert "重复" in outcome["second"]["id_number"] or "已登记" in outcome["second"]["id_number"]
    assert Person.objects.count() == 1


def _record_copy(record):
    from dataclasses import replace

    return replace(record)
