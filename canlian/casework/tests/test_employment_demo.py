"""``employment_demo`` on a small demo registry: every kind of record, counted by the indicators, the same
result for the same seed (a second run is skipped), and the reset removes it before the institutions go."""

from __future__ import annotations

from datetime import date

import pytest

from canlian.accounts.services import system_user
from canlian.casework.demo import custodial_demo, custodial_demo_delete
from canlian.casework.employment_demo import employment_demo, employment_demo_delete
from canlian.casework.models import AuxProject, Case, JobFair, TrainingAttendance, TrainingClass
from canlian.casework.programmes.employment import employment_new_by_town
from canlian.casework.programmes.employment_cases import graduate_employment_by_town
from canlian.casework.programmes.employment_records import job_fairs_by_town, trainees_by_town
from canlian.registry.demo import demo_load, demo_users_ensure
from canlian.registry.models import EmploymentPeriod

pytestmark = pytest.mark.django_db


def test_employment_demo(towns):
    demo_users_ensure(acting_user=system_user())
    demo_load(persons=2500, seed=2023, acting_user=system_user())
    today = date(2023, 11, 15)
    custodial_demo(seed=2023, today=today)
    result = employment_demo(seed=2023, today=today)
    assert result["employments"] == 600
    assert EmploymentPeriod.objects.filter(source="演示数据", status="employed").count() == 600
    assert result["job_fairs"] == JobFair.objects.count() == 5  # 2022: three dates; 2023: two before 11-15
    assert result["training_classes"] == TrainingClass.objects.count() == 5
    assert TrainingAttendance.objects.exists()
    assert result["aux_projects"] == AuxProject.objects.count() >= 1
    assert Case.objects.filter(programme="job_support").count() == result["special_service"] > 0
    assert set(Case.objects.filter(programme="job_support").values_list("state", flat=True)) >= {
        "listed",
        "served",
    }
    employed, graduates = graduate_employment_by_town(2023)
    assert sum(graduates.values()) == 12 and 0 < sum(employed.values()) <= 12
    assert sum(job_fairs_by_town(2023).values()) == 2
    assert sum(trainees_by_town(2023).values()) == 60
    assert sum(employment_new_by_town(2023).values()) > 0
    assert employment_demo(seed=2023, today=today) == {"skipped": True}
    employment_demo_delete(acting_user=system_user())
    custodial_demo_delete(acting_user=system_user())
    assert not JobFair.objects.exists() and not Case.objects.filter(programme="graduate").exists()
