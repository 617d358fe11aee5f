"""The payroll checks hook (``benefits.hooks``): benefits knows no provider and imports no app above it.
With no check registered the payroll pages work and warn about nothing; a registered check is asked with
(user, programme, first day of the month) and its warning shows on the list, the generation job page and the
batch page (next to the review / approve buttons) without blocking anything; it stops once approved."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest
from django.urls import reverse

from canlian.accounts.models import Role
from canlian.benefits import hooks
from canlian.benefits.hooks import PayrollWarning, payroll_check_register, payroll_warnings
from canlian.benefits.models import Payroll, Programme
from canlian.benefits.services.payroll import payroll_generate

from . import test_views_pages as shared
from .test_views_pages import URLS, client_for, enrol

staff_fixture = shared.staff_fixture
living_fixture = shared.living_fixture
dibao_person_fixture = shared.dibao_person_fixture

pytestmark = [
    pytest.mark.urls(URLS),
    pytest.mark.usefixtures("example_standards_2023"),
]  # 2023 months: the example standards
BENEFITS = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_checks(monkeypatch):
    """Each test starts from an empty registry (whatever the installed apps registered) and leaves the
    project's registry as it was."""
    monkeypatch.setattr(hooks, "_CHECKS", {})


class Recorder:
    """A check as another app would write one: a count per town for the living allowance, scoped to the
    user (district-wide roles see the sum), recording every call."""

    def __init__(self, per_town: dict[str, int]):
        self.per_town = per_town
        self.calls: list[tuple[str, str, date]] = []

    def __call__(self, *, user, programme, month):
        self.calls.append((user.username, programme.code, month))
        if programme.code != "living_allowance":
            return None
        if user.role == Role.TOWN_STAFF:
            count = self.per_town.get(user.jurisdiction.name, 0)
        else:
            count = sum(self.per_town.values())
        return PayrollWarning(
            source="test.recorder",
            count=count,
            message=f"{programme.name} {month:%Y-%m}：有 {count} 条待核实事项",
            url="/somewhere/?status=open",
            link_text="去处理",
        )


def warnings_in(html: str) -> list[str]:
    """``data-count`` of every warning alert on the page."""
    marker = 'class="alert alert-warning d-flex align-items-start gap-2 payroll-warning"'
    counts = []
    for chunk in html.split(marker)[1:]:
        counts.append(chunk.split('data-count="', 1)[1].split('"', 1)[0])
    return counts


@pytest.fixture
def draft(staff, dibao_person, living):
    enrol(staff, dibao_person, living)
    return payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 6, 1))


# ---- the hook itself ----------------------------------------------------------------------------------------


def test_benefits_imports_no_app_above_it():
    """Dependencies point one way: no benefits module (tests aside) imports verification, casework …"""
    above = ("canlian.verification", "canlian.casework", "canlian.workplan", "canlian.reports")
    offenders = []
    for path in BENEFITS.rglob("*.py"):
        if "tests" in path.relative_to(BENEFITS).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            offenders += [(path.name, n) for n in names if n.startswith(above)]
    assert offenders == []


def test_no_check_registered_no_warning(users, living):
    assert hooks.payroll_checks_registered() == ()
    assert payroll_warnings(user=users["district"], programme=living, month=date(2023, 6, 1)) == []


def test_check_is_asked_with_user_programme_and_first_day_of_month(users, living):
    check = Recorder({"甪直镇": 3})
    payroll_check_register("test.recorder", check)
    out = payroll_warnings(user=users["district"], programme=living, month=date(2023, 6, 17))
    assert check.calls == [("district1", "living_allowance", date(2023, 6, 1))]
    assert out == [
        PayrollWarning(
            source="test.recorder",
            count=3,
            message="困难残疾人生活补贴 2023-06：有 3 条待核实事项",
            url="/somewhere/?status=open",
            link_text="去处理",
        )
    ]


def test_none_and_zero_are_left_out(users, living):
    care = Programme.objects.get(code="care_allowance")
    payroll_check_register("test.recorder", Recorder({"甪直镇": 0}))
    assert payroll_warnings(user=users["district"], programme=living, month=date(2023, 6, 1)) == []
    assert payroll_warnings(user=users["district"], programme=care, month=date(2023, 6, 1)) == []


def test_register_again_replaces_unregister_removes(users, living):
    payroll_check_register("test.recorder", Recorder({"甪直镇": 1}))
    payroll_check_register("test.recorder", Recorder({"甪直镇": 2}))
    assert hooks.payroll_checks_registered() == ("test.recorder",)
    [only] = payroll_warnings(user=users["district"], programme=living, month=date(2023, 6, 1))
    assert only.count == 2
    hooks.payroll_check_unregister("test.recorder")
    hooks.payroll_check_unregister("test.recorder")  # unknown name: nothing to do
    assert payroll_warnings(user=users["district"], programme=living, month=date(2023, 6, 1)) == []
    with pytest.raises(TypeError):
        payroll_check_register("test.broken", "not a function")
    assert hooks.payroll_checks_registered() == ()


# ---- the pages with no check registered ---------------------------------------------------------------------


