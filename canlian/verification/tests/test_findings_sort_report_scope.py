"""The findings list sorted as the clerks asked (money at stake first, any column, stable pages), the labelled
bulk-confirm reason box, the report of a month's runs (or a date range), and every count a town clerk sees on
the comparison pages being their own town's.

The world (``world.build``) compared for August 2023 gives 13 findings: 10 in 甪直镇, 3 in 木渎镇. A second
run in August adds one death in each town; a run for September adds one more death in 木渎镇."""

from __future__ import annotations

import io
from datetime import date, datetime
from urllib.parse import quote

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from canlian.benefits.models import Enrolment, Programme
from canlian.common.models import AuditLog
from canlian.common.spreadsheet import read_sheets
from canlian.common.tests.export_client import content, export_through_job
from canlian.registry.models import EconomicStatusPeriod
from canlian.verification import selectors
from canlian.verification.exporters import report_xlsx
from canlian.verification.models import Finding, Match, OutsideList, VerificationRun
from canlian.verification.selectors import FINDING_SORT_DEFAULT, ReportScope, finding_sort
from canlian.verification.services import outside_list_import, verification_run

from . import world
from .conftest import xlsx_bytes
from .test_views import client_for

pytestmark = pytest.mark.urls("canlian.verification.tests.urls")


def at(y, m, d, hh=12, mm=0) -> datetime:
    return timezone.make_aware(datetime(y, m, d, hh, mm))


@pytest.fixture
def ran(staff, make_person):
    w = world.build(make_person)
    world.import_lists(staff["district"], w["persons"])
    w["run"] = verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    return w


def dies(staff, make_person, *, name, town, died, birth, received):
    """A person on the living allowance (低保, from May 2023) who appears on a deaths list."""
    person = make_person(name=name, town=town, birth=birth, grade=1)
    EconomicStatusPeriod.objects.create(person=person, status="dibao", valid_from=date(2020, 1, 1))
    Enrolment.objects.create(
        person=person,
        programme=Programme.objects.get(code="living_allowance"),
        start_month=date(2023, 5, 1),
        bank_account="6222000011113333",
    )
    outside_list_import(
        acting_user=staff["district"],
        source=xlsx_bytes(["姓名", "身份证号", "死亡日期"], [[name, person.id_number, died]]),
        kind="deaths",
        filename=f"{name}.xlsx",
        source_name="吴中区殡仪馆",
        received_on=received,
    )
    return person


@pytest.fixture
def three_runs(ran, staff, make_person):
    """Run 1 (August, started 2023-08-03), run 2 (August, started on the last evening of August: one death
    in each town) and run 3 (September, started on 1 September just after midnight: one death in 木渎镇)."""
    dies(
        staff,
        make_person,
        name="蒋甲",
        town="甪直镇",
        died="2023-07-05",
        birth=date(1945, 1, 1),
        received=date(2023, 8, 30),
    )
    dies(
        staff,
        make_person,
        name="沈乙",
        town="木渎镇",
        died="2023-07-06",
        birth=date(1946, 1, 1),
        received=date(2023, 8, 30),
    )
    second = verification_run(acting_user=staff["district"], month=date(2023, 8, 1))
    dies(
        staff,
        make_person,
        name="韩丙",
        town="木渎镇",
        died="2023-08-20",
        birth=date(1947, 1, 1),
        received=date(2023, 9, 1),
    )
    third = verification_run(acting_user=staff["district"], month=date(2023, 9, 1))
    first = ran["run"]
    VerificationRun.objects.filter(pk=first.pk).update(started_at=at(2023, 8, 3, 10))
    VerificationRun.objects.filter(pk=second.pk).update(started_at=at(2023, 8, 31, 23, 50))
    VerificationRun.objects.filter(pk=third.pk).update(started_at=at(2023, 9, 1, 0, 10))
    return {**ran, "runs": [first, second, third]}


def per_run(run) -> dict[str, int]:
    return {t: Finding.objects.filter(run=run, town__name=t).count() for t in ("甪直镇", "木渎镇")}


# ---- sorting -------------------------------------------------------------------------------------------


def listed(client, query="") -> list[Finding]:
    response = client.get(reverse("verification:finding_list") + query)
    assert response.status_code == 200
    return list(response.context["page"].object_list)


