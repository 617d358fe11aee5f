"""Person import: staging, validation messages, commit, re-import, scope, CLI, report, web flow."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta

import pytest
import xlsxwriter
import xlwt
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from python_calamine import CalamineWorkbook

from canlian.cli import main
from canlian.common import uploads
from canlian.common.models import AuditLog, Job
from canlian.common.spreadsheet import SpreadsheetError
from canlian.registry import importers, tasks
from canlian.registry.importers import ImportConflict, persons_commit, persons_stage
from canlian.registry.models import Certificate, EconomicStatusPeriod, Person, Region

HEADERS = [
    "姓名",
    "身份证号",
    "残疾人证号",
    "发证日期",
    "镇(街道)",
    "村(社区)",
    "户口性质",
    "家庭经济状况",
    "联系电话",
    "残疾类别",
    "残疾等级",
    "就业状况",
]
BORN = date(1985, 3, 2)
TODAY = date(2026, 1, 15)

pytestmark = pytest.mark.usefixtures("cli_password")  # --user X proves X by password


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Each test gets its own MEDIA_ROOT (uploads and reports)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def pid(id_for):
    """ID number n, born 1985-03-02 (far from make_person's 1980-05-06)."""
    return lambda n, born=BORN: id_for(born, 100 + n)


def row(
    id_number,
    *,
    name="王芳",
    cert=None,
    issue="2019-05-06",
    town="甪直镇",
    community="",
    household="城镇",
    economic="",
    phone="13812345678",
    category="",
    grade="",
    employment="",
):
    cert = f"{id_number}42" if cert is None else cert
    return [
        name,
        id_number,
        cert,
        issue,
        town,
        community,
        household,
        economic,
        phone,
        category,
        grade,
        employment,
    ]


def write_xlsx(path, rows, headers=HEADERS, *, title=None):
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("残疾人名单")
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    offset = 0
    if title:
        ws.write_string(0, 0, title)
        offset = 2
    ws.write_row(offset, 0, headers)
    for r, values in enumerate(rows, start=offset + 1):
        for c, value in enumerate(values):
            if isinstance(value, date):
                ws.write_datetime(r, c, datetime.combine(value, datetime.min.time()), date_fmt)
            elif isinstance(value, float | int):
                ws.write_number(r, c, value)
            elif value not in (None, ""):
                ws.write_string(r, c, value)
    wb.close()
    return path


def write_xls(path, rows, headers=HEADERS):
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("残疾人名单")
    for c, value in enumerate(headers):
        sheet.write(0, c, value)
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values):
            sheet.write(r, c, value)
    book.save(str(path))
    return path


def write_csv(path, rows, headers=HEADERS, *, encoding="utf-8-sig"):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def stage(path, user, **kwargs):
    kwargs.setdefault("today", TODAY)
    return persons_stage(path, acting_user=user, **kwargs)


def errors_of(staged):
    return [(e["row"], e["column"], e["message"]) for e in staged.errors()]


def snapshot():
    return (
        Person.objects.count(),
        Certificate.objects.count(),
        EconomicStatusPeriod.objects.count(),
        Region.objects.count(),
        # the CLI's proof of who runs it is audited on every call; the import itself must write nothing
        AuditLog.objects.exclude(action="cli.identity").count(),
    )


