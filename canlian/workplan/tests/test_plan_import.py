"""Importing the plan document (.docx, .txt, PDF) as a draft, reviewing it, publishing it, re-importing."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from canlian.cli import main
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog
from canlian.workplan import services
from canlian.workplan.models import Plan, Target

SEED = Path(__file__).resolve().parent / "data" / "wuzhong_2023.txt"

PLAN_2024 = [
    ("吴中区残联2024年工作要点", "Title"),
    ("一、兜牢民生底线", "Heading 1"),
    ("（一）推进无障碍改造。全年完成困难重度残疾人家庭无障碍改造不少于 50 户。", "Normal"),
    ("（二）托养服务。木渎镇年底前新增托养 12 人。", "Normal"),
    ("二、提升服务质量", "Heading 2"),
    ("（三）宣传工作。持续做好宣传。", "Normal"),
]


def _docx(paragraphs) -> bytes:
    import docx

    document = docx.Document()
    for text, style in paragraphs:
        if style == "Title":
            document.add_heading(text, 0)
        elif style.startswith("Heading"):
            document.add_heading(text, int(style[-1]))
        else:
            document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pdf(lines) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    c = canvas.Canvas(out)
    c.setFont("STSong-Light", 11)
    y = 800
    for line in lines:
        if y < 60:  # a new page: the text goes on across it
            c.showPage()
            c.setFont("STSong-Light", 11)
            y = 800
        c.drawString(40, y, line)
        y -= 18
    c.save()
    return out.getvalue()


@pytest.fixture
def staff(users):
    return users["district"]


def test_the_seed_imports_as_a_draft_with_its_targets_and_an_audit_row(staff, towns):
    result = services.plan_import(acting_user=staff, year=2023, data=SEED.read_bytes(), filename="要点.txt")
    plan = result.plan
    assert (plan.year, plan.version, plan.status, plan.source_kind) == (2023, 1, "draft", "txt")
    assert plan.tasks.count() == 17
    targets = list(plan.targets.select_related("task", "town"))
    assert [(t.task.number, t.value, t.unit, t.deadline) for t in targets] == [
        (6, Decimal("97.00"), "%", None),
        (7, Decimal("1.00"), "家", date(2023, 10, 31)),
        (8, Decimal("100.00"), "人", None),
        (9, Decimal("163.00"), "人", date(2023, 12, 31)),
    ]
    assert targets[1].town.name == "甪直镇" and targets[1].warnings
    log = AuditLog.objects.get(action="workplan.import")
    assert log.username == staff.username and log.changes["tasks"] == 17 and log.changes["targets"] == 4


def test_docx_and_pdf_read_the_same_plan(staff, towns):
    from_docx = services.plan_import(acting_user=staff, year=2024, data=_docx(PLAN_2024), filename="a.docx")
    lines = []
    for text, _ in PLAN_2024:  # a PDF breaks lines inside sentences: they are joined again
        lines.extend(text[i : i + 22] for i in range(0, len(text), 22))
    from_pdf = services.plan_import(acting_user=staff, year=2024, data=_pdf(lines * 1), filename="b.pdf")
    assert from_docx.kind == "docx" and from_pdf.kind == "pdf"
    for result in (from_docx, from_pdf):
        got = result.parsed.as_json()
        assert got["title"] == "吴中区残联2024年工作要点" and got["tasks"] == 3 and got["sections"] == 2
        assert [(t["task"], t["value"], t["unit"], t["deadline"], t["town"]) for t in got["targets"]] == [
            (1, 50, "户", "2024-12-31", None),
            (2, 12, "人", "2024-12-31", "木渎镇"),
        ]
    # the second import of the year is version 2, and the same plan read twice changed nothing
    assert from_pdf.plan.version == 2 and from_pdf.plan.changes == {}


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "a.txt", "文件为空"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "a.doc", "旧版 Word 文档"),
        (b"%PDF-1.4\n%broken", "a.pdf", "无法读取"),
        ("一、只有章节\n没有任务。".encode(), "a.txt", "未找到任何任务"),
    ],
)
def test_unusable_files_say_why_and_write_nothing(staff, towns, data, name, message):
    with pytest.raises(DomainError) as err:
        services.plan_import(acting_user=staff, year=2023, data=data, filename=name)
    assert message in err.value.message
    assert not Plan.objects.exists() and not AuditLog.objects.filter(action="workplan.import").exists()


def test_a_docx_that_inflates_to_gigabytes_is_refused_before_parsing(staff, towns, settings):
    settings.CANLIAN_UPLOAD_MAX_UNCOMPRESSED_BYTES = 20 * 1024 * 1024
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"<w:document>" + b" " * (64 * 1024 * 1024) + b"</w:document>")
    with pytest.raises(DomainError) as err:
        services.plan_import(acting_user=staff, year=2023, data=out.getvalue(), filename="bomb.docx")
    assert "解压后" in err.value.message or "压缩比" in err.value.message
    assert not Plan.objects.exists()


def test_only_district_staff_import_review_and_publish(users, towns):
    for role in ("town_luzhi", "leader", "auditor", "admin"):
        with pytest.raises(PermissionDenied):
            services.plan_import(acting_user=users[role], year=2023, data=SEED.read_bytes(), filename="a.txt")
    plan = services.plan_import(
        acting_user=users["district"], year=2023, data=SEED.read_bytes(), filename="a.txt"
    ).plan
    target = plan.targets.first()
    with pytest.raises(PermissionDenied):
        services.target_update(acting_user=users["town_luzhi"], target_id=target.pk, data={"value": "1"})
    with pytest.raises(PermissionDenied):
        services.plan_publish(acting_user=users["leader"], plan_id=plan.pk)


def test_review_edit_split_merge_drop_add_then_publish(staff, towns):
    plan = services.plan_import(acting_user=staff, year=2023, data=SEED.read_bytes(), filename="a.txt").plan
    rate, home, custodial, jobs = plan.targets.order_by("task__number")
    # a bad value is refused at its field and changes nothing
    with pytest.raises(ValidationFailed) as err:
        services.target_update(acting_user=staff, target_id=custodial.pk, data={"value": "一百"})
    assert "目标值" in err.value.errors["value"]
    custodial.refresh_from_db()
    assert custodial.value == Decimal("100.00")
    # tie to an indicator and a department
    services.target_update(
        acting_user=staff,
        target_id=custodial.pk,
        data={"indicator": "custodial_new", "department": "康复科"},
    )
    custodial.refresh_from_db()
    assert (custodial.link, custodial.indicator, custodial.origin) == (
        "indicator",
        "custodial_new",
        "imported",
    )
    with pytest.raises(ValidationFailed):
        services.target_update(acting_user=staff, target_id=jobs.pk, data={"indicator": "no_such"})
    # split one into two, merge them back
    first, second = services.target_split(acting_user=staff, target_id=jobs.pk, values=["100", "63"])
    assert (first.value, second.value, second.task_id) == (Decimal("100.00"), Decimal("63.00"), jobs.task_id)
    merged = services.target_merge(acting_user=staff, target_ids=[first.pk, second.pk])
    assert merged.value == Decimal("163.00") and not Target.objects.filter(pk=second.pk).exists()
    with pytest.raises(ValidationFailed):
        services.target_merge(acting_user=staff, target_ids=[rate.pk, home.pk])  # different tasks
    # add one the reader missed, drop one
    added = services.target_add(
        acting_user=staff,
        plan_id=plan.pk,
        task_number=16,
        data={"text": "完成无障碍改造", "value": "40", "unit": "户", "deadline": "2023-12-31"},
    )
    assert added.origin == "added" and added.task.number == 16
    services.target_delete(acting_user=staff, target_id=added.pk)
    # publishing needs every target tied (indicator, milestone or qualitative)
    with pytest.raises(ValidationFailed) as err:
        services.plan_publish(acting_user=staff, plan_id=plan.pk)
    assert "未关联" in err.value.errors["link"]
    for t, link in ((rate, "milestone"), (home, "milestone"), (merged, "qualitative")):
        services.target_update(acting_user=staff, target_id=t.pk, data={"link": link})
    published = services.plan_publish(acting_user=staff, plan_id=plan.pk)
    assert published.status == "published" and published.published_by == staff
    # a published plan is not edited any more
    with pytest.raises(ValidationFailed):
        services.target_update(acting_user=staff, target_id=rate.pk, data={"value": "98"})
    actions = list(
        AuditLog.objects.filter(action__startswith="workplan.")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    for action in ("import", "target_update", "target_split", "target_merge", "target_add", "target_delete"):
        assert f"workplan.{action}" in actions
    assert actions[-1] == "workplan.publish"


def test_reimport_says_what_changed_and_keeps_what_staff_set(staff, towns):
    first = services.plan_import(acting_user=staff, year=2023, data=SEED.read_bytes(), filename="a.txt").plan
    custodial = first.targets.get(task__number=8)
    services.target_update(
        acting_user=staff, target_id=custodial.pk, data={"indicator": "custodial_new", "department": "康复科"}
    )
    for t in first.targets.exclude(pk=custodial.pk):
        services.target_update(acting_user=staff, target_id=t.pk, data={"link": "milestone"})
    services.plan_publish(acting_user=staff, plan_id=first.pk)
    revised = (
        SEED.read_text(encoding="utf-8")
        .replace("净增\n\n残疾人就业 163 人", "净增\n\n残疾人就业 170 人")
        .replace("10月底前建成", "11月底前建成")
        + "\n（十八）新增任务。年底前举办残疾人运动会 1 场。\n"
    )
    second = services.plan_import(acting_user=staff, year=2023, data=revised.encode(), filename="b.txt").plan
    assert second.version == 2 and second.status == "draft"
    assert second.changes["tasks_added"] == ["任务18：新增任务"]
    assert sorted(second.changes["tasks_changed"]) == [
        "任务7：高水平新建甬直镇“残疾人之家”",
        "任务9：高质量完成就业增收实事项目",
    ]
    assert second.changes["targets_changed"] == [
        "任务7（甪直镇）：期限 2023-10-31 → 2023-11-30",
        "任务9：目标值 163人 → 170人",
    ]
    assert second.changes["targets_added"] == ["任务18：年底前举办残疾人运动会 1 场"]
    # the unchanged custodial target keeps its indicator and department; the changed ones start untied
    kept = second.targets.get(task__number=8)
    assert (kept.link, kept.indicator, kept.department) == ("indicator", "custodial_new", "康复科")
    assert second.targets.get(task__number=9).link == ""
    # the published version stays published until the new one is published
    first.refresh_from_db()
    assert first.status == "published"


def test_cli_json_contract(staff, towns, capsys):
    assert main(["workplan", "import", str(SEED), "--year", "2023", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["year"], out["tasks"]) == (2023, 17)
    assert [(t["task"], t["value"], t["unit"], t["deadline"], t["town"]) for t in out["targets"]] == [
        (6, 97, "%", None, None),
        (7, 1, "家", "2023-10-31", "甪直镇"),
        (8, 100, "人", None, None),
        (9, 163, "人", "2023-12-31", None),
    ]
    assert set(out["targets"][0]) >= {"task", "text", "value", "unit", "deadline", "town"}
    assert out["plan"]["version"] == 1
    # --dry-run saves nothing; a missing file exits 2 with a Chinese message
    assert main(["workplan", "import", str(SEED), "--year", "2023", "--dry-run", "--json"]) == 0
    assert Plan.objects.count() == 1
    capsys.readouterr()
    assert main(["workplan", "import", "/nonexistent/plan.docx", "--year", "2023"]) == 2
    assert "找不到文件" in capsys.readouterr().err