def test_findings_are_sorted_by_money_at_stake_by_default(ran, staff):
    shown = listed(client_for(staff["district"]))
    expected = sorted(Finding.objects.all(), key=lambda f: (-f.money_at_stake_fen, -f.pk))
    assert [f.pk for f in shown] == [f.pk for f in expected]
    money = [f.money_at_stake_fen for f in shown]
    assert money == sorted(money, reverse=True) and money[0] > money[-1]
    html = client_for(staff["district"]).get(reverse("verification:finding_list")).content.decode()
    assert 'aria-sort="descending" data-sort="money"' in html
    assert 'aria-sort="none" data-sort="id"' in html


@pytest.mark.parametrize(
    "sort, key",
    [
        ("id", lambda f: (f.pk,)),
        ("-id", lambda f: (-f.pk,)),
        ("kind", lambda f: (f.kind, f.pk)),
        ("name", lambda f: (f.person.name_pinyin, f.pk)),
        ("town", lambda f: (f.town.code, f.pk)),
        ("money", lambda f: (f.money_at_stake_fen, f.pk)),
        ("-overpayment", lambda f: (-f.overpayment_fen, -f.pk)),
        ("status", lambda f: (f.status, f.pk)),
    ],
)
def test_findings_sort_by_any_column_with_a_stable_order(ran, staff, sort, key):
    shown = listed(client_for(staff["district"]), f"?sort={sort}&status=all")
    expected = sorted(Finding.objects.select_related("person", "town"), key=key)
    assert [f.pk for f in shown] == [f.pk for f in expected]


def test_nullable_columns_put_blanks_last_either_way(ran, staff):
    client = client_for(staff["district"])
    for sort in ("programme", "-programme", "effective", "-effective", "match", "-match"):
        shown = listed(client, f"?sort={sort}&status=all")
        field = {"programme": "enrolment_id", "effective": "effective_month", "match": "match_id"}[
            sort.lstrip("-")
        ]
        blanks = [getattr(f, field) is None for f in shown]
        assert blanks == sorted(blanks), sort  # every blank after every value
        assert len(shown) == 13


def test_an_unknown_sort_key_falls_back_to_money(ran, staff):
    for text in ("person__id_number", "--money", "money;drop", "", None):
        assert finding_sort(text) == FINDING_SORT_DEFAULT
    assert finding_sort("-kind") == "-kind"
    default = [f.pk for f in listed(client_for(staff["district"]))]
    assert [f.pk for f in listed(client_for(staff["district"]), "?sort=person__id_number")] == default


def test_pages_neither_repeat_nor_skip_findings_when_values_tie(ran, staff, monkeypatch):
    """Many findings share a status and a kind: page by page (3 a page), every finding once, in order."""
    from canlian.verification import views

    monkeypatch.setattr(views, "PAGE", 3)
    client = client_for(staff["district"])
    for sort in ("status", "-status", "money", "kind"):
        seen = []
        for page in range(1, 6):
            seen += [f.pk for f in listed(client, f"?sort={sort}&status=all&page={page}")]
        assert sorted(seen) == sorted(Finding.objects.values_list("pk", flat=True)), sort
        assert len(seen) == len(set(seen)) == 13


def test_sort_links_keep_the_filters_and_toggle_the_direction(ran, staff):
    response = client_for(staff["district"]).get(
        reverse("verification:finding_list") + "?kind=deceased&sort=town&page=1"
    )
    columns = response.context["columns"]
    assert columns["town"]["aria_sort"] == "ascending"
    assert columns["town"]["url"] == "?kind=deceased&sort=-town"
    assert columns["money"]["url"] == "?kind=deceased&sort=-money"
    assert columns["name"]["url"] == "?kind=deceased&sort=name"
    html = response.content.decode()
    assert 'name="sort" value="town"' in html  # the filter form keeps the sort


def test_the_bulk_confirm_reason_box_has_a_label(ran, staff):
    html = client_for(staff["town_luzhi"]).get(reverse("verification:finding_list")).content.decode()
    assert (
        '<label class="form-label small mb-0" for="id_note">处理意见（确认理由，记入每条疑点）</label>'
        in html
    )
    assert 'id="id_note"' in html


# ---- the report of a month, or of a date range ------------------------------------------------------------