# ---- reading the three formats -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "csv-utf8", "csv-gbk"])
def test_each_format_creates_the_persons(tmp_path, users, pid, fmt):
    # Given two valid rows in each supported format
    rows = [
        row(pid(1), name="王芳", economic="低保", category="肢体", grade="二级", employment="未就业"),
        row(pid(2), name="李建国", household="农村", phone=""),
    ]
    if fmt == "xlsx":
        path = write_xlsx(tmp_path / "名单.xlsx", rows)
    elif fmt == "xls":
        path = write_xls(tmp_path / "名单.xls", rows)
    else:
        path = write_csv(tmp_path / "名单.csv", rows, encoding="utf-8-sig" if fmt == "csv-utf8" else "gbk")
    user = users["district"]

    # When it is staged and committed
    staged = stage(path, user)
    result = persons_commit(staged, acting_user=user)

    # Then both are created with certificate, economic period, pinyin, encrypted numbers and audit rows
    assert result.counts == {"rows": 2, "created": 2, "updated": 0, "unchanged": 0, "rejected": 0}
    wang = Person.objects.get(id_number_index=importers.services.id_index(pid(1)))
    assert (wang.name, wang.name_pinyin, wang.name_initials, wang.sex, wang.birth_date) == (
        "王芳",
        "wangfang",
        "wf",
        "M",
        BORN,
    )
    assert (wang.id_number, wang.phone, wang.household_type, wang.employment_status) == (
        pid(1),
        "13812345678",
        "urban",
        "unemployed",
    )
    assert wang.town.name == "甪直镇" and wang.created_by == user
    cert = wang.certificates.get()
    assert (cert.number, cert.category, cert.grade, cert.issue_date, cert.valid_until, cert.is_current) == (
        f"{pid(1)}42",
        4,
        2,
        date(2019, 5, 6),
        date(2029, 5, 6),
        True,
    )
    period = wang.economic_periods.get()
    assert (period.status, period.valid_to, period.source) == ("dibao", None, "导入")
    li = Person.objects.get(name="李建国")
    assert (li.household_type, li.phone, li.economic_periods.count()) == ("rural", "", 0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_number, phone FROM registry_person WHERE id = %s", [wang.pk])
        raw_id, raw_phone = cursor.fetchone()
        cursor.execute("SELECT number FROM registry_certificate WHERE person_id = %s", [wang.pk])
        (raw_cert,) = cursor.fetchone()
    assert raw_id.startswith("v1:") and pid(1) not in raw_id and "13812345678" not in raw_phone
    assert raw_cert.startswith("v1:")
    creates = AuditLog.objects.filter(action="person.import_create").order_by("id")
    assert [a.object_id for a in creates] == [str(wang.pk), str(li.pk)]
    assert creates[0].username == "district1"
    assert creates[0].changes["id_number"] == [None, wang.masked_id]
    assert creates[0].changes["phone"] == [None, "138****5678"]
    assert pid(1) not in json.dumps([a.changes for a in creates]) + creates[0].object_repr
    commit = AuditLog.objects.get(action="import.commit")
    assert commit.changes == {
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "communities_created": 0,
    }
    assert commit.object_repr == path.name


def test_headers_match_aliases_in_any_order_below_a_title(tmp_path, users, pid):
    # Given a title row, then headers with aliases, full-width brackets, spaces and another order
    headers = ["证件号码", " 姓 名 ", "残疾证号", "发证时间", "户籍性质", "街道", "社区", "手机号码"]
    values = [pid(1), "王芳", f"{pid(1)}42", "2019-05-06", "农村", "甪直镇", "", "13812345678"]
    path = write_xlsx(tmp_path / "a.xlsx", [values], headers=headers, title="吴中区残疾人名单（2023年）")

    staged = stage(path, users["district"])

    assert (staged.table.header_row, staged.counts["created"]) == (3, 1)
    record = staged.rows[0].record
    assert (record.name, record.id_number, record.household_type, staged.rows[0].row) == (
        "王芳",
        pid(1),
        "rural",
        4,
    )


def test_full_width_header_brackets(tmp_path, users, pid):
    headers = [h.replace("(", "（").replace(")", "）") for h in HEADERS]
    path = write_csv(tmp_path / "a.csv", [row(pid(1))], headers=headers)
    assert stage(path, users["district"]).counts["created"] == 1


# ---- row validation ------------------------------------------------------------------------------------


def test_id_stored_by_excel_as_a_number_is_refused_with_that_reason(tmp_path, users, pid):
    values = row(pid(1))
    values[1] = float(pid(1)[:17] + "0")  # what Excel keeps: a float with the last digits lost
    path = write_xlsx(tmp_path / "a.xlsx", [values])

    staged = stage(path, users["district"])

    assert errors_of(staged) == [
        (
            2,
            "身份证号",
            "身份证号被 Excel 存成了数字（如 3.20506E+17），后几位已丢失；请把该列设为文本后重新填写",
        )
    ]


def test_id_as_scientific_text_in_csv(tmp_path, users, pid):
    values = row(pid(1))
    values[1] = "3.20506E+17"
    staged = stage(write_csv(tmp_path / "a.csv", [values]), users["district"])
    assert staged.rows[0].errors["id_number"].startswith("身份证号被 Excel 存成了数字")


@pytest.mark.parametrize("issue", [date(2019, 5, 6), 43591, "2019-05-06", "2019/5/6", "2019年5月6日"])
def test_date_forms(tmp_path, users, pid, issue):
    path = write_xlsx(tmp_path / "a.xlsx", [row(pid(1), issue=issue)])
    staged = stage(path, users["district"])
    assert staged.rows[0].errors == {}
    assert staged.rows[0].record.issue_date == date(2019, 5, 6)


def test_rejections_name_row_column_and_reason(tmp_path, users, pid, id_for):
    # Given one row per rule, on Excel rows 2..8
    born_2010 = id_for(date(2010, 1, 1), 7)
    born_future = id_for(TODAY + timedelta(days=400), 8)
    rows = [
        row(born_2010, issue="2009-12-31"),
        row(born_future, issue="2019-05-06"),
        row(pid(3), town="苏州镇"),
        row(pid(4), household="城里"),
        row(pid(5), economic="富裕"),
        row(pid(6), category="视力", grade="一级"),
        row(pid(7), issue="2019-02-30"),
    ]
    path = write_xlsx(tmp_path / "a.xlsx", rows)

    # When staged
    staged = stage(path, users["district"])

    # Then every row is rejected with its own message, in Chinese, on the right column
    errors = errors_of(staged)
    assert (2, "发证日期", "发证日期早于持证人出生日期") in errors
    assert (3, "身份证号", "身份证号中的出生日期在将来") in errors
    assert (4, "镇(街道)", "未知的镇(街道)“苏州镇”") in errors
    by_row = {e[0]: e for e in errors}
    assert by_row[5][1] == "户口性质" and by_row[5][2].startswith("无法识别的户口性质“城里”，可填：")
    assert by_row[6][1] == "家庭经济状况" and by_row[6][2].startswith("无法识别的家庭经济状况“富裕”，可填：")
    assert (7, "残疾类别", "残疾类别“视力”与残疾人证号中的残疾类别（肢体）不一致") in errors
    assert (7, "残疾等级", "残疾等级“一级”与残疾人证号中的残疾等级（二级）不一致") in errors
    assert (8, "发证日期", "日期“2019-02-30”不存在") in errors
    assert staged.counts == {"rows": 7, "created": 0, "updated": 0, "unchanged": 0, "rejected": 7}


def test_repeat_within_the_file_is_reported_on_the_later_row(tmp_path, users, pid):
    rows = [row(pid(1)), row(pid(2)), row(pid(1), name="王小芳"), row(pid(1))]
    staged = stage(write_xlsx(tmp_path / "a.xlsx", rows), users["district"])

    assert errors_of(staged) == [
        (4, "身份证号", "与第2行的身份证号重复（同一人在文件中出现多次）"),
        (5, "身份证号", "与第2行的身份证号重复（同一人在文件中出现多次）"),
    ]
    assert [r.outcome for r in staged.rows] == ["created", "created", "rejected", "rejected"]


def test_template_example_row_is_never_imported(tmp_path, users):
    buffer = io.BytesIO()
    importers.template_write(buffer)
    path = tmp_path / "模板.xlsx"
    path.write_bytes(buffer.getvalue())

    staged = stage(path, users["district"])

    assert errors_of(staged) == [(2, "身份证号", "这是导入模板中的示例行，请删除后再导入")]


# ---- existing persons: unchanged, updated, re-import ---------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(tmp_path, users, pid, capsys):
    path = write_xlsx(tmp_path / "a.xlsx", [row(pid(1), economic="低保"), row(pid(2))])
    assert main(["import", "persons", str(path), "--user", "district1"]) == 0
    before = snapshot()
    stamps = list(Person.objects.order_by("pk").values_list("updated_at", flat=True))

    code = main(["import", "persons", str(path), "--user", "district1", "--json"])

    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert out == {"rows": 2, "created": 0, "updated": 0, "unchanged": 2, "rejected": 0, "errors": []}
    assert snapshot() == before
    assert list(Person.objects.order_by("pk").values_list("updated_at", flat=True)) == stamps


def test_a_row_that_changes_a_person_shows_and_applies_the_change(tmp_path, users, make_person):
    # Given a registered person
    person = make_person(name="张伟", phone="13900000000", household="城镇")
    number = person.id_number
    path = write_xlsx(
        tmp_path / "a.xlsx",
        [
            row(
                number,
                name="张伟",
                cert=f"{number}43",
                phone="13812345678",
                household="农村",
                economic="低保",
            )
        ],
    )
    user = users["district"]

    # When the file is staged, the change is previewed, masked
    staged = stage(path, user, today=date.today())
    assert staged.counts["updated"] == 1
    preview = list(staged.change_previews())
    assert preview == [
        {
            "row": 2,
            "name": "张伟",
            "id": person.masked_id,
            "changes": {
                "联系电话": ["139****0000", "138****5678"],
                "户口性质": ["城镇", "农村"],
                "残疾人证号": [
                    f"{number[:6]}************42",
                    f"{number[:6]}************43",
                ],
                "家庭经济状况": ["无", "低保"],
            },
        }
    ]
    assert json.dumps(staged.summary(), ensure_ascii=False).count(number) == 0

    # And committed
    persons_commit(staged, acting_user=user)

    # Then the person is updated, the old certificate kept as history, a new period opened, all audited
    person.refresh_from_db()
    assert (person.phone, person.household_type) == ("13812345678", "rural")
    certs = list(person.certificates.order_by("id").values_list("grade", "is_current"))
    assert certs == [(2, False), (3, True)]
    assert list(person.economic_periods.values_list("status", "valid_to")) == [("dibao", None)]
    log = AuditLog.objects.get(action="person.import_update")
    assert log.object_id == str(person.pk)
    assert log.changes["phone"] == ["139****0000", "138****5678"]
    assert log.changes["household_type"] == ["urban", "rural"]
    assert number not in json.dumps(log.changes)


def test_economic_status_change_closes_the_open_period(tmp_path, users, make_person):
    person = make_person(economic="低保")
    period = person.economic_periods.get()
    EconomicStatusPeriod.objects.filter(pk=period.pk).update(valid_from=date(2020, 1, 1))
    path = write_xlsx(tmp_path / "a.xlsx", [row(person.id_number, name="张伟", economic="低保边缘")])

    persons_commit(stage(path, users["district"], today=date.today()), acting_user=users["district"])

    periods = list(
        person.economic_periods.order_by("valid_from").values_list("status", "valid_from", "valid_to")
    )
    assert periods == [
        ("dibao", date(2020, 1, 1), date.today() - timedelta(days=1)),
        ("near_dibao", date.today(), None),
    ]


def test_issue_date_change_updates_the_current_certificate(tmp_path, users, make_person):
    person = make_person()
    path = write_xlsx(tmp_path / "a.xlsx", [row(person.id_number, name="张伟", issue="2020-06-01")])
    persons_commit(stage(path, users["district"], today=date.today()), acting_user=users["district"])
    cert = person.certificates.get()
    assert (cert.issue_date, cert.valid_until) == (date(2020, 6, 1), date(2030, 6, 1))


def test_historical_certificate_cannot_become_current_again(tmp_path, users, make_person):
    person = make_person()
    number = person.id_number
    first = write_xlsx(tmp_path / "a.xlsx", [row(number, name="张伟", cert=f"{number}43")])
    persons_commit(stage(first, users["district"], today=date.today()), acting_user=users["district"])
    back = write_xlsx(tmp_path / "b.xlsx", [row(number, name="张伟", cert=f"{number}42")])

    staged = stage(back, users["district"], today=date.today())

    assert errors_of(staged) == [(2, "残疾人证号", "该残疾人证号是此人已登记的历史证件，不能再设为当前证件")]


# ---- communities ---------------------------------------------------------------------------------------


def test_unknown_community_is_refused_unless_allowed(tmp_path, users, pid):
    path = write_xlsx(tmp_path / "a.xlsx", [row(pid(1), community="新建村"), row(pid(2), community="新建村")])
    user = users["district"]

    refused = stage(path, user)
    assert errors_of(refused)[0] == (
        2,
        "村(社区)",
        "“新建村”不是甪直镇的村(社区)（新设立的村(社区)可勾选“自动新建村(社区)”）",
    )

    allowed = stage(path, user, allow_new_communities=True)
    assert allowed.counts["created"] == 2 and allowed.new_communities() == ["甪直镇/新建村"]
    result = persons_commit(allowed, acting_user=user)

    village = Region.objects.get(name="新建村")
    assert (village.parent.name, village.level, result.communities_created) == ("甪直镇", "community", 1)
    assert set(Person.objects.values_list("community_id", flat=True)) == {village.pk}
    assert AuditLog.objects.filter(action="region.create", object_id=str(village.pk)).count() == 1


def test_known_community_by_name(tmp_path, users, pid, towns):
    village = Region.objects.create(
        code="320506100901", name="澄墩村", level="community", kind="village", parent=towns["甪直镇"]
    )
    staged = stage(write_xlsx(tmp_path / "a.xlsx", [row(pid(1), community="澄墩村")]), users["district"])
    assert staged.rows[0].record.community_id == village.pk


# ---- scope ---------------------------------------------------------------------------------------------


def test_town_staff_can_import_only_their_own_town(tmp_path, users, pid, make_person):
    other = make_person(town="木渎镇", name="赵敏")
    rows = [
        row(pid(1), town="甪直镇"),
        row(pid(2), town="木渎镇"),
        row(other.id_number, name="赵敏", town="甪直镇"),
    ]
    path = write_xlsx(tmp_path / "a.xlsx", rows)
    user = users["town_luzhi"]

    staged = stage(path, user, today=date.today())
    persons_commit(staged, acting_user=user)

    assert errors_of(staged) == [
        (3, "镇(街道)", "您只能导入本镇(街道)（甪直镇）的人员，该行属于“木渎镇”"),
        (4, "镇(街道)", "该身份证号已在其他镇(街道)登记，您无权修改（如需迁入，请联系区残联）"),
    ]
    assert sorted(Person.objects.values_list("name", "town__name")) == [
        ("王芳", "甪直镇"),
        ("赵敏", "木渎镇"),
    ]


@pytest.mark.parametrize("role", ["leader", "auditor", "institution", "admin"])
def test_roles_without_import_right_are_refused(tmp_path, users, pid, role):
    path = write_xlsx(tmp_path / "a.xlsx", [row(pid(1))])
    with pytest.raises(importers.PermissionDenied) as exc:
        stage(path, users[role])
    assert exc.value.message == "您无权批量导入残疾人信息"
    assert Person.objects.count() == 0


# ---- files that cannot be used -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.xlsx", b"", "文件为空（0 字节）"),
        (
            "broken.xlsx",
            b"PK\x03\x04\x14\x00broken",
            "文件已损坏，无法读取（压缩结构不完整）；请用 Excel 打开后重新保存",
        ),
        (
            "photo.xlsx",
            b"\xff\xd8\xff\xe0\x00\x10JFIF",
            "这是JPEG 图片，不是表格文件；请上传 .xlsx、.xls 或 .csv 文件",
        ),
        (
            "header.csv",
            "姓名,身份证号,残疾人证号,发证日期,镇(街道),户口性质\n".encode(),
            "工作表“CSV”只有表头（第1行），没有数据行",
        ),
        (
            "cols.csv",
            "姓名,身份证号\n王芳,1\n".encode(),
            "工作表“CSV”第1行的表头缺少必需的列：残疾人证号、发证日期、镇(街道)、户口性质（请使用导入模板）",
        ),
    ],
)
def test_unusable_file_gets_a_clear_message_and_writes_nothing(
    tmp_path, users, capsys, name, content, message
):
    path = tmp_path / name
    path.write_bytes(content)
    before = snapshot()

    with pytest.raises(SpreadsheetError) as exc:
        stage(path, users["district"])
    code = main(["import", "persons", str(path), "--json", "--user", "district1"])

    assert exc.value.message == message
    assert code == 2
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"error": message}
    assert snapshot() == before


