"""The staged-import framework (``common.staged_import``) on a small real kind — communities by town, written
through ``registry.services.community_create`` — and the three imports that go through it."""

from __future__ import annotations

import io
import json
from datetime import date

import openpyxl
import pytest
import xlsxwriter

from canlian.common import staged_import as si
from canlian.common.exceptions import DomainError
from canlian.common.models import AuditLog, Job
from canlian.common.spreadsheet import SpreadsheetError
from canlian.registry.models import Region

pytestmark = pytest.mark.django_db


def xlsx(headers, rows) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
    ws = wb.add_worksheet("名单")
    ws.write_row(0, 0, headers)
    for i, row in enumerate(rows, start=1):
        for j, value in enumerate(row):
            ws.write_string(i, j, value) if isinstance(value, str) else ws.write(i, j, value)
    wb.close()
    return buf.getvalue()


class Communities(si.ImportSpec):
    """A kind for the tests: one community per row, created under its town (unchanged if it exists)."""

    kind = "communities"
    name = "村社区名单"
    columns = (
        si.Column("town", "镇(街道)", ("乡镇", "街道")),
        si.Column("name", "村(社区)", ("社区名称",)),
        si.Column("note", "备注", required=False),
    )

    def prepare(self, rows, *, acting_user):
        towns = {t.name: t for t in Region.objects.filter(level=Region.Level.TOWN)}
        existing = set(Region.objects.filter(parent__isnull=False).values_list("parent__name", "name"))
        return {"towns": towns, "existing": existing}

    def validate(self, row, ctx, *, acting_user):
        town = str(row.raw.get("town") or "").strip()
        name = str(row.raw.get("name") or "").strip()
        if town not in ctx["towns"]:
            row.errors["town"] = f"未知的镇(街道)“{town}”"
        if not name:
            row.errors["name"] = "村(社区)名称不能为空"
        if str(row.raw.get("note") or "").strip():
            row.warnings["note"] = "备注不导入"
        row.values.update(town=ctx["towns"].get(town), name=name)

    def plan(self, rows, ctx):
        for r in rows:
            known = (r.values["town"].name, r.values["name"]) in ctx["existing"]
            r.outcome = si.UNCHANGED if known else si.CREATED

    def commit(self, rows, ctx, *, acting_user, progress):
        from canlian.registry.services import community_create

        for i, r in enumerate(rows, start=1):
            if (r.values["town"].name, r.values["name"]) in ctx["existing"]:
                r.outcome = si.UNCHANGED
            else:
                community_create(acting_user=acting_user, town=r.values["town"], name=r.values["name"])
                ctx["existing"].add((r.values["town"].name, r.values["name"]))
                r.outcome = si.CREATED
            progress(i, len(rows), "写入中")


class FailingCommunities(Communities):
    def commit(self, rows, ctx, *, acting_user, progress):
        super().commit(rows[:1], ctx, acting_user=acting_user, progress=progress)
        raise DomainError("写入第二行时失败")


HEADERS = ["乡 镇", "社区名称（必填）", "备注"]  # aliases, with a space and a full-width note
ROWS = [
    ["甪直镇", "测试新村", ""],
    ["苏州镇", "某村", ""],
    ["木渎镇", "", "请核对"],
    ["木渎镇", "测试二村", "新设"],
]


def snapshot():
    return Region.objects.count(), AuditLog.objects.filter(action="region.create").count()


def test_headers_resolve_through_aliases_spaces_and_full_width_notes(towns):
    table = si.read_table(
        xlsx(["镇（街道）", " 社区 名称 ", "备注"], [["甪直镇", "某村", ""]]), aliases=Communities().aliases()
    )
    assert table.columns == {"town": 0, "name": 1, "note": 2}
    table = si.read_table(xlsx(HEADERS, ROWS), aliases=Communities().aliases())
    assert (table.header_row, table.columns, table.header_of("name")) == (
        1,
        {"town": 0, "name": 1, "note": 2},
        "社区名称（必填）",
    )


def test_a_missing_required_column_is_named(users):
    with pytest.raises(SpreadsheetError) as exc:
        si.stage(Communities(), xlsx(["镇(街道)", "备注"], [["甪直镇", ""]]), acting_user=users["district"])
    assert exc.value.message == "工作表“名单”第1行的表头缺少必需的列：村(社区)（请使用导入模板）"


def test_a_kind_that_maps_columns_gets_the_headers_found_then_uses_the_mapping(towns):
    data = xlsx(["所在镇", "村居名称"], [["甪直镇", "某村"]])
    spec = Communities()
    with pytest.raises(si.MappingRequired) as exc:
        si.read_table(data, aliases=spec.aliases(), required=spec.required(), mappable=True)
    assert (exc.value.headers, exc.value.missing, exc.value.found) == (
        ["所在镇", "村居名称"],
        ["town", "name"],
        {},
    )
    assert "镇(街道)、村(社区)" in exc.value.message
    mapped = si.apply_mapping(spec.aliases(), {"town": "所在镇", "name": "村居名称"})
    table = si.read_table(data, aliases=mapped, required=spec.required(), mappable=True)
    assert table.columns == {"town": 0, "name": 1}


