"""Assistive devices: the catalogue imported from xlsx by version (errors by row and column, nothing
written on a bad file, what changed between versions, old versions kept for old cases), a fitting case by
the roles that do each step (maker ≠ checker), subsidy = min(price, cap) exact to the fen, the replacement
cycle on the day before and the day it becomes allowed, loans and overdue, the indicator on 1 Jan / 31 Dec,
the roster import, and audit rows for every move with nothing changed on a refused one."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from canlian.casework.device_models import DeviceCatalogVersion, DeviceFitting, DeviceItem, DeviceLoan
from canlian.casework.importing import roster_import, roster_stage
from canlian.casework.models import Case, DueItem
from canlian.casework.programmes import devices as dv
from canlian.casework.services import case_move
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog, WorkflowHistory
from canlian.common.workflow import allowed_moves

from .conftest import designated, xlsx_bytes

pytestmark = pytest.mark.django_db
D = Decimal

HEADERS = ["编码", "名称", "补贴上限", "更换周期", "适用类别", "个性化", "智能"]
V2019 = [
    ["12 22 03", "普通轮椅", 800, 5, "肢体", "", ""],
    ["12.22.06", "护理轮椅", 1200, 5, "肢体、多重", "", ""],
    ["122312", "电动轮椅", 5000, 6, "肢体", "是", "是"],
    ["22 06 06", "耳背式助听器", 3000, 5, "听力、言语", "是", ""],
    ["12 39 03", "盲杖", 60, 2, "视力", "", ""],
]


@pytest.fixture
def catalogue(users):
    return dv.catalogue_import(
        acting_user=users["district"],
        source=xlsx_bytes(HEADERS, V2019),
        filename="目录2019.xlsx",
        version="2019版",
        effective_from=date(2019, 1, 1),
    )


@pytest.fixture
def point(users, district2, towns):
    return designated(users, district2, towns, "甪直镇辅具服务点", kind="device_service_point")


@pytest.fixture
def point_staff(make_user, point):
    u = make_user("inst_point", "institution_staff")
    u.institution = point
    u.save(update_fields=["institution"])
    return u


@pytest.fixture
def wheel_user(make_person):
    return make_person(name="李强", category=4, grade=1, issue=date(2018, 5, 6))


def _run_to_approved(users, district2, person, point, *, applied_on=date(2023, 3, 1), device="122203"):
    town = users["town_luzhi"]
    case = dv.device_apply(
        acting_user=town, person=person, applied_on=applied_on, device=device, village_worker="王村委"
    )
    case = case_move(acting_user=town, case=case, move="village_review", expected_state="applied")
    case = case_move(acting_user=town, case=case, move="town_review", expected_state="village_reviewed")
    case = case_move(
        acting_user=users["district"],
        case=case,
        move="assess",
        expected_state="town_reviewed",
        item_code=device,
        institution=point,
    )
    return case_move(acting_user=district2, case=case, move="approve", expected_state="assessed")


# ---- catalogue ---------------------------------------------------------------------------------------


def test_catalogue_import_reads_codes_caps_cycles_and_flags(catalogue, users):
    items = {i.code: i for i in catalogue.items.all()}
    assert sorted(items) == ["122203", "122206", "122312", "123903", "220606"]
    chair = items["122206"]
    assert (chair.name, chair.cap, chair.replacement_years, chair.categories) == (
        "护理轮椅",
        D("1200.00"),
        5,
        [4, 7],
    )
    assert items["122312"].personalised and items["122312"].smart
    assert not items["123903"].personalised and items["123903"].code_display == "12 39 03"
    log = AuditLog.objects.get(action="devices.catalogue_import")
    assert log.changes["items"] == [None, 5] and log.changes["version"] == [None, "2019版"]
    assert dv.version_in_force(date(2018, 12, 31)) is None
    assert dv.version_in_force(date(2019, 1, 1)) == catalogue


def test_catalogue_bad_file_rejected_by_row_and_column_and_nothing_written(users):
    rows = [
        ["12 22", "普通轮椅", 800, 5, "肢体", "", ""],
        ["122206", "护理轮椅", "八百", 5, "肢体", "", ""],
        ["123903", "盲杖", 60, 0, "盲人", "", ""],
        ["123903", "盲杖", 60, 2, "视力", "", ""],
    ]
    with pytest.raises(ValidationFailed) as exc:
        dv.catalogue_import(
            acting_user=users["district"],
            source=xlsx_bytes(HEADERS, rows),
            filename="坏目录.xlsx",
            version="坏",
            effective_from=date(2020, 1, 1),
        )
    messages = [e["message"] for e in exc.value.rows]
    assert messages == [
        "第2行A列（编码）：编码“12 22”应为 6 位数字（主类、次类、支类各两位，如 12 22 03）",
        "第3行C列（补贴上限）：补贴上限“八百”应为不小于 0、精确到分的金额",
        "第4行D列（更换周期）：更换周期“0”应为不小于 1 的整数年",
        "第4行E列（适用类别）：适用类别“盲人”无法识别，应为 视力、听力、言语、肢体、智力、精神、多重 中的一项或多项",
        "第5行A列（编码）：编码 123903 与第4行重复",
    ]
    assert not DeviceCatalogVersion.objects.exists() and not DeviceItem.objects.exists()
    assert not AuditLog.objects.filter(action="devices.catalogue_import").exists()


def test_catalogue_import_is_district_only(users):
    with pytest.raises(PermissionDenied):
        dv.catalogue_import(
            acting_user=users["town_luzhi"],
            source=xlsx_bytes(HEADERS, V2019),
            version="x",
            effective_from=date(2019, 1, 1),
        )
    assert not DeviceCatalogVersion.objects.exists()


def test_new_version_keeps_old_one_and_shows_what_changed(catalogue, users, district2, wheel_user, point):
    old_case = dv.device_apply(
        acting_user=users["town_luzhi"], person=wheel_user, applied_on=date(2024, 12, 31), device="122312"
    )
    rows = [r[:] for r in V2019 if r[0] != "12 39 03"]
    rows[0][2] = 900  # 普通轮椅 cap 800 → 900
    rows.append(["12 39 06", "智能盲杖", 1500, 3, "视力", "", "是"])
    v2 = dv.catalogue_import(
        acting_user=users["district"],
        source=xlsx_bytes(HEADERS, rows),
        filename="目录2025.xlsx",
        version="2025版",
        effective_from=date(2025, 1, 1),
    )
    diff = dv.catalogue_diff(catalogue, v2)
    assert [i.code for i in diff["added"]] == ["123906"]
    assert [i.code for i in diff["removed"]] == ["123903"]
    assert [(c["item"].code, c["fields"]) for c in diff["changed"]] == [
        ("122203", [("补贴上限", "800.00", "900.00")])
    ]
    log = AuditLog.objects.get(action="devices.catalogue_import", object_id=str(v2.pk))
    assert (log.changes["added"], log.changes["removed"], log.changes["changed"]) == (
        [None, 1],
        [None, 1],
        [None, 1],
    )
    # the case opened under 2019版 keeps it; one opened on 2025-01-01 takes 2025版
    assert DeviceFitting.objects.get(case=old_case).version == catalogue
    assert DeviceItem.objects.filter(version=catalogue).count() == 5
    new_case = dv.device_apply(
        acting_user=users["town_luzhi"], person=wheel_user, applied_on=date(2025, 1, 1), device="12 22 03"
    )
    new_fitting = DeviceFitting.objects.get(case=new_case)
    assert new_fitting.version == v2 and new_fitting.requested.cap == D("900.00")
    with pytest.raises(ValidationFailed) as exc:
        dv.device_apply(
            acting_user=users["town_luzhi"], person=wheel_user, applied_on=date(2025, 1, 2), device="123903"
        )
    assert exc.value.errors == {"device": "辅具目录 2025版 中没有“123903”"}
    assert (
        dv.version_in_force(date(2025, 1, 1)) == v2 and dv.version_in_force(date(2024, 12, 31)) == catalogue
    )


# ---- the fitting case ----------------------------------------------------------------------------------


def test_fitting_case_end_to_end_by_roles_with_exact_subsidy_and_audit(
    catalogue, users, district2, wheel_user, point, point_staff
):
    case = _run_to_approved(users, district2, wheel_user, point)
    assert case.state == "approved" and case.institution == point
    case = case_move(
        acting_user=point_staff,
        case=case,
        move="deliver",
        expected_state="approved",
        amount_price=D("1234.56"),
        fitted_on=date(2023, 4, 30),
    )
    f = DeviceFitting.objects.get(case=case)
    assert (f.price, f.subsidy, f.own_share) == (D("1234.56"), D("800.00"), D("434.56"))
    assert f.fitted_on == date(2023, 4, 30) and f.village_worker == "王村委"
    visits = list(DueItem.objects.filter(case=case).values_list("kind", "due_on"))
    assert visits == [("return_visit", date(2023, 5, 30))]
    actions = list(
        AuditLog.objects.filter(action__startswith="case.devices.", object_id=str(case.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "case.devices.open",
        "case.devices.apply",
        "case.devices.village_review",
        "case.devices.town_review",
        "case.devices.assess",
        "case.devices.approve",
        "case.devices.deliver",
    ]
    deliver = AuditLog.objects.get(action="case.devices.deliver", object_id=str(case.pk))
    assert deliver.changes["subsidy"] == [None, "800.00"] and deliver.changes["own_share"] == [None, "434.56"]
    assert deliver.changes["state"] == ["approved", "fitted"] and deliver.user == point_staff
    assert deliver.detail == "适配交付：区残联审批通过 → 已适配交付"
    assert WorkflowHistory.objects.filter(workflow="case.devices", object_id=str(case.pk)).count() == 5


def test_price_under_the_cap_is_fully_subsidised(catalogue, users, district2, wheel_user, point):
    case = _run_to_approved(users, district2, wheel_user, point)
    case = case_move(
        acting_user=users["district"],
        case=case,
        move="deliver",
        expected_state="approved",
        amount_price=D("799.99"),
        fitted_on=date(2023, 3, 31),
    )
    f = DeviceFitting.objects.get(case=case)
    assert (f.subsidy, f.own_share) == (D("799.99"), D("0.00"))
    assert dv.subsidy_for(D("800.00"), D("800.00")) == (D("800.00"), D("0.00"))
    assert dv.subsidy_for(D("800.01"), D("800.00")) == (D("800.00"), D("0.01"))


def test_assessor_may_not_approve_and_a_refused_move_changes_nothing(
    catalogue, users, district2, wheel_user, point
):
    town = users["town_luzhi"]
    case = dv.device_apply(acting_user=town, person=wheel_user, applied_on=date(2023, 3, 1), device="122203")
    case = case_move(acting_user=town, case=case, move="village_review", expected_state="applied")
    case = case_move(acting_user=town, case=case, move="town_review", expected_state="village_reviewed")
    case = case_move(
        acting_user=users["district"],
        case=case,
        move="assess",
        expected_state="town_reviewed",
        item_code="12 22 03",
        institution=point,
    )
    before = (case.state, case.version, WorkflowHistory.objects.count(), AuditLog.objects.count())
    assert "approve" not in [m.name for m in allowed_moves(users["district"], case)]
    with pytest.raises(PermissionDenied, match="经办与审核须由不同人员办理"):
        case_move(acting_user=users["district"], case=case, move="approve", expected_state="assessed")
    with pytest.raises(PermissionDenied):
        case_move(acting_user=town, case=case, move="approve", expected_state="assessed")
    with pytest.raises(DomainError, match="当前状态已变为“已评估”"):
        case_move(acting_user=district2, case=case, move="approve", expected_state="town_reviewed")
    case.refresh_from_db()
    assert (case.state, case.version, WorkflowHistory.objects.count(), AuditLog.objects.count()) == before


def test_assessment_refuses_an_item_not_in_the_case_version_or_not_eligible(
    catalogue, users, wheel_user, point
):
    town = users["town_luzhi"]
    case = dv.device_apply(acting_user=town, person=wheel_user, applied_on=date(2023, 3, 1), device="122203")
    case = case_move(acting_user=town, case=case, move="village_review", expected_state="applied")
    case = case_move(acting_user=town, case=case, move="town_review", expected_state="village_reviewed")
    with pytest.raises(ValidationFailed) as exc:
        case_move(
            acting_user=users["district"],
            case=case,
            move="assess",
            expected_state="town_reviewed",
            item_code="999999",
            institution=point,
        )
    assert exc.value.errors == {"item_code": "辅具目录 2019版 中没有“999999”"}
    with pytest.raises(ValidationFailed) as exc:
        case_move(
            acting_user=users["district"],
            case=case,
            move="assess",
            expected_state="town_reviewed",
            item_code="220606",
            institution=point,
        )
    assert exc.value.errors == {"item_code": "“耳背式助听器”适用于听力、言语残疾，该残疾人为肢体残疾"}
    case.refresh_from_db()
    assert case.state == "town_reviewed" and DeviceFitting.objects.get(case=case).item is None


def test_rejection_records_the_reason(catalogue, users, wheel_user):
    town = users["town_luzhi"]
    case = dv.device_apply(acting_user=town, person=wheel_user, applied_on=date(2023, 3, 1), device="122203")
    with pytest.raises(ValidationFailed, match="请填写不通过原因"):
        case_move(acting_user=town, case=case, move="reject", expected_state="applied")
    case = case_move(
        acting_user=town, case=case, move="reject", expected_state="applied", close_reason="已有同类辅具"
    )
    assert case.state == "rejected" and case.close_reason == "已有同类辅具"
    assert AuditLog.objects.get(action="case.devices.reject").changes["close_reason"] == ["", "已有同类辅具"]


# ---- replacement cycle ------------------------------------------------------------------------------


def _fitted(users, district2, person, point, *, applied_on, fitted_on, device="122203"):
    case = _run_to_approved(users, district2, person, point, applied_on=applied_on, device=device)
    return case_move(
        acting_user=users["district"],
        case=case,
        move="deliver",
        expected_state="approved",
        amount_price=D("700.00"),
        fitted_on=fitted_on,
    )


def test_replacement_cycle_boundary_same_subclass(catalogue, users, district2, wheel_user, point):
    _fitted(users, district2, wheel_user, point, applied_on=date(2020, 2, 1), fitted_on=date(2020, 3, 1))
    town = users["town_luzhi"]
    n = Case.objects.count()
    for device in ("122203", "122206"):  # the same item and another division of subclass 12 22
        with pytest.raises(ValidationFailed) as exc:
            dv.device_apply(acting_user=town, person=wheel_user, applied_on=date(2025, 2, 28), device=device)
        assert exc.value.errors == {
            "device": "2020-03-01 已适配同类辅具“普通轮椅”（12 22 次类），更换周期 5 年，2025-03-01 起方可再次申请"
        }
    assert Case.objects.count() == n
    # another subclass (12 23 powered wheelchairs) is not blocked
    other = dv.device_apply(
        acting_user=town, person=wheel_user, applied_on=date(2025, 2, 28), device="122312"
    )
    assert other.state == "applied"
    case = dv.device_apply(acting_user=town, person=wheel_user, applied_on=date(2025, 3, 1), device="122206")
    assert DeviceFitting.objects.get(case=case).requested.code == "122206"


def test_replacement_cycle_leap_day(catalogue):
    assert dv.add_years(date(2020, 2, 29), 5) == date(2025, 2, 28)
    assert dv.add_years(date(2020, 2, 29), 4) == date(2024, 2, 29)


# ---- scope -----------------------------------------------------------------------------------------------


def test_scope_town_and_institution_staff(
    catalogue, users, district2, wheel_user, point, point_staff, make_user, make_person
):
    mudu_person = make_person(name="周敏", town="木渎镇", category=4)
    with pytest.raises(PermissionDenied):
        dv.device_apply(
            acting_user=users["town_luzhi"], person=mudu_person, applied_on=date(2023, 3, 1), device="122203"
        )
    case = dv.device_apply(
        acting_user=users["town_luzhi"], person=wheel_user, applied_on=date(2023, 3, 1), device="122203"
    )
    with pytest.raises(PermissionDenied):
        case_move(acting_user=users["town_mudu"], case=case, move="village_review", expected_state="applied")
    # the service point's staff see the case only once it is assigned to them
    from canlian.casework.access import cases_visible

    assert not cases_visible(point_staff).filter(pk=case.pk).exists()
    case = case_move(
        acting_user=users["town_luzhi"], case=case, move="village_review", expected_state="applied"
    )
    case = case_move(
        acting_user=users["town_luzhi"], case=case, move="town_review", expected_state="village_reviewed"
    )
    case = case_move(
        acting_user=users["district"],
        case=case,
        move="assess",
        expected_state="town_reviewed",
        item_code="122203",
        institution=point,
    )
    assert cases_visible(point_staff).filter(pk=case.pk).exists()
    other = make_user("inst_other", "institution_staff")
    assert not cases_visible(other).filter(pk=case.pk).exists()


# ---- indicator ---------------------------------------------------------------------------------------------


def test_devices_fitted_counts_persons_by_town_on_year_boundaries(
    catalogue, users, district2, point, make_person, towns
):
    a = make_person(name="甲一", category=4)
    b = make_person(name="乙二", category=4)
    c = make_person(name="丙三", category=1)
    _fitted(users, district2, a, point, applied_on=date(2022, 12, 1), fitted_on=date(2022, 12, 31))
    _fitted(users, district2, b, point, applied_on=date(2022, 12, 1), fitted_on=date(2023, 1, 1))
    _fitted(
        users, district2, b, point, applied_on=date(2023, 5, 1), fitted_on=date(2023, 5, 2), device="122312"
    )
    _fitted(
        users,
        district2,
        c,
        point,
        applied_on=date(2023, 12, 1),
        fitted_on=date(2023, 12, 31),
        device="123903",
    )
    luzhi = towns["甪直镇"].pk
    assert dv.devices_fitted_by_town(2023) == {luzhi: 2}
    assert dv.devices_fitted_by_town(2022) == {luzhi: 1}
    assert dv.devices_fitted_by_town(2024) == {}
    from canlian.workplan.indicators import indicators

    assert "devices_fitted" in [i.code for i in indicators()]


# ---- roster import ------------------------------------------------------------------------------------------


ROSTER = ["姓名", "身份证号", "辅具名称", "辅具编码", "适配日期", "价格"]


def test_roster_import_creates_fitted_cases_and_rejects_bad_rows(catalogue, users, make_person, id_for):
    a = make_person(name="张伟", category=4)
    b = make_person(name="李娜", category=2)
    c = make_person(name="王芳", category=1)
    rows = [
        ["张伟", a.id_number, "", "12 22 03", date(2023, 1, 1), 1000.5],
        ["李娜", b.id_number, "耳背式助听器", "", "2023-12-31", "2999.99"],
        ["王芳", c.id_number, "普通轮椅", "", "2023/6/1", "500"],  # not eligible: kept with a warning
        ["张伟", a.id_number, "护理轮椅", "", "2024-06-01", "900"],  # inside the cycle of row 2
        ["赵六", id_for(date(1988, 1, 1), 77), "盲杖", "", "2023-05-01", "60"],  # not registered
        ["李娜", b.id_number, "飞行器", "", "2023-05-01", "60"],  # not in the catalogue
        ["李娜", b.id_number, "盲杖", "", "2023-13-01", "六十"],  # bad date and price
        ["张三", a.id_number, "盲杖", "", "2023-05-01", "60"],  # wrong name
        ["王芳", c.id_number, "", "", "2023-05-01", "60"],  # no device
    ]
    data = xlsx_bytes(ROSTER, rows)
    audits = AuditLog.objects.count()
    staged = roster_stage("devices", data, acting_user=users["district"], filename="适配名单.xlsx")
    assert staged.counts == {"rows": 9, "created": 3, "updated": 0, "unchanged": 0, "rejected": 6}
    errs = [(e["row"], e["column"], e["message"]) for e in staged.errors()]
    assert errs[0] == (5, "适配日期", "与第2行同一次类辅具，在更换周期 5 年内")
    assert errs[1][:2] == (6, "身份证号") and errs[1][2].endswith("的持证残疾人，请先登记")
    assert errs[2:] == [
        (7, "辅具名称", "辅具目录 2019版（2023-05-01 生效）中没有“飞行器”"),
        (8, "适配日期", "日期“2023-13-01”不存在"),
        (8, "价格", "价格“六十”应为大于 0、精确到分的金额"),
        (9, "姓名", "姓名与登记不符（登记为“张伟”）"),
        (10, "辅具名称", "辅具名称和辅具编码至少填写一项"),
    ]
    assert [(w["row"], w["column"]) for w in staged.warnings()] == [(4, "辅具名称")]
    assert Case.objects.count() == 0 and AuditLog.objects.count() == audits

    done = roster_import("devices", data, acting_user=users["district"], filename="适配名单.xlsx")
    assert done.counts["created"] == 3 and done.counts["rejected"] == 6
    f = DeviceFitting.objects.get(case__person=a)
    assert (f.item.code, f.price, f.subsidy, f.own_share, f.fitted_on) == (
        "122203",
        D("1000.50"),
        D("800.00"),
        D("200.50"),
        date(2023, 1, 1),
    )
    assert f.case.state == "fitted" and f.case.source == "import"
    assert list(f.case.due_items.values_list("due_on", flat=True)) == [date(2023, 1, 31)]
    f2 = DeviceFitting.objects.get(case__person=b)
    assert (f2.subsidy, f2.own_share) == (D("2999.99"), D("0.00"))
    assert AuditLog.objects.filter(action="case.devices.fitting_import").count() == 3
    again = roster_import("devices", data, acting_user=users["district"], filename="适配名单.xlsx")
    assert (again.counts["created"], again.counts["unchanged"]) == (0, 3)
    assert Case.objects.filter(programme="devices").count() == 3


def test_services_import_cli_json(catalogue, users, make_person, tmp_path, capsys):
    import json

    from canlian.casework.importing import roster_import_cli

    a = make_person(name="张伟", category=4)
    path = tmp_path / "名单.xlsx"
    path.write_bytes(
        xlsx_bytes(
            ["姓名", "身份证号码", "辅具", "发放日期", "金额"],
            [["张伟", a.id_number, "普通轮椅", "2023-02-01", "800"]],
        )
    )
    code = roster_import_cli(
        kind="devices", path=str(path), dry_run=False, as_json=True, acting_user=users["district"]
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert out == {"rows": 1, "created": 1, "updated": 0, "unchanged": 0, "rejected": 0, "errors": []}


# ---- loans -------------------------------------------------------------------------------------------------


def test_loans_lend_overdue_and_return(
    catalogue, users, wheel_user, point, point_staff, make_user, district2, towns
):
    cane = DeviceItem.objects.get(version=catalogue, code="122203")
    loan = dv.loan_lend(
        acting_user=point_staff,
        institution=point,
        person=wheel_user,
        item=cane,
        asset_no="LZ-001",
        lent_on=date(2023, 1, 1),
    )
    assert loan.due_on == date(2023, 4, 1)  # 90 days
    assert dv.loan_status(loan, date(2023, 4, 1)) == "借用中"
    assert dv.loan_status(loan, date(2023, 4, 2)) == "已逾期"
    with pytest.raises(ValidationFailed) as exc:
        dv.loan_lend(
            acting_user=point_staff,
            institution=point,
            person=wheel_user,
            item=cane,
            asset_no="LZ-001",
            lent_on=date(2023, 2, 1),
        )
    assert exc.value.errors == {"asset_no": "器具 LZ-001 尚未归还，不能再次借出"}
    other_point = designated(
        users, district2, towns, "木渎镇辅具服务点", kind="device_service_point", town="木渎镇"
    )
    other_staff = make_user("inst_mudu_point", "institution_staff")
    other_staff.institution = other_point
    other_staff.save(update_fields=["institution"])
    assert not dv.loans_visible(other_staff).exists()
    assert list(dv.loans_visible(users["town_luzhi"])) == [loan]
    assert not dv.loans_visible(users["town_mudu"]).exists()
    with pytest.raises(PermissionDenied):
        dv.loan_return(acting_user=other_staff, loan=loan, returned_on=date(2023, 4, 5))
    loan.refresh_from_db()
    assert loan.returned_on is None
    with pytest.raises(ValidationFailed):
        dv.loan_return(acting_user=point_staff, loan=loan, returned_on=date(2022, 12, 31))
    loan = dv.loan_return(acting_user=point_staff, loan=loan, returned_on=date(2023, 4, 5))
    assert dv.loan_status(loan, date(2023, 5, 1)) == "已归还"
    log = AuditLog.objects.get(action="devices.loan_return")
    assert log.changes == {"returned_on": [None, "2023-04-05"], "days_late": [None, 4]}
    assert log.detail == "归还“普通轮椅”（编号 LZ-001），逾期 4 天"
    assert AuditLog.objects.get(action="devices.loan_lend").changes["due_on"] == [None, "2023-04-01"]
    with pytest.raises(DomainError, match="该器具已于 2023-04-05 归还"):
        dv.loan_return(acting_user=point_staff, loan=loan, returned_on=date(2023, 4, 6))
    assert DeviceLoan.objects.count() == 1