# ---- command line --------------------------------------------------------------------------------------


def test_cli_json_exit_1_with_excel_row_numbers(tmp_path, users, pid, capsys):
    rows = [row(pid(1)), row(pid(2), town="苏州镇"), row(pid(1))]
    path = write_xlsx(tmp_path / "a.xlsx", rows)

    code = main(["import", "persons", str(path), "--json", "--user", "district1"])

    captured = capsys.readouterr()
    assert code == 1
    assert json.loads(captured.out) == {
        "rows": 3,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 2,
        "errors": [
            {"row": 3, "column": "镇(街道)", "message": "未知的镇(街道)“苏州镇”"},
            {"row": 4, "column": "身份证号", "message": "与第2行的身份证号重复（同一人在文件中出现多次）"},
        ],
    }
    assert Person.objects.count() == 1


def test_cli_dry_run_writes_nothing_and_report_lists_errors(tmp_path, users, pid, capsys):
    path = write_xlsx(
        tmp_path / "a.xlsx", [row(pid(1)), row(pid(2), household="城里"), row(pid(3), community="新村")]
    )
    report = tmp_path / "报告.xlsx"
    before = snapshot()

    code = main(["import", "persons", str(path), "--dry-run", "--report", str(report), "--user", "district1"])

    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("校验（未写入）完成：共 3 行，新增 1，更新 0，无变化 0，有错误 2\n")
    assert snapshot() == before
    wb = CalamineWorkbook.from_path(str(report))
    sheet = wb.get_sheet_by_name("导入结果").to_python()
    assert sheet[0] == [*HEADERS, "处理结果", "错误说明"]
    assert sheet[1][12:] == ["将新增", ""]
    assert sheet[2][1] == pid(2)  # the original cells, ID as text
    assert sheet[2][12].startswith("有错误，不导入") and sheet[2][13].startswith(
        "户口性质：无法识别的户口性质“城里”"
    )
    assert sheet[3][13] == "村(社区)：“新村”不是甪直镇的村(社区)（新设立的村(社区)可勾选“自动新建村(社区)”）"
    assert wb.get_sheet_by_name("错误明细").to_python()[1:] == [
        [3, "户口性质", sheet[2][13].split("：", 1)[1]],
        [4, "村(社区)", "“新村”不是甪直镇的村(社区)（新设立的村(社区)可勾选“自动新建村(社区)”）"],
    ]