def test_row_errors_and_warnings_by_column_in_the_contract_and_a_dry_run_writes_nothing(users):
    before = snapshot()
    seen = []
    staged = si.stage(
        Communities(), xlsx(HEADERS, ROWS), acting_user=users["district"], progress=lambda *a: seen.append(a)
    )
    assert snapshot() == before
    assert staged.contract() == {
        "rows": 4,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 2,
        "errors": [
            {"row": 3, "column": "乡 镇", "message": "未知的镇(街道)“苏州镇”"},
            {"row": 4, "column": "社区名称（必填）", "message": "村(社区)名称不能为空"},
        ],
    }
    assert list(staged.warnings()) == [
        {"row": 4, "column": "备注", "message": "备注不导入"},
        {"row": 5, "column": "备注", "message": "备注不导入"},
    ]
    assert next(si.error_line(e) for e in staged.errors()) == "第3行“乡 镇”：未知的镇(街道)“苏州镇”"
    assert seen[0] == (0, 4, si.PHASE_STAGE) and seen[-1] == (4, 4, si.PHASE_STAGED)


def test_run_writes_the_valid_rows_audited_and_again_changes_nothing(users):
    regions, audits = snapshot()
    staged = si.run(Communities(), xlsx(HEADERS, ROWS), acting_user=users["district"])
    assert staged.committed and staged.counts == {
        "rows": 4,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 2,
    }
    assert snapshot() == (regions + 2, audits + 2)
    assert Region.objects.get(name="测试二村").parent.name == "木渎镇"
    again = si.run(Communities(), xlsx(HEADERS, ROWS), acting_user=users["district"])
    assert (again.counts["created"], again.counts["unchanged"], snapshot()) == (
        0,
        2,
        (regions + 2, audits + 2),
    )


def test_a_failing_commit_writes_nothing(users):
    before = snapshot()
    with pytest.raises(DomainError, match="写入第二行时失败"):
        si.run(FailingCommunities(), xlsx(HEADERS, ROWS), acting_user=users["district"])
    assert snapshot() == before
    assert not Region.objects.filter(name="测试新村").exists()


def test_the_report_flags_cells_and_lists_every_error(users, tmp_path):
    staged = si.stage(Communities(), xlsx(HEADERS, ROWS), acting_user=users["district"])
    out = tmp_path / "report.xlsx"
    si.report_write(staged, out)
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["村社区名单", "错误明细"]
    ws = book["村社区名单"]
    assert [c.value for c in ws[1]] == [*HEADERS, "错误", "提示"]
    assert [c.value for c in ws[3]][:4] == ["苏州镇", "某村", None, "乡 镇：未知的镇(街道)“苏州镇”"]
    assert ws.cell(3, 1).fill.fgColor.rgb == "FFF8CBAD" and ws.cell(3, 2).fill.fgColor.rgb != "FFF8CBAD"
    assert ws.cell(3, 1).comment.text == "未知的镇(街道)“苏州镇”"
    assert ws.cell(5, 5).value == "备注：备注不导入" and ws.cell(2, 4).value is None
    assert [[c.value for c in r] for r in book["错误明细"].iter_rows()] == [
        ["行号", "列", "错误说明"],
        [3, "乡 镇", "未知的镇(街道)“苏州镇”"],
        [4, "社区名称（必填）", "村(社区)名称不能为空"],
    ]


def test_the_command_line_prints_the_contract_and_exits_0_1_2(users, tmp_path, capsys):
    spec = Communities()

    def step(data, *, dry_run):
        act = si.stage if dry_run else si.run
        return lambda progress: act(spec, data, acting_user=users["district"], progress=progress)

    before = snapshot()
    report = tmp_path / "r.xlsx"
    assert (
        si.cli_run(step(xlsx(HEADERS, ROWS), dry_run=True), dry_run=True, as_json=True, report=str(report))
        == 1
    )
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rejected"] == 2 and snapshot() == before and report.is_file()
    assert "第3行“乡 镇”：未知的镇(街道)“苏州镇”" in captured.err
    assert si.cli_run(step(xlsx(HEADERS, ROWS[:1]), dry_run=False)) == 0
    assert capsys.readouterr().out.startswith("导入完成：共 1 行，新增 1，更新 0，无变化 0，有错误 0\n")
    assert si.cli_run(step(b"not a spreadsheet", dry_run=False), as_json=True) == 2
    assert json.loads(capsys.readouterr().out)["error"].startswith("未找到表头")


