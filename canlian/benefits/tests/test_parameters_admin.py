from datetime import date
from decimal import Decimal

import pytest

from canlian.benefits.models import ParameterValue
from canlian.benefits.selectors import current_parameters
from canlian.benefits.services.parameters import parameter_value_add
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog


def test_add_future_value_is_audited_and_used_from_its_date(users):
    parameter_value_add(
        acting_user=users["admin"],
        name="care_allowance.amount",
        valid_from=date(2027, 1, 1),
        value="180",
        reference="吴残〔2026〕9号",
    )
    params = current_parameters()
    assert params.at("care_allowance.amount", date(2026, 12, 31)) == Decimal("160.00")
    assert params.at("care_allowance.amount", date(2027, 1, 1)) == Decimal("180")
    log = AuditLog.objects.get(action="parameter.add")
    assert (log.object_id, log.changes["value"], log.detail) == (
        "care_allowance.amount",
        [None, "180"],
        "吴残〔2026〕9号",
    )


@pytest.mark.parametrize(
    ("name", "day", "value", "reference", "field"),
    [
        (
            "care_allowance.amount",
            date(2025, 5, 1),
            "160",
            "x",
            "valid_from",
        ),  # a shipped date: never an edit
        ("care_allowance.amount", date(2027, 1, 1), "abc", "x", "value"),
        ("care_allowance.amount", date(2027, 1, 1), "150.001", "x", "value"),
        ("care_allowance.amount", date(2027, 1, 1), "-1", "x", "value"),
        ("living_allowance.include_near_dibao", date(2027, 1, 1), "maybe", "x", "value"),
        ("care_allowance.amount", date(2027, 1, 1), "150", " ", "reference"),
        ("no.such", date(2027, 1, 1), "1", "x", "name"),
    ],
)
def test_bad_values_are_refused(users, name, day, value, reference, field):
    with pytest.raises(ValidationFailed) as exc:
        parameter_value_add(
            acting_user=users["admin"], name=name, valid_from=day, value=value, reference=reference
        )
    assert field in exc.value.errors
    assert ParameterValue.objects.count() == 0


def test_same_date_twice_and_town_staff_refused(users):
    parameter_value_add(
        acting_user=users["district"],
        name="child_rehab.age_limit",
        valid_from=date(2027, 1, 1),
        value="18",
        reference="x",
    )
    with pytest.raises(ValidationFailed):
        parameter_value_add(
            acting_user=users["district"],
            name="child_rehab.age_limit",
            valid_from=date(2027, 1, 1),
            value="17",
            reference="x",
        )
    with pytest.raises(PermissionDenied):
        parameter_value_add(
            acting_user=users["town_luzhi"],
            name="child_rehab.age_limit",
            valid_from=date(2028, 1, 1),
            value="17",
            reference="x",
        )
    assert ParameterValue.objects.count() == 1