def test_cli_allow_new_communities_and_exit_0(tmp_path, users, pid, capsys):
    path = write_xlsx(tmp_path / "a.xlsx", [row(pid(1), community="新村")])
    assert main(["import", "persons", str(path), "--allow-new-communities", "--user", "district1"]) == 0
    assert Person.objects.get().community.name == "新村"
    assert "新增 1" in capsys.readouterr().out


def test_cli_import_needs_a_proven_user(tmp_path, pid, users, cli_token, capsys):
    path = write_xlsx(tmp_path / "a.xlsx", [row(pid(1))])
    with pytest.raises(SystemExit, match="须以本人身份执行"):
        main(["import", "persons", str(path), "--json"])
    assert not AuditLog.objects.filter(action="import.commit").exists()
    cli_token(users["district"])
    assert main(["import", "persons", str(path), "--json"]) == 0
    assert AuditLog.objects.get(action="import.commit").username == "district1"


def test_cli_missing_file_exit_2(tmp_path, users, capsys):
    assert main(["import", "persons", str(tmp_path / "nope.xlsx"), "--user", "district1"]) == 2
    assert "导入失败：找不到文件：nope.xlsx" in capsys.readouterr().err


# ---- commit safety -------------------------------------------------------------------------------------


def test_commit_refuses_when_a_person_was_registered_after_staging(tmp_path, users, make_person, id_for):
    # make_person's next ID (its counter starts at 1) is staged first, then registered by someone else
    taken = id_for(date(1980, 5, 6), 1)
    path = write_xlsx(tmp_path / "a.xlsx", [row(id_for(date(1990, 1, 1), 9)), row(taken)])
    staged = stage(path, users["district"])
    make_person()
    before = snapshot()

    with pytest.raises(ImportConflict) as exc:
        persons_commit(staged, acting_user=users["district"])

    assert exc.value.message == "第3行的身份证号在校验后已被登记，本次导入未写入任何数据，请重新校验后再导入"
    assert snapshot() == before