def test_pages_work_and_approve_with_no_check(staff, draft):
    for who in ("district", "town_luzhi", "leader"):
        client = client_for(staff[who])
        listed = client.get(reverse("benefits:payroll_list"), {"month": "2023-06"})
        detail = client.get(reverse("benefits:payroll_detail", args=[draft.pk]))
        assert (listed.status_code, detail.status_code) == (200, 200)
        assert warnings_in(listed.content.decode()) == []
        assert warnings_in(detail.content.decode()) == []
        assert 'id="move-warning"' not in detail.content.decode()
    client_for(staff["district"]).post(
        reverse("benefits:payroll_move", args=[draft.pk]),
        {"to_status": "reviewed", "expected_status": "draft"},
    )
    client_for(staff["district2"]).post(
        reverse("benefits:payroll_move", args=[draft.pk]),
        {"to_status": "approved", "expected_status": "reviewed"},
    )
    assert Payroll.objects.get(pk=draft.pk).status == "approved"


# ---- the pages with a check registered ----------------------------------------------------------------------


def test_list_shows_the_warning_for_the_chosen_month_scoped_to_the_user(staff, living):
    check = Recorder({"甪直镇": 3, "木渎镇": 2})
    payroll_check_register("test.recorder", check)
    url = reverse("benefits:payroll_list")
    district = client_for(staff["district"]).get(url, {"month": "2023-08"}).content.decode()
    assert warnings_in(district) == ["5"]
    assert "困难残疾人生活补贴 2023-08：有 5 条待核实事项" in district
    assert '<a class="alert-link text-nowrap" href="/somewhere/?status=open">去处理</a>' in district
    assert 'value="2023-08"' in district  # the generation form proposes the month warned about
    assert warnings_in(client_for(staff["town_luzhi"]).get(url, {"month": "2023-08"}).content.decode()) == [
        "3"
    ]
    assert warnings_in(client_for(staff["town_mudu"]).get(url, {"month": "2023-08"}).content.decode()) == [
        "2"
    ]
    # every monthly cash programme is asked for that month, once per page
    assert [c for c in check.calls if c[0] == "district1"] == [
        ("district1", "living_allowance", date(2023, 8, 1)),
        ("district1", "care_allowance", date(2023, 8, 1)),
    ]
    # filtered to another programme: only that one is asked, nothing to say
    check.calls.clear()
    other = client_for(staff["district"]).get(url, {"month": "2023-08", "programme": "care_allowance"})
    assert warnings_in(other.content.decode()) == []
    assert check.calls == [("district1", "care_allowance", date(2023, 8, 1))]


def test_list_with_a_bad_month_says_so_and_uses_this_month(staff, living):
    payroll_check_register("test.recorder", Recorder({"甪直镇": 1}))
    page = client_for(staff["district"]).get(reverse("benefits:payroll_list"), {"month": "2023-13"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "“2023-13”不是有效月份" in html
    assert warnings_in(html) == ["1"]


def test_detail_warns_next_to_review_and_approve_without_blocking(staff, draft):
    payroll_check_register("test.recorder", Recorder({"甪直镇": 3, "木渎镇": 2}))
    url = reverse("benefits:payroll_detail", args=[draft.pk])
    move = reverse("benefits:payroll_move", args=[draft.pk])

    page = client_for(staff["district"]).get(url).content.decode()
    assert warnings_in(page) == ["5"]
    assert "困难残疾人生活补贴 2023-06：有 5 条待核实事项" in page
    assert 'id="move-warning" data-count="5"' in page
    assert 'data-move="reviewed" aria-describedby="move-warning"' in page
    town = client_for(staff["town_luzhi"]).get(url).content.decode()
    assert warnings_in(town) == ["3"]
    assert 'id="move-warning"' not in town  # town staff have no buttons here

    client_for(staff["district"]).post(move, {"to_status": "reviewed", "expected_status": "draft"})
    page = client_for(staff["district2"]).get(url).content.decode()
    assert 'data-move="approved" aria-describedby="move-warning"' in page
    assert 'id="move-warning" data-count="5"' in page

    response = client_for(staff["district2"]).post(
        move, {"to_status": "approved", "expected_status": "reviewed"}
    )
    assert response.status_code == 302
    assert Payroll.objects.get(pk=draft.pk).status == "approved"
    # approved: the checks no longer change this batch, so the page no longer warns
    page = client_for(staff["district"]).get(url).content.decode()
    assert warnings_in(page) == []
    assert 'id="move-warning"' not in page


def test_generation_job_page_shows_the_warning(staff, dibao_person, living):
    enrol(staff, dibao_person, living)
    payroll_check_register("test.recorder", Recorder({"甪直镇": 4}))
    client = client_for(staff["district"])
    response = client.post(
        reverse("benefits:payroll_generate"), {"programme": "living_allowance", "month": "2023-06"}
    )
    assert response.status_code == 302
    page = client.get(response.url)
    assert page.status_code == 200
    html = page.content.decode()
    assert warnings_in(html) == ["4"]
    assert "困难残疾人生活补贴 2023-06：有 4 条待核实事项" in html