def test_a_job_that_fails_says_why_in_chinese_and_drops_the_upload(users, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    folder = tmp_path / "imports" / "upload-x"
    folder.mkdir(parents=True)
    (folder / "upload.xlsx").write_bytes(xlsx(HEADERS, ROWS))

    class Task:
        queued: list = []

        def enqueue(self, job_id):
            self.queued.append(job_id)

    task = Task()
    job = si.job_enqueue(
        acting_user=users["district"],
        kind="roster_import",
        stored=folder / "upload.xlsx",
        filename="名单.xlsx",
        params={"roster": "communities"},
        detail_url=lambda j: f"/jobs/{j.pk}",
        task=task,
    )
    assert task.queued == [str(job.pk)] and si.job_upload_path(job).is_file()
    assert job.params == {
        "filename": "名单.xlsx",
        "stored": "upload.xlsx",
        "roster": "communities",
        "detail_url": f"/jobs/{job.pk}",
    }
    ok, staged = si.job_run(
        job, lambda: si.stage(Communities(), si.job_upload_path(job), acting_user=users["district"])
    )
    assert ok and staged.counts["rows"] == 4

    def broken():
        raise DomainError("文件中没有任何数据")

    assert si.job_run(job, broken) == (False, None)
    job.refresh_from_db()
    assert (job.status, job.error, job.message) == (Job.Status.FAILED, "文件中没有任何数据", "导入失败")
    assert not si.job_upload_path(job).exists()

    other = Job.objects.create(kind="roster_import", params={"stored": "none"}, created_by=users["district"])
    assert si.job_run(other, lambda: 1 / 0, what="校验") == (False, None)
    other.refresh_from_db()
    assert other.error == "校验时发生内部错误，未写入任何数据；请联系管理员（已记录日志）"


def test_a_waiting_job_is_claimed_once(users):
    job = Job.objects.create(kind="roster_import", status=Job.Status.WAITING, created_by=users["district"])
    assert si.job_claim(job) is True
    assert si.job_claim(job) is False
    job.refresh_from_db()
    assert (job.status, job.message) == (Job.Status.QUEUED, "等待写入")


# ---- the three imports go through it -------------------------------------------------------------------


def test_the_person_import_is_a_staged_import(users, tmp_path):
    from canlian.registry.importers import Staged, persons_stage, report_write

    data = xlsx(
        ["姓名", "身份证号码", "残疾人证号", "发证日期", "街道", "村(社区)", "户口性质"],
        [["王五", "320506198005060011", "32050619800506001142", "2019-05-06", "苏州镇", "", "城镇"]],
    )
    staged = persons_stage(data, acting_user=users["district"], filename="a.xlsx")
    assert isinstance(staged, Staged) and isinstance(staged, si.StagedImport)
    contract = staged.contract()
    assert (
        contract["rejected"] == 1
        and {"row": 2, "column": "街道", "message": "未知的镇(街道)“苏州镇”"} in (contract["errors"])
    )
    out = tmp_path / "r.xlsx"
    report_write(staged, out)
    assert openpyxl.load_workbook(out).sheetnames == ["导入结果", "错误明细", "变更明细"]


def test_the_outside_list_import_is_a_staged_import(towns, tmp_path):
    from canlian.verification.importers import StagedList, outside_list_stage

    data = xlsx(
        ["姓名", "身份证号", "死亡日期"],
        [["张伟", "320506198005060011", "明天"], ["李娜", "123", "2023-05-01"]],
    )
    staged = outside_list_stage(data, kind="deaths", filename="x.xlsx")
    assert isinstance(staged, StagedList) and isinstance(staged, si.StagedImport)
    assert staged.counts == {"rows": 2, "created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    assert [(e["row"], e["column"]) for e in staged.errors()] == [(2, "死亡日期")]
    assert [(w["row"], w["column"]) for w in staged.warnings()] == [(3, "身份证号")]
    out = tmp_path / "r.xlsx"
    si.report_write(staged, out)
    ws = openpyxl.load_workbook(out)["名单"]
    assert [c.value for c in ws[1]] == ["姓名", "身份证号", "死亡日期", "处理结果", "错误说明", "提示"]
    assert ws.cell(2, 4).value == "有错误，不导入" and ws.cell(3, 4).value == "将新增"


def test_a_service_roster_is_a_staged_import(users):
    from canlian.casework.importing import RosterSpec, Staged, roster_spec, roster_stage

    assert issubclass(RosterSpec, si.ImportSpec) and Staged is si.SpecStaged
    data = xlsx(
        ["姓名", "身份证号", "托养方式", "服务机构", "开始日期"],
        [["张伟", "320506198005060011", "上门", "无此机构", date(2023, 3, 1).isoformat()]],
    )
    staged = roster_stage("custodial_care", data, acting_user=users["district"])
    assert isinstance(staged, si.SpecStaged) and staged.spec is roster_spec("custodial_care")
    assert staged.counts["rejected"] == 1 and all(e["row"] == 2 for e in staged.errors())