def test_commit_refuses_when_an_updated_person_changed_after_staging(tmp_path, users, make_person):
    person = make_person()
    staged = stage(
        write_xlsx(tmp_path / "a.xlsx", [row(person.id_number, name="张伟", phone="13700000000")]),
        users["district"],
        today=date.today(),
    )
    Person.objects.filter(pk=person.pk).update(address="新地址")  # bumps nothing: update() skips auto_now
    Person.objects.get(pk=person.pk).save()  # bumps updated_at
    before = snapshot()

    with pytest.raises(ImportConflict) as exc:
        persons_commit(staged, acting_user=users["district"])

    assert exc.value.message == "第2行对应的档案在校验后已被修改，本次导入未写入任何数据，请重新校验后再导入"
    assert snapshot() == before


def test_parallel_validation_gives_the_same_result(tmp_path, users, pid, monkeypatch):
    rows = [row(pid(n)) for n in range(1, 8)] + [row(pid(1)), row(pid(9), town="苏州镇")]
    path = write_xlsx(tmp_path / "a.xlsx", rows)
    serial = stage(path, users["district"])
    monkeypatch.setattr(importers, "PARALLEL_MIN_ROWS", 1)
    monkeypatch.setattr(importers, "PARALLEL_CHUNK", 2)
    monkeypatch.setenv("CANLIAN_IMPORT_WORKERS", "2")
    monkeypatch.setattr(importers.threading, "active_count", lambda: 1)  # e.g. a live server in the session
    assert importers.import_workers(9) == 2

    parallel = stage(path, users["district"])

    assert parallel.fingerprint == serial.fingerprint
    assert [(r.id_index, r.cert_index, r.pinyin) for r in parallel.rows] == [
        (r.id_index, r.cert_index, r.pinyin) for r in serial.rows
    ]
    assert parallel.counts == {"rows": 9, "created": 7, "updated": 0, "unchanged": 0, "rejected": 2}

    # And the one-pass import writes while the workers validate, with the same result
    imported = importers.persons_import(path, acting_user=users["district"], today=TODAY)
    assert (imported.committed, imported.fingerprint) == (True, serial.fingerprint)
    assert Person.objects.count() == 7 and AuditLog.objects.filter(action="person.import_create").count() == 7


