"""Payroll lines keep their meaning with fewer database checks (migration 0003).

``person`` and ``town`` are snapshots without a database foreign key: the payroll writes them from the
enrolment and the registry, the ORM still protects them on delete. Lookups by payroll, by town and by
re-issued line go through the composite indexes that replaced the single-column ones."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from canlian.benefits.models import Enrolment, PayrollLine
from canlian.benefits.services.payroll import payroll_generate
from canlian.registry.models import EconomicStatusPeriod

from . import test_views_pages as shared
from .test_views_pages import enrol

pytestmark = pytest.mark.usefixtures(
    "example_standards_2023"
)  # 2023 months: the example standards (root conftest)

staff_fixture = shared.staff_fixture
living_fixture = shared.living_fixture
dibao_person_fixture = shared.dibao_person_fixture

JULY, AUGUST = date(2023, 7, 1), date(2023, 8, 1)


@pytest.fixture
def paid(staff, make_person, dibao_person, living):
    """王芳 (甪直镇) and 李强 (木渎镇) on the living allowance from May 2023; July generated, one of 李强's
    July lines failed at the bank, and August generated (it re-issues that line)."""
    other = make_person(name="李强", town="木渎镇", category=4, grade=1)
    EconomicStatusPeriod.objects.create(person=other, status="dibao", valid_from=date(2020, 1, 1))
    enrol(staff, dibao_person, living, account="6222020000000001")
    enrol(staff, other, living, account="6222020000000002")
    july = payroll_generate(acting_user=staff["district"], programme=living, month=JULY)
    failed = PayrollLine.objects.get(payroll=july, person=other, for_month=JULY)
    PayrollLine.objects.filter(pk=failed.pk).update(
        status=PayrollLine.Status.FAILED, failure_reason="账户已销户"
    )
    august = payroll_generate(acting_user=staff["district"], programme=living, month=AUGUST)
    return {"july": july, "august": august, "failed": failed, "luzhi": dibao_person, "mudu": other}


def test_every_line_carries_its_enrolments_person_and_that_persons_town(paid):
    lines = PayrollLine.objects.filter(payroll__in=[paid["july"], paid["august"]]).select_related(
        "enrolment", "person"
    )
    kinds = sorted({line.kind for line in lines})
    assert kinds == ["arrears", "regular", "reissue"]
    for line in lines:
        assert line.person_id == line.enrolment.person_id
        assert line.town_id == line.person.town_id
    reissue = PayrollLine.objects.get(payroll=paid["august"], kind="reissue")
    assert (reissue.reissue_of_id, reissue.person_id, reissue.town_id) == (
        paid["failed"].pk,
        paid["failed"].person_id,
        paid["failed"].town_id,
    )


def test_the_orm_still_protects_person_town_and_reissued_lines(paid):
    person, town = paid["mudu"], paid["mudu"].town
    with pytest.raises(ProtectedError) as caught:
        person.delete()
    assert any(isinstance(o, PayrollLine) for o in caught.value.protected_objects)
    with pytest.raises(ProtectedError) as caught:
        town.delete()
    assert any(isinstance(o, PayrollLine) for o in caught.value.protected_objects)
    with pytest.raises(ProtectedError):
        PayrollLine.objects.get(pk=paid["failed"].pk).delete()


def test_a_failed_line_is_reissued_once_per_payroll(paid):
    failed = paid["failed"]
    with pytest.raises(IntegrityError), transaction.atomic():
        PayrollLine.objects.create(
            payroll=paid["august"],
            enrolment_id=failed.enrolment_id,
            person_id=failed.person_id,
            town_id=failed.town_id,
            kind=PayrollLine.Kind.REISSUE,
            for_month=failed.for_month,
            amount_fen=failed.amount_fen,
            reissue_of=failed,
        )


def test_a_line_of_a_missing_enrolment_or_payroll_is_refused_by_the_database(paid):
    line = PayrollLine.objects.filter(payroll=paid["july"]).first()
    missing = Enrolment.objects.order_by("-pk").first().pk + 1000
    for change in ({"enrolment_id": missing}, {"payroll_id": paid["august"].pk + 1000}):
        with pytest.raises(IntegrityError), transaction.atomic():
            PayrollLine.objects.filter(pk=line.pk).update(**change)
            connection.check_constraints(table_names=[PayrollLine._meta.db_table])


@pytest.mark.postgres
def test_database_keeps_the_foreign_keys_that_carry_meaning_and_no_duplicate_indexes(db):
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, PayrollLine._meta.db_table)
    foreign = sorted(c["columns"][0] for c in found.values() if c["foreign_key"])
    assert foreign == ["enrolment_id", "payroll_id", "reissue_of_id"]
    indexes = {tuple(c["columns"]) for c in found.values() if c["index"] and not c["primary_key"]}
    assert indexes == {
        ("person_id",),
        ("enrolment_id",),
        ("payroll_id", "town_id", "id"),
        ("payroll_id",),  # payroll_line_failed: partial, the failed lines only
        ("payroll_id", "enrolment_id", "for_month", "kind"),
        ("reissue_of_id", "payroll_id"),
    }


@pytest.mark.postgres
def test_lookups_by_payroll_town_failed_and_reissued_line_use_the_remaining_indexes(paid):
    cases = [
        (PayrollLine.objects.filter(payroll=paid["july"]), "payroll_line_town"),
        (PayrollLine.objects.filter(payroll=paid["july"], town_id=paid["mudu"].town_id), "payroll_line_town"),
        (PayrollLine.objects.filter(reissue_of=paid["failed"]), "payroll_line_one_reissue"),
        (PayrollLine.objects.filter(reissue_of__isnull=False), "payroll_line_one_reissue"),
        (PayrollLine.objects.filter(status="failed", payroll__month__lt=AUGUST), "payroll_line_failed"),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for qs, index in cases:
            sql, params = qs.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert index in plan, plan