def test_the_report_shows_every_run_of_the_month(three_runs, staff):
    first, second, third = three_runs["runs"]
    assert per_run(second) == {"甪直镇": 1, "木渎镇": 1}
    assert per_run(third) == {"甪直镇": 0, "木渎镇": 1}
    client = client_for(staff["district"])
    # With no choice: every run of the latest run's month (September: run 3 only)
    latest = client.get(reverse("verification:report"))
    assert latest.context["scope"] == ReportScope(month=date(2023, 9, 1))
    assert (latest.context["report"].total["count"], latest.context["report"].run_count) == (1, 1)
    # August: runs 1 and 2 together, not only the latest of them
    august = client.get(reverse("verification:report") + "?month=2023-08")
    rep = august.context["report"]
    assert (rep.total["count"], rep.run_count) == (15, 2)
    assert {t["town"]: t["count"] for t in rep.by_town} == {"甪直镇": 11, "木渎镇": 4}
    fen = Finding.objects.filter(run__in=[first, second]).aggregate(s=Sum("money_at_stake_fen"))["s"]
    assert rep.total["money"] == selectors.yuan(fen)
    deceased = next(k for k in rep.by_kind if k["kind"] == "deceased")
    assert deceased["count"] == 4  # 2 from run 1, 2 from run 2
    html = august.content.decode()
    assert '<span id="report-scope">2023年8月（该月全部比对）</span>' in html
    assert 'href="/verification/findings/?run_month=2023-08&kind=deceased&status=all"' in html
    # The findings list that link opens has the same 4
    linked = client.get(reverse("verification:finding_list") + "?run_month=2023-08&kind=deceased&status=all")
    assert len(linked.context["page"].object_list) == 4
    # One run alone still works (the runs page links to it)
    alone = client.get(reverse("verification:report") + f"?run={second.pk}").context["report"]
    assert (alone.total["count"], alone.run_count) == (2, 1)


def test_the_report_of_a_date_range_counts_runs_started_on_its_first_and_last_day(three_runs, staff):
    client = client_for(staff["district"])
    url = reverse("verification:report")
    august = client.get(url + "?from=2023-08-03&to=2023-08-31").context["report"]
    assert (august.total["count"], august.run_count) == (15, 2)
    last_day = client.get(url + "?from=2023-08-31&to=2023-08-31").context["report"]
    assert (last_day.total["count"], last_day.run_count) == (2, 1)
    first_of_september = client.get(url + "?from=2023-09-01").context["report"]
    assert (first_of_september.total["count"], first_of_september.run_count) == (1, 1)
    _, export = export_through_job(
        client, reverse("verification:report_export") + "?from=2023-08-03&to=2023-08-31"
    )
    assert quote("数据比对报告_20230803-20230831.xlsx") in export["Content-Disposition"]
    _, sheets = read_sheets(content(export))
    assert sheets[0].rows[-1][-3] == 15.0  # the total count
    before = client.get(url + "?to=2023-08-02").context["report"]
    assert (before.total["count"], before.run_count) == (0, 0)
    linked = client.get(
        reverse("verification:finding_list") + "?run_from=2023-08-04&run_to=2023-09-01&status=all"
    )
    assert len(linked.context["page"].object_list) == 3  # runs 2 and 3


@pytest.mark.parametrize(
    "query, message",
    [
        ("?month=2023-13", "比对月份“2023-13”无效，请用 2023-08 的格式；已显示最近一次比对所在月份"),
        ("?from=2023-08-xx", "开始日期“2023-08-xx”无效，请用 2023-08-01 的格式；已显示最近一次比对所在月份"),
        ("?to=31/08/2023", "结束日期“31/08/2023”无效，请用 2023-08-31 的格式；已显示最近一次比对所在月份"),
        (
            "?from=2023-09-01&to=2023-08-01",
            "开始日期 2023-09-01 晚于结束日期 2023-08-01；已显示最近一次比对所在月份",
        ),
    ],
)
def test_a_bad_report_scope_says_what_is_wrong(three_runs, staff, query, message):
    client = client_for(staff["district"])
    response = client.get(reverse("verification:report") + query)
    assert response.status_code == 400
    assert response.context["scope_error"] == message
    assert response.context["scope"] == ReportScope(month=date(2023, 9, 1))
    export = client.post(reverse("verification:report_export") + query)
    assert (export.status_code, export.content.decode()) == (400, message)
    assert not AuditLog.objects.filter(action="verification.report_export").exists()