def test_no_worker_processes_for_small_files_or_threaded_processes(monkeypatch):
    monkeypatch.setenv("CANLIAN_IMPORT_WORKERS", "2")
    assert importers.import_workers(importers.PARALLEL_MIN_ROWS - 1) == 1
    monkeypatch.setattr(importers.threading, "active_count", lambda: 3)
    assert importers.import_workers(importers.PARALLEL_MIN_ROWS) == 1
    monkeypatch.setattr(importers.threading, "active_count", lambda: 1)
    assert importers.import_workers(importers.PARALLEL_MIN_ROWS) == 2
    monkeypatch.setenv("CANLIAN_IMPORT_WORKERS", "1")
    assert importers.import_workers(importers.PARALLEL_MIN_ROWS) == 1


def test_summary_is_json_and_capped(tmp_path, users, pid, monkeypatch):
    monkeypatch.setattr(importers, "SUMMARY_LIMIT", 2)
    rows = [row(pid(n), town="苏州镇") for n in range(1, 5)]
    summary = stage(write_xlsx(tmp_path / "a.xlsx", rows), users["district"]).summary(limit=2)
    assert json.loads(json.dumps(summary))["errors_total"] == 4
    assert [e["row"] for e in summary["errors"]] == [2, 3]


# ---- web flow ------------------------------------------------------------------------------------------


def _upload(client, path, *, allow=False):
    data = {"file": SimpleUploadedFile(path.name, path.read_bytes())}
    if allow:
        data["allow_new_communities"] = "on"
    return client.post(reverse("registry:import_start"), data)


