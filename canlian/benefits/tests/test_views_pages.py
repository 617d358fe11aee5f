"""Benefits pages through the real URL map, middleware, templates and database: who may open which page,
the screening lists and their audited export, and the parameters page (add a dated value, never edit).

This module also holds the URL map and fixtures the other ``test_views_*`` modules use: the project's URLs
plus ``benefits/`` if config/urls.py does not include it yet."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from django.test import Client
from django.urls import include, path, reverse

from canlian.benefits.models import Application, Enrolment, ParameterValue, Programme
from canlian.benefits.selectors import current_parameters
from canlian.benefits.services.applications import application_create, application_transition
from canlian.benefits.services.payroll import payroll_generate
from canlian.common.models import AuditLog
from canlian.common.tests.export_client import export_through_job
from canlian.registry.models import EconomicStatusPeriod
from config import urls as project_urls

urlpatterns = list(project_urls.urlpatterns)
if not any(getattr(p, "namespace", None) == "benefits" for p in urlpatterns):
    urlpatterns.append(path("benefits/", include("canlian.benefits.urls")))
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500

URLS = "canlian.benefits.tests.test_views_pages"
pytestmark = pytest.mark.urls(URLS)
S = Application.Status


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(name="staff")
def staff_fixture(users, make_user):
    """The conftest users plus a second town clerk in 甪直镇 and a second district officer (maker ≠ checker)."""
    return {
        **users,
        "luzhi2": make_user("luzhi2", "town_staff", "甪直镇"),
        "district2": make_user("district2", "district_staff"),
    }


@pytest.fixture(name="living")
def living_fixture(db):
    return Programme.objects.get(code="living_allowance")


@pytest.fixture(name="dibao_person")
def dibao_person_fixture(make_person):
    """王芳, 甪直镇, physical grade 2, in a 低保 household since 2020: eligible for both allowances."""
    person = make_person(name="王芳", category=4, grade=2)
    EconomicStatusPeriod.objects.create(person=person, status="dibao", valid_from=date(2020, 1, 1))
    return person


def enrol(staff, person, programme, *, applied_on=date(2023, 5, 10), account="6222020000000001"):
    """The whole application path through the services (the view tests walk it through the pages)."""
    maker = staff["town_luzhi"] if person.town.name == "甪直镇" else staff["town_mudu"]
    checker = staff["luzhi2"] if person.town.name == "甪直镇" else staff["district"]
    app = application_create(
        acting_user=maker,
        person=person,
        programme=programme,
        applied_on=applied_on,
        bank_name="农商行",
        bank_account=account,
    )
    app = application_transition(acting_user=maker, application=app, to_status=S.SUBMITTED)
    app = application_transition(acting_user=checker, application=app, to_status=S.TOWN_REVIEWED)
    app = application_transition(
        acting_user=checker, application=app, to_status=S.POSTED, today=date(2023, 5, 12)
    )
    app = application_transition(
        acting_user=staff["district"], application=app, to_status=S.DISTRICT_REVIEWED, today=date(2023, 5, 19)
    )
    app = application_transition(
        acting_user=staff["district2"],
        application=app,
        to_status=S.APPROVED,
        decision_date=date(2023, 5, 25),
        decision_doc_no="吴民〔2023〕12号",
    )
    return application_transition(acting_user=staff["district"], application=app, to_status=S.ENROLLED)


# ---- who may open which page -------------------------------------------------------------------------------


@pytest.fixture
def world(staff, dibao_person, living, example_standards_2023):
    """One enrolled person in 甪直镇, an open application, and a generated payroll."""
    enrol(staff, dibao_person, living)
    care = Programme.objects.get(code="care_allowance")
    open_app = application_create(
        acting_user=staff["town_luzhi"], person=dibao_person, programme=care, applied_on=date(2023, 5, 10)
    )
    payroll = payroll_generate(acting_user=staff["district"], programme=living, month=date(2023, 6, 1))
    return {"person": dibao_person, "app": open_app, "payroll": payroll}


READERS = {"district": 200, "town_luzhi": 200, "town_mudu": 200, "leader": 200}
NOT_READERS = {"admin": 403, "institution": 403, "auditor": 403}
PAGES = {
    "programme_list": (lambda w: reverse("benefits:programme_list"), READERS | NOT_READERS),
    "programme_detail": (
        lambda w: reverse("benefits:programme_detail", args=["living_allowance"]),
        READERS | NOT_READERS,
    ),
    "application_list": (lambda w: reverse("benefits:application_list"), READERS | NOT_READERS),
    "application_detail": (
        lambda w: reverse("benefits:application_detail", args=[w["app"].pk]),
        READERS | {"town_mudu": 404} | NOT_READERS,
    ),
    "application_create": (
        lambda w: reverse("benefits:application_create"),
        {"district": 200, "town_luzhi": 200, "town_mudu": 200, "leader": 403} | NOT_READERS,
    ),
    "review_queue": (
        lambda w: reverse("benefits:review_queue"),
        {"district": 200, "town_luzhi": 200, "town_mudu": 200, "leader": 403} | NOT_READERS,
    ),
    "person_benefits": (
        lambda w: reverse("benefits:person_benefits", args=[w["person"].pk]),
        READERS | {"town_mudu": 404, "admin": 404, "institution": 404, "auditor": 404},
    ),
    "payroll_list": (lambda w: reverse("benefits:payroll_list"), READERS | NOT_READERS),
    "payroll_detail": (
        lambda w: reverse("benefits:payroll_detail", args=[w["payroll"].pk]),
        READERS | NOT_READERS,
    ),
    "payroll_lines": (
        lambda w: reverse("benefits:payroll_lines", args=[w["payroll"].pk]),
        READERS | NOT_READERS,
    ),
    "screening": (lambda w: reverse("benefits:screening") + "?month=2023-06", READERS | NOT_READERS),
    "parameter_list": (
        lambda w: reverse("benefits:parameter_list"),
        {"admin": 200, "district": 200, "town_luzhi": 403, "town_mudu": 403, "leader": 403}
        | {"institution": 403, "auditor": 403},
    ),
}


def test_every_page_answers_each_role_as_the_access_rules_say(staff, world):
    got, expected = {}, {}
    for name, (url_of, by_role) in PAGES.items():
        url = url_of(world)
        for role, status in by_role.items():
            expected[(name, role)] = status
            got[(name, role)] = client_for(staff[role]).get(url).status_code
    assert got == expected


def test_anonymous_visitors_are_sent_to_the_login_page(world):
    response = Client().get(reverse("benefits:payroll_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_section_tabs_follow_the_role(staff, world):
    town = client_for(staff["town_luzhi"]).get(reverse("benefits:programme_list")).content.decode()
    district = client_for(staff["district"]).get(reverse("benefits:programme_list")).content.decode()
    leader = client_for(staff["leader"]).get(reverse("benefits:programme_list")).content.decode()
    params = reverse("benefits:parameter_list")
    queue = reverse("benefits:review_queue")
    assert (queue in town, params in town) == (True, False)
    assert (queue in district, params in district) == (True, True)
    assert (queue in leader, params in leader) == (False, False)


def test_programme_pages_count_what_the_user_may_see(staff, world):
    # Given one enrolled person in 甪直镇 and one open application there
    luzhi = client_for(staff["town_luzhi"]).get(reverse("benefits:programme_list"))
    mudu = client_for(staff["town_mudu"]).get(reverse("benefits:programme_list"))

    def counts(response):
        return {p.code: (p.active_count, p.open_applications) for p in response.context["programmes"]}

    assert counts(luzhi)["living_allowance"] == (1, 0)
    assert counts(luzhi)["care_allowance"] == (0, 1)
    assert counts(mudu)["living_allowance"] == (0, 0)
    assert counts(mudu)["care_allowance"] == (0, 0)


# ---- screening -----------------------------------------------------------------------------------------------


@pytest.fixture
def screening_world(staff, make_person, example_standards_2023):
    care = Programme.objects.get(code="care_allowance")
    owed = make_person(name="赵一", grade=1)  # eligible, not enrolled
    stale = make_person(name="钱二", grade=3)  # enrolled, no longer eligible
    Enrolment.objects.create(person=stale, programme=care, start_month=date(2023, 1, 1))
    fine = make_person(name="孙三", grade=2)
    Enrolment.objects.create(person=fine, programme=care, start_month=date(2023, 1, 1))
    elsewhere = make_person(name="李四", grade=1, town="木渎镇")
    return {"owed": owed, "stale": stale, "fine": fine, "elsewhere": elsewhere}


def test_screening_page_lists_both_ways_within_the_users_scope(staff, screening_world):
    w = screening_world
    url = reverse("benefits:screening") + "?programme=care_allowance&month=2023-07"
    district = client_for(staff["district"]).get(url)
    town = client_for(staff["town_mudu"]).get(url)
    assert district.status_code == 200
    assert [r["person_id"] for r in district.context["missing"]] == [w["owed"].pk, w["elsewhere"].pk]
    assert [r["amount"] for r in district.context["missing"]] == [150, 150]
    assert [r["person_id"] for r in district.context["stale"]] == [w["stale"].pk]
    assert [r["person_id"] for r in town.context["missing"]] == [w["elsewhere"].pk]
    assert town.context["stale"] == []
    html = district.content.decode()
    assert w["owed"].masked_id in html and w["owed"].id_number not in html


def test_screening_with_a_bad_month_says_so(staff, screening_world):
    response = client_for(staff["district"]).get(reverse("benefits:screening") + "?month=2023-13")
    assert response.status_code == 400
    assert "“2023-13”不是有效月份，请用 2023-06 的格式" in response.content.decode()


def test_screening_export_is_masked_scoped_and_audited(staff, screening_world):
    w = screening_world
    # When 木渎镇's clerk and the district officer export the care-allowance lists for July 2023
    _, town = export_through_job(
        client_for(staff["town_mudu"]),
        reverse("benefits:screening_export"),
        {"programme": "care_allowance", "month": "2023-07"},
    )
    _, district = export_through_job(
        client_for(staff["district"]),
        reverse("benefits:screening_export"),
        {"programme": "care_allowance", "month": "2023-07"},
    )
    # Then each gets an .xlsx with masked IDs and only what they may see
    assert district.status_code == 200
    assert district["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = openpyxl.load_workbook(io.BytesIO(b"".join(district.streaming_content)))
    assert book.sheetnames == ["应保尽保", "应退则退"]
    missing = [tuple(r) for r in book["应保尽保"].iter_rows(min_row=2, values_only=True)]
    assert missing == [
        ("赵一", w["owed"].masked_id, "甪直镇", None, "150.00"),
        ("李四", w["elsewhere"].masked_id, "木渎镇", None, "150.00"),
    ]
    stale = [tuple(r) for r in book["应退则退"].iter_rows(min_row=2, values_only=True)]
    assert stale == [("钱二", w["stale"].masked_id, "甪直镇", None, "发放中", "2023-01")]
    town_book = openpyxl.load_workbook(io.BytesIO(b"".join(town.streaming_content)))
    assert [r[0] for r in town_book["应保尽保"].iter_rows(min_row=2, values_only=True)] == ["李四"]
    assert town_book["应退则退"].max_row == 1
    # And both exports are audited
    rows = list(AuditLog.objects.filter(action="screening.export").order_by("id"))
    assert [(r.username, r.object_id, r.changes) for r in rows] == [
        ("mudu1", "care_allowance", {"eligible_not_enrolled": [None, 1], "enrolled_not_eligible": [None, 0]}),
        (
            "district1",
            "care_allowance",
            {"eligible_not_enrolled": [None, 2], "enrolled_not_eligible": [None, 1]},
        ),
    ]
    assert rows[0].detail == "月份 2023-07；镇(街道) 木渎镇；身份证号已脱敏"


def test_screening_export_is_post_only_and_refused_to_non_readers(staff, screening_world):
    url = reverse("benefits:screening_export")
    assert client_for(staff["district"]).get(url).status_code == 405
    assert client_for(staff["auditor"]).post(url, {"programme": "care_allowance"}).status_code == 403
    assert AuditLog.objects.filter(action="screening.export").count() == 0


# ---- parameters ------------------------------------------------------------------------------------------


def _param_post(name: str, valid_from: str, value: str, reference: str) -> dict:
    prefix = name.replace(".", "-")
    return {
        "param": name,
        f"{prefix}-name": name,
        f"{prefix}-valid_from": valid_from,
        f"{prefix}-value": value,
        f"{prefix}-reference": reference,
    }


def _param_view(response, name: str):
    return next(p for g in response.context["groups"] for p in g.params if p.name == name)


def test_parameters_page_shows_every_parameter_with_its_history(staff):
    response = client_for(staff["admin"]).get(reverse("benefits:parameter_list"))
    html = response.content.decode()
    params = {p.name: p for g in response.context["groups"] for p in g.params}
    assert len(params) == 23
    standard = params["common.dibao_standard"]
    assert standard.description == "苏州市城乡统一最低生活保障标准（元/人·月）"
    assert standard.unit == "元/月"
    assert standard.example is False
    assert [(str(v.valid_from), v.value, v.source) for v in standard.values] == [
        ("2025-07-01", "1208.00", "yaml"),
        ("2025-05-01", "1155.00", "yaml"),
    ]
    assert standard.current.value == "1208.00"
    assert 'id="param-common-dibao_standard"' in html
    assert "苏州市人民政府 2025-08-05 公告" in html
    assert "示例值" not in html
    # a city that splits its standard enters the urban and rural values here (Suzhou does not: none shipped)
    urban = params["common.dibao_standard_urban"]
    assert (urban.values, urban.current) == ([], None)
    assert params["common.posting_days"].unit == "天"
    assert params["common.certificate_back_pay_months"].unit == "个月"


def test_adding_a_value_shows_the_new_dated_row(staff):
    client = client_for(staff["district"])
    # When the district officer adds a 2030 standard
    response = client.post(
        reverse("benefits:parameter_add"),
        _param_post("common.dibao_standard", "2030-07-01", "1250.00", "苏民发〔2030〕1号"),
    )
    # Then it is stored, audited, and listed on top as a value still to come
    assert response.status_code == 302
    assert response["Location"] == reverse("benefits:parameter_list") + "#param-common-dibao_standard"
    assert list(ParameterValue.objects.values_list("name", "valid_from", "value", "reference")) == [
        ("common.dibao_standard", date(2030, 7, 1), "1250.00", "苏民发〔2030〕1号")
    ]
    assert AuditLog.objects.filter(action="parameter.add", object_id="common.dibao_standard").count() == 1
    page = client.get(reverse("benefits:parameter_list"))
    standard = _param_view(page, "common.dibao_standard")
    top = standard.values[0]
    assert (str(top.valid_from), top.value, top.source, top.by, top.future) == (
        "2030-07-01",
        "1250.00",
        "db",
        "district1",
        True,
    )
    assert standard.current.value == "1208.00"
    assert 'data-valid-from="2030-07-01"' in page.content.decode()


def test_a_value_before_the_first_sourced_one_can_be_added(staff):
    """A district that finds the source of an earlier standard adds it as a dated value (not shipped)."""
    client = client_for(staff["district"])
    response = client.post(
        reverse("benefits:parameter_add"),
        _param_post("common.dibao_standard", "2024-07-01", "1130.00", "苏州市民政局 2024 年低保标准通知"),
    )
    assert response.status_code == 302
    params = current_parameters()
    assert params.at("common.dibao_standard", date(2024, 7, 1)) == Decimal("1130.00")
    assert params.at("common.dibao_standard", date(2025, 5, 1)) == Decimal("1155.00")


def test_a_shipped_date_cannot_be_edited(staff):
    response = client_for(staff["district"]).post(
        reverse("benefits:parameter_add"),
        _param_post("common.dibao_standard", "2025-07-01", "1300.00", "改标准"),
    )
    assert response.status_code == 400
    form = _param_view(response, "common.dibao_standard").form
    assert form.errors["valid_from"] == ["2025-07-01 已有取值；调整标准请另选生效日期，历史取值不可修改"]
    html = response.content.decode()
    assert 'id="id_common-dibao_standard-valid_from_error"' in html
    assert ParameterValue.objects.count() == 0
    assert AuditLog.objects.filter(action="parameter.add").count() == 0


@pytest.mark.parametrize(
    "value, field, message",
    [("abc", "value", "取值无效"), ("-5", "value", "不能为负数"), ("1095.001", "value", "金额须精确到分")],
)
def test_bad_parameter_values_are_shown_next_to_the_field(staff, value, field, message):
    response = client_for(staff["district"]).post(
        reverse("benefits:parameter_add"),
        _param_post("common.dibao_standard", "2031-01-01", value, "依据"),
    )
    assert response.status_code == 400
    form = next(
        p for g in response.context["groups"] for p in g.params if p.name == "common.dibao_standard"
    ).form
    assert message in form.errors[field][0]
    assert ParameterValue.objects.count() == 0


def test_town_staff_cannot_add_parameter_values(staff):
    response = client_for(staff["town_luzhi"]).post(
        reverse("benefits:parameter_add"),
        _param_post("common.dibao_standard", "2030-07-01", "1250.00", "依据"),
    )
    assert response.status_code == 403
    assert ParameterValue.objects.count() == 0