def test_the_month_export_as_a_town_clerk(three_runs, staff):
    client = client_for(staff["town_mudu"])
    _, response = export_through_job(client, reverse("verification:report_export") + "?month=2023-08")
    assert response.status_code == 200
    assert (
        "%E6%95%B0%E6%8D%AE%E6%AF%94%E5%AF%B9%E6%8A%A5%E5%91%8A_202308.xlsx"
        in response["Content-Disposition"]
    )
    _, sheets = read_sheets(content(response))
    summary, detail = sheets[0].rows, sheets[1].rows
    assert summary[0] == ["疑点类型", "木渎镇", "合计", "每月涉及金额（元）", "多发金额（元）"]
    assert summary[-1][:3] == ["合计", 4.0, 4.0]
    assert len(detail) == 1 + 4 and {row[2] for row in detail[1:]} == {"木渎镇"}
    audit = AuditLog.objects.get(action="verification.report_export")
    assert (audit.user, audit.object_id, audit.changes) == (
        staff["town_mudu"],
        "",
        {"rows": [None, 4], "masked": [None, True], "scope": [None, "2023年8月（该月全部比对）"]},
    )
    buf = io.BytesIO()
    assert (
        report_xlsx(acting_user=staff["district"], scope=ReportScope(month=date(2023, 8, 1)), out=buf) == 15
    )


# ---- a town clerk's counts, with data in the other town ---------------------------------------------------


def test_a_town_clerk_sees_their_towns_counts_on_every_comparison_page(three_runs, staff):
    """甪直镇's clerk, with 木渎镇's findings, matches and list rows in the same runs and lists."""
    first, second, third = three_runs["runs"]
    luzhi, district = client_for(staff["town_luzhi"]), client_for(staff["district"])

    # The runs page: findings and candidates per run
    runs = {
        r.pk: (r.total, r.candidates) for r in luzhi.get(reverse("verification:run_list")).context["runs"]
    }
    assert runs == {first.pk: (10, 0), second.pk: (1, 0), third.pk: (0, 0)}
    runs_district = {
        r.pk: (r.total, r.candidates) for r in district.get(reverse("verification:run_list")).context["runs"]
    }
    assert {pk: n for pk, (n, _) in runs_district.items()} == {first.pk: 13, second.pk: 2, third.pk: 1}
    pending = Match.objects.filter(status="pending", run=first)
    assert runs_district[first.pk][1] == pending.count()
    assert runs[first.pk][1] == pending.filter(person__town__name="甪直镇").count()

    # The report (the default month, August, a run) and the findings list
    rep = luzhi.get(reverse("verification:report") + "?month=2023-08").context["report"]
    assert (rep.total["count"], [t["town"] for t in rep.by_town]) == (11, ["甪直镇"])
    assert (
        luzhi.get(reverse("verification:report") + f"?run={third.pk}").context["report"].total["count"] == 0
    )
    page = luzhi.get(reverse("verification:finding_list") + "?status=all").context["page"]
    assert page.paginator.count == 11

    # The lists: rows of the deaths list matched to 甪直镇 persons only; invalid and refused rows are no town's
    deaths = (
        OutsideList.objects.filter(kind="deaths").order_by("id").first()
    )  # 赵一 and 卫十一 (甪直镇), 无名氏
    lists = {lst.pk: lst for lst in luzhi.get(reverse("verification:list_index")).context["lists"]}
    mudu_list = OutsideList.objects.get(file_name="沈乙.xlsx")
    assert lists[mudu_list.pk].visible_rows == 0
    assert lists[OutsideList.objects.get(file_name="蒋甲.xlsx").pk].visible_rows == 1
    html = luzhi.get(reverse("verification:list_index")).content.decode()
    assert "甪直镇的行数" in html
    summary = luzhi.get(reverse("verification:list_detail", args=[deaths.pk])).context["summary"]
    district_summary = district.get(reverse("verification:list_detail", args=[deaths.pk])).context["summary"]
    assert (summary["invalid_ids"], summary["rejected"]) == (None, None)
    # 赵一 matched, 卫十一 a candidate (both 甪直镇); 无名氏's invalid ID belongs to no town
    assert summary == {"rows": 2, "matched": 1, "candidates": 1, "invalid_ids": None, "rejected": None}
    assert district_summary == {"rows": 3, "matched": 1, "candidates": 1, "invalid_ids": 2, "rejected": 0}
    detail = luzhi.get(reverse("verification:list_detail", args=[deaths.pk])).content.decode()
    assert '<div class="value" id="stat-invalid">—</div>' in detail
    elderly = OutsideList.objects.get(kind="elderly_care")  # 周五, 木渎镇
    assert luzhi.get(reverse("verification:list_detail", args=[elderly.pk])).context["summary"] == {
        "rows": 0,
        "matched": 0,
        "candidates": 0,
        "invalid_ids": None,
        "rejected": None,
    }
    mudu = client_for(staff["town_mudu"]).get(reverse("verification:list_detail", args=[elderly.pk]))
    assert mudu.context["summary"] == {
        "rows": 1,
        "matched": 1,
        "candidates": 0,
        "invalid_ids": None,
        "rejected": None,
    }