def test_web_upload_preview_confirm(client, tmp_path, users, pid, make_person):
    # Given a district user and a file with a new person, a change and an error
    person = make_person(phone="13900000000")
    path = write_xlsx(
        tmp_path / "名单.xlsx",
        [
            row(pid(1), community="新村"),
            row(person.id_number, name="张伟", phone="13812345678"),
            row(pid(2), town="苏州镇"),
        ],
    )
    client.force_login(users["district"])

    # When it is uploaded (the stage task runs inline in tests)
    response = _upload(client, path, allow=True)

    # Then the job waits for confirmation, with the preview on its page and nothing written yet
    job = Job.objects.get()
    assert response.status_code == 302 and response.url == reverse("registry:import_detail", args=[job.pk])
    assert (job.kind, job.status, job.created_by) == ("person_import", "waiting", users["district"])
    assert {k: job.result[k] for k in ("rows", "created", "updated", "unchanged", "rejected")} == {
        "rows": 3,
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "rejected": 1,
    }
    assert job.result["new_communities"] == ["甪直镇/新村"]
    assert Person.objects.count() == 1
    page = client.get(response.url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "确认导入（新增 1，更新 1）" in html
    assert "未知的镇(街道)“苏州镇”" in html and "第4行" in html
    assert "139****0000" in html and "138****5678" in html and person.id_number not in html
    partial = client.get(response.url, HTTP_HX_REQUEST="true").content.decode()
    assert (
        partial.lstrip().startswith("{#") is False and "<html" not in partial and 'id="import-job"' in partial
    )
    report = client.get(reverse("registry:import_report", args=[job.pk]))
    assert report.status_code == 200 and report["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(report.streaming_content)))
    assert sheet.get_sheet_by_name("导入结果").to_python()[3][12] == "有错误，不导入"

    # When the user confirms
    response = client.post(reverse("registry:import_commit", args=[job.pk]))

    # Then the rows are written and the job has succeeded; the upload is gone, the report stays
    job.refresh_from_db()
    assert response.status_code == 302
    assert (job.status, job.result["committed"], job.result["created"], job.result["updated"]) == (
        "succeeded",
        True,
        1,
        1,
    )
    assert Person.objects.count() == 2
    person.refresh_from_db()
    assert person.phone == "13812345678"
    assert not (tasks.import_dir(job.pk) / job.params["stored"]).exists()
    assert tasks.report_path(job.pk).is_file()
    assert (
        "导入完成：新增 1 人，更新 1 人"
        in client.get(reverse("registry:import_detail", args=[job.pk])).content.decode()
    )
    commit_log = AuditLog.objects.get(action="import.commit")
    assert (commit_log.object_id, commit_log.object_repr) == (str(job.pk), "名单.xlsx")

    # And confirming again is refused
    client.post(reverse("registry:import_commit", args=[job.pk]))
    assert Person.objects.count() == 2 and AuditLog.objects.filter(action="import.commit").count() == 1


def test_web_commit_goes_back_to_preview_when_data_changed(client, tmp_path, users, id_for, make_person):
    taken = id_for(date(1980, 5, 6), 1)  # make_person's next ID
    path = write_xlsx(tmp_path / "a.xlsx", [row(taken, name="张伟", phone="")])
    client.force_login(users["district"])
    _upload(client, path)
    job = Job.objects.get()
    assert job.result["created"] == 1
    make_person()  # someone registers the person in between

    client.post(reverse("registry:import_commit", args=[job.pk]))

    job.refresh_from_db()
    assert (job.status, job.result["changed_since_preview"], job.result["unchanged"]) == (
        "succeeded",
        True,
        1,
    )
    assert AuditLog.objects.filter(action="import.commit").count() == 0


def test_another_user_cannot_see_or_confirm_the_job(client, tmp_path, users, pid):
    client.force_login(users["district"])
    _upload(client, write_xlsx(tmp_path / "a.xlsx", [row(pid(1))]))
    job = Job.objects.get()
    client.force_login(users["town_luzhi"])

    assert client.get(reverse("registry:import_detail", args=[job.pk])).status_code == 404
    assert client.post(reverse("registry:import_commit", args=[job.pk])).status_code == 404
    assert client.get(reverse("registry:import_report", args=[job.pk])).status_code == 404
    assert client.get(reverse("common:job_detail", args=[job.pk])).status_code == 404
    job.refresh_from_db()
    assert job.status == "waiting" and Person.objects.count() == 0


def test_old_uploads_and_reports_are_purged_and_an_expired_upload_fails_clearly(client, tmp_path, users, pid):
    client.force_login(users["district"])
    _upload(client, write_xlsx(tmp_path / "a.xlsx", [row(pid(1))]))
    job = Job.objects.get()
    upload, report = tasks.upload_path(job), tasks.report_path(job.pk)
    week = 86400 * uploads.UPLOAD_KEEP_DAYS

    assert uploads.purge_old_files(now=upload.stat().st_mtime + week - 60) == 0
    assert uploads.purge_old_files(now=upload.stat().st_mtime + week + 60) == 1
    assert not upload.exists() and report.exists()
    client.post(reverse("registry:import_commit", args=[job.pk]))

    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "上传的文件已超过保留期（7天）被删除，请重新上传")
    assert Person.objects.count() == 0
    assert uploads.purge_old_files(now=report.stat().st_mtime + 86400 * uploads.REPORT_KEEP_DAYS + 60) == 1
    assert not tasks.import_dir(job.pk).exists()


def test_web_unusable_upload_creates_no_job(client, tmp_path, users):
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"%PDF-1.4")
    client.force_login(users["district"])

    response = _upload(client, path)

    assert response.status_code == 400
    assert "这是PDF 文档，不是表格文件" in response.content.decode()
    assert Job.objects.count() == 0 and Person.objects.count() == 0


def test_web_unreadable_content_fails_the_job_with_the_message(client, tmp_path, users):
    path = write_csv(tmp_path / "a.csv", [], headers=["甲", "乙"])
    path.write_bytes(path.read_bytes() + b"1,2\n")
    client.force_login(users["district"])
    _upload(client, path)
    job = Job.objects.get()
    assert (job.status, job.error) == (
        "failed",
        "未找到表头：前20行中没有 “姓名”、“身份证号”、“残疾人证号”、“发证日期” 等列名（请使用导入模板）",
    )
    assert not (tasks.import_dir(job.pk) / job.params["stored"]).exists()
    assert (
        "导入失败，未写入任何数据"
        in client.get(reverse("registry:import_detail", args=[job.pk])).content.decode()
    )


def test_web_pages_for_roles(client, users):
    client.force_login(users["leader"])
    assert client.get(reverse("registry:import_start")).status_code == 403
    assert client.get(reverse("registry:import_template")).status_code == 403
    client.force_login(users["town_luzhi"])
    page = client.get(reverse("registry:import_start")).content.decode()
    assert "允许自动新建村(社区)" in page and "您只能导入<strong>甪直镇</strong>的人员" in page


def test_template_download(client, users):
    client.force_login(users["district"])
    response = client.get(reverse("registry:import_template"))
    wb = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(response.streaming_content)))
    assert wb.sheet_names == ["残疾人名单", "说明"]
    rows = wb.get_sheet_by_name("残疾人名单").to_python()
    assert rows[0][:12] == HEADERS
    assert rows[0][12:] == [
        "无固定收入",
        "一户多残或依老养残",
        "工伤保险生活护理费",
        "孤儿或事实无人抚养",
        "老年护理补贴(元/月)",
        "迁出日期",
    ]
    assert rows[1][:3] == ["张三", "11010519491231002X", "11010519491231002X42"]
    notes = wb.get_sheet_by_name("说明").to_python()
    assert notes[0] == ["列名", "是否必填", "填写说明"]
    assert [n[0] for n in notes[1:13]] == HEADERS


