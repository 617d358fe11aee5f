"""A new application submitted twice at once: one application, and a Chinese message for the second."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection, transaction

from canlian.benefits.models import Application, Programme
from canlian.benefits.services.applications import application_create
from canlian.common.exceptions import ValidationFailed

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_submissions_at_once_make_one_application(users, make_person):
    person = make_person(name="赵双击", grade=1)
    programme = Programme.objects.get(code="care_allowance")
    inserted, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def submit():
        return application_create(
            acting_user=users["town_luzhi"], person=person, programme=programme, applied_on=date.today()
        )

    def first():
        try:
            with transaction.atomic():
                outcome["first"] = submit()
                inserted.set()
                release.wait(10)
        finally:
            inserted.set()
            connection.close()

    def second():
        inserted.wait(10)
        try:
            submit()
            outcome["second"] = "created"
        except ValidationFailed as exc:
            outcome["second"] = exc.errors
        except Exception as exc:  # the defect: IntegrityError as a 500
            outcome["second"] = repr(exc)
        finally:
            connection.close()

    a, b = threading.Thread(target=first), threading.Thread(target=second)
    a.start()
    b.start()
    inserted.wait(10)
    b.join(1.0)
    release.set()
    a.join(20)
    b.join(20)
    assert isinstance(outcome["first"], Application)
    assert isinstance(outcome["second"], dict), outcome["second"]
    assert "申请" in outcome["second"]["programme"]
    assert Application.objects.filter(person=person).count() == 1