def test_generic_job_page_polls_while_running(client, users):
    job = Job.objects.create(
        kind="x", status="running", done=5, total=10, message="正在校验", created_by=users["district"]
    )
    client.force_login(users["district"])
    page = client.get(reverse("common:job_detail", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page and "正在校验：5 / 10" in page and "<html" in page
    partial = client.get(reverse("common:job_detail", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "50%" in partial
    Job.objects.filter(pk=job.pk).update(status="succeeded")
    assert "hx-trigger" not in client.get(reverse("common:job_detail", args=[job.pk])).content.decode()


def test_import_page_while_writing_shows_an_indeterminate_bar(client, users):
    job = Job.objects.create(
        kind="person_import",
        status="running",
        done=0,
        total=100000,
        message=importers.PHASE_IMPORT,
        params={"filename": "a.xlsx"},
        created_by=users["district"],
    )
    client.force_login(users["district"])
    partial = client.get(reverse("registry:import_detail", args=[job.pk]), HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert "正在校验并写入 100000 行：全部在一个事务中完成" in html and 'hx-trigger="every 1s"' in html
    assert "<html" not in html


def test_created_audit_changes_equal_the_services_masking(tmp_path, users, pid):
    path = write_xlsx(tmp_path / "a.xlsx", [row(pid(1)), row(pid(2), phone="")])
    persons_commit(stage(path, users["district"]), acting_user=users["district"])
    for log in AuditLog.objects.filter(action="person.import_create"):
        person = Person.objects.get(pk=log.object_id)
        expected = importers.services.masked_changes(
            {
                "name": (None, person.name),
                "id_number": (None, person.id_number),
                "town_id": (None, person.town_id),
                "household_type": (None, person.household_type),
                "phone": (None, person.phone),
                "certificate_number": (None, person.current_certificate.number),
            }
        )
        assert log.changes == expected


def test_sqlite_page_cache_is_restored_after_an_import(tmp_path, users, pid):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (before,) = cursor.fetchone()
    importers.persons_import(write_xlsx(tmp_path / "a.xlsx", [row(pid(1))]), acting_user=users["district"])
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        assert cursor.fetchone() == (before,)


def test_created_rows_are_the_same_whether_the_workers_format_them_for_copy_or_not(
    tmp_path, users, pid, monkeypatch
):
    """On PostgreSQL the workers format created rows for COPY (``_CopyFormats``); without that (SQLite, or
    switched off here) ``insert_rows`` writes them. Both must write the same persons, certificates, periods
    and audit rows, including text that COPY would take for escapes (a backslash, a tab)."""
    headers = [*HEADERS, "住址", "监护人姓名"]
    tricky = "苏州\\吴中\t木渎 1号"

    def rows(first):
        return [
            [*row(pid(first), name="王芳", economic="低保", category="肢体", grade="二级"), tricky, "王·大"],
            [*row(pid(first + 1), name="欧阳建国", household="农村", phone="", employment="就业"), "", ""],
        ]

    user = users["district"]
    importers.persons_import(write_xlsx(tmp_path / "a.xlsx", rows(1), headers), acting_user=user)
    monkeypatch.setattr(importers._CopyFormats, "for_import", classmethod(lambda cls, **kw: None))
    importers.persons_import(write_xlsx(tmp_path / "b.xlsx", rows(11), headers), acting_user=user)

    def written(n):
        person = Person.objects.get(id_number_index=importers.services.id_index(pid(n)))
        cert = person.certificates.get()
        periods = list(person.economic_periods.values_list("status", "valid_from", "valid_to", "source"))
        audit = AuditLog.objects.get(action="person.import_create", object_id=str(person.pk))
        return {
            "person": {
                f.attname: getattr(person, f.attname)
                for f in Person._meta.concrete_fields
                if f.attname not in ("id", "id_number", "id_number_index", "created_at", "updated_at")
            },
            "certificate": (
                cert.category,
                cert.grade,
                cert.issue_date,
                cert.valid_until,
                cert.status,
                cert.reissue_count,
                cert.is_current,
                cert.components,
                cert.number[18:],
            ),
            "periods": periods,
            "audit": (
                audit.username,
                audit.role,
                audit.object_type,
                audit.result,
                audit.ip,
                audit.user_id,
                audit.object_repr[:4],
                {k: v for k, v in audit.changes.items() if k not in ("id_number",)},
            ),
        }

    for a, b in ((1, 11), (2, 12)):
        copied, inserted = written(a), written(b)
        for part in ("certificate", "periods"):
            assert copied[part] == inserted[part], part
        assert copied["person"] == inserted["person"]
        assert copied["audit"][:6] == inserted["audit"][:6]
        assert {k: v for k, v in copied["audit"][7].items() if k != "certificate_number"} == {
            k: v for k, v in inserted["audit"][7].items() if k != "certificate_number"
        }
    first = Person.objects.get(id_number_index=importers.services.id_index(pid(1)))
    assert first.address == tricky and first.guardian_name == "王·大" and first.id_number == pid(1)
