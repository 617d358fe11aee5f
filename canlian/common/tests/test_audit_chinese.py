"""The auditor's page in Chinese (issue 10 §3): every action the code can write has a Chinese label that the
audit writer checks, every field and value is shown in Chinese (choices by their labels, fen as yuan), and
the page answers with the data comparison's rows in the log (it returned 500 on them)."""

from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

import canlian
from canlian.common import audit_display
from canlian.common import views as common_views
from canlian.common.audit import AuditCopy, audit_record, audit_record_many
from canlian.common.audit_display import ACTIONS, UnlabelledAction, describe, register_actions
from canlian.common.models import AuditLog

SOURCE = Path(canlian.__file__).resolve().parent
WRITERS = {"audit_record", "audit_record_many", "AuditCopy", "audit_read"}
CODE = re.compile(r"^[a-z][a-z0-9_.]*$")  # an untranslated code or key: "finding.confirm", "overpayment_fen"


def _sources():
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE).parts
        if "tests" in parts or "migrations" in parts:
            continue
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def _constants(tree) -> dict[str, str]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    out[target.id] = node.value.value
    return out


def _calls():
    """(file, line, action or regex pattern, object_type literal, literal change keys) of every audit write."""
    for path, tree in _sources():
        constants = _constants(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in WRITERS:
                continue
            kw = {k.arg: k.value for k in node.keywords}
            action = kw.get("action")
            where = f"{path.relative_to(SOURCE)}:{node.lineno}"
            if action is None:
                continue  # the writer's own definition forwarding ``action``
            if isinstance(action, ast.Constant):
                code, pattern = action.value, None
            elif isinstance(action, ast.Name) and action.id in constants:
                code, pattern = constants[action.id], None
            elif isinstance(action, ast.JoinedStr):
                code = None
                pattern = "".join(
                    re.escape(v.value) if isinstance(v, ast.Constant) else r"[a-z_]+" for v in action.values
                )
            elif isinstance(action, ast.Name) and action.id == "action":
                continue  # a helper passing its own ``action`` through (audit_read → audit_record)
            else:
                raise AssertionError(f"{where}: 无法识别的审计操作写法 {ast.unparse(action)}")
            object_type = kw.get("object_type")
            object_type = object_type.value if isinstance(object_type, ast.Constant) else ""
            changes = kw.get("changes")
            keys = []
            if isinstance(changes, ast.Dict):
                keys = [k.value for k in changes.keys if isinstance(k, ast.Constant)]
            yield where, code, pattern, object_type, keys


def test_the_walk_finds_the_writes():
    calls = list(_calls())
    codes = {code for _, code, _, _, _ in calls if code}
    # a sample of what must be found: literal, module constant (demo), f-string (the workflow engine), reads
    assert {"finding.confirm_bulk", "verification.run", "demo.load", "person.view", "access.denied"} <= codes
    assert any(p == r"[a-z_]+\.[a-z_]+" for _, _, p, _, _ in calls)
    assert len(calls) >= 45


def test_every_action_the_code_can_write_has_a_chinese_label_and_none_is_stale():
    calls = list(_calls())
    literal = {code for _, code, _, _, _ in calls if code}
    patterns = {p for _, _, p, _, _ in calls if p}
    unlabelled = sorted(f"{where} {code}" for where, code, _, _, _ in calls if code and code not in ACTIONS)
    assert unlabelled == []
    for pattern in patterns:
        assert [c for c in ACTIONS if re.fullmatch(pattern, c)], pattern
    stale = sorted(c for c in ACTIONS if c not in literal and not any(re.fullmatch(p, c) for p in patterns))
    assert stale == []
    for code, spec in ACTIONS.items():
        assert re.search(r"[\u4e00-\u9fff]", spec.label) and not re.search(r"[A-Za-z]", spec.label), code


@pytest.mark.django_db
def test_every_change_key_written_literally_has_a_chinese_label():
    missing = []
    for where, code, pattern, object_type, keys in _calls():
        action = code or next(c for c in ACTIONS if re.fullmatch(pattern, c))
        if not keys:
            continue
        row = AuditLog(action=action, object_type=object_type, changes={k: [None, 1] for k in keys})
        for change in describe([row])[0].change_list:
            if CODE.match(change.label) or not re.search(r"[\u4e00-\u9fff]", change.label):
                missing.append(f"{where} {action} {change.field} → {change.label}")
    assert missing == [], "\n".join(missing)


@pytest.mark.django_db
def test_the_writer_refuses_an_unlabelled_action_and_writes_nothing(users, monkeypatch):
    before = AuditLog.objects.count()
    with pytest.raises(UnlabelledAction, match=r"审计操作 casework\.visit 没有中文名称"):
        audit_record(acting_user=users["district"], action="casework.visit")
    with pytest.raises(UnlabelledAction):
        audit_record_many(acting_user=users["district"], action="casework.visit", entries=[{"object_id": 1}])
    with pytest.raises(UnlabelledAction):
        AuditCopy(acting_user=users["district"], action="casework.visit", now=None)
    assert AuditLog.objects.count() == before
    # an app registers its own actions, in Chinese only
    monkeypatch.setattr(audit_display, "ACTIONS", dict(ACTIONS))
    monkeypatch.setattr(audit_display, "ACTION_LABELS", dict(audit_display.ACTION_LABELS))
    with pytest.raises(UnlabelledAction, match="名称应为中文"):
        register_actions({"casework.visit": "visit"})
    register_actions({"casework.visit": "上门走访"})
    row = audit_record(acting_user=users["district"], action="casework.visit")
    assert describe([row])[0].action_label == "上门走访"


def _shown_texts(row) -> list[str]:
    texts = [row.action_label, row.object_type_label] if row.object_type else [row.action_label]
    for c in row.change_list:
        texts += [c.label, c.new] + ([c.old] if c.old is not None else [])
    return texts


@pytest.fixture
def comparison(users, make_user, make_person):
    """The data comparison's whole life: lists of every kind, a run, candidates confirmed and rejected,
    findings confirmed (stopping allowances, recording a death), dismissed and bulk-confirmed."""
    from canlian.verification.models import Finding, Match
    from canlian.verification.services import (
        finding_confirm,
        finding_dismiss,
        findings_confirm_bulk,
        match_confirm,
        match_reject,
        verification_run,
    )
    from canlian.verification.tests import world

    staff = {**users, "luzhi2": make_user("luzhi2", "town_staff", "甪直镇")}
    w = world.build(make_person)
    world.import_lists(staff["district"], w["persons"])
    verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    match_confirm(acting_user=staff["town_luzhi"], match=Match.objects.get(status="pending"))
    dead = Finding.objects.get(kind="deceased", enrolment__programme__code="living_allowance")
    finding_confirm(acting_user=staff["district"], finding=dead, action="stop")
    finding_dismiss(
        acting_user=staff["town_luzhi"], finding=Finding.objects.get(kind="injury_care"), reason="复核后不符"
    )
    findings_confirm_bulk(
        acting_user=staff["district"],
        finding_ids=list(Finding.objects.filter(kind="cert_cancelled").values_list("pk", flat=True)),
        action="suspend",
        note="上级注销",
    )
    # a second typo row, rejected
    world.import_lists(staff["district"], w["persons"])
    verification_run(acting_user=staff["district"], month=date(2023, 9, 1))
    pending = Match.objects.filter(status="pending").first()
    if pending:
        match_reject(acting_user=staff["town_luzhi"], match=pending, reason="不是同一人")
    return w


@pytest.mark.django_db
def test_the_audit_page_answers_with_the_comparisons_rows_all_in_chinese(users, comparison, monkeypatch):
    monkeypatch.setattr(common_views, "AUDIT_PAGE_SIZE", 1000)
    auditor = Client()
    auditor.force_login(users["auditor"])
    # when the auditor opens the page (it raised 'ManyToOneRel' object has no attribute 'verbose_name')
    response = auditor.get(reverse("common:audit_list"))
    html = response.content.decode()
    # then it answers, with every row
    assert response.status_code == 200
    assert len(re.findall(r'data-audit="\d+"', html)) == AuditLog.objects.count()
    # and the data comparison's actions in Chinese
    for label in (
        "导入外部比对名单",
        "运行数据比对",
        "发现疑点",
        "确认候选匹配",
        "确认疑点",
        "排除疑点",
        "批量确认疑点",
        "待遇享受：终止",
    ):
        assert label in html, label
    # and no row shows a raw code, key or value
    rows = describe(AuditLog.objects.order_by("id"))
    actions = {r.action for r in rows}
    assert {"verification.import", "verification.run", "finding.create", "finding.confirm"} <= actions
    raw = [(r.action, t) for r in rows for t in _shown_texts(r) if CODE.match(t or "")]
    assert raw == [], "\n".join(map(str, sorted(set(raw))))
    text = re.sub(r"<[^>]*>", " ", html)  # what the auditor reads (codes stay in the filter's option values)
    for code in (
        "finding.confirm",
        "kind：deceased",
        "overpayment_fen",
        "match.confirm",
        "pending",
        "deceased",
    ):
        assert code not in text, code


@pytest.mark.django_db
def test_choices_by_their_labels_and_fen_as_yuan(users, comparison):
    rows = {}
    for r in describe(AuditLog.objects.order_by("id")):
        rows.setdefault(r.action, r)  # the first of each action

    def changes(action):
        return {c.label: (c.old, c.new) for c in rows[action].change_list}

    confirmed = changes("finding.confirm")
    assert confirmed["疑点类型"] == (None, "已死亡仍在享受或发放")
    assert confirmed["状态"] == ("待处理", "已确认")
    assert confirmed["处理方式"] == (None, "终止")
    over = confirmed["多发金额"]
    assert over[1].endswith(" 元") and re.fullmatch(r"[\d,]+\.\d{2} 元", over[1])
    assert changes("match.confirm")["状态"] == ("待确认", "已确认")
    assert changes("match.confirm")["候选匹配"][1].startswith("#")
    assert changes("finding.dismiss")["疑点类型"] == (None, "已领取工伤保险生活护理费")
    assert changes("verification.import")["名单类型"][1] in {
        "死亡/火化名单",
        "低保名单",
        "特困供养名单",
        "工伤保险生活护理费名单",
        "老年护理补贴名单",
        "户籍迁出名单",
        "残疾人证注销名单（上级系统）",
    }
    assert changes("verification.run")["疑点数"][1] != ""
    assert changes("enrolment.stop")["状态"] == ("享受中", "已终止") or changes("enrolment.stop")["状态"][1]


def test_fen_is_shown_as_yuan_with_the_fen_dropped_from_the_label():
    row = AuditLog(
        action="finding.confirm",
        object_type="registry.person",
        changes={"overpayment_fen": [0, 123456], "kind": [None, "deceased"], "finding": [7, 7]},
    )
    got = {c.label: (c.old, c.new) for c in describe([row])[0].change_list}
    assert got == {
        "多发金额": ("0.00 元", "1,234.56 元"),
        "疑点类型": (None, "已死亡仍在享受或发放"),
        "疑点": (None, "#7"),
    }


@pytest.mark.django_db
def test_counts_by_table_name_their_tables_in_chinese():
    row = AuditLog(
        action="keys.rotate",
        object_type="common.keycheck",
        changes={"values": 3, "indexes": 2, "tables": {"registry_person": 2}},
    )
    shown = describe([row])[0]
    assert (shown.action_label, shown.object_type_label) == ("更换加密密钥", "加密密钥")
    assert {c.label: c.new for c in shown.change_list} == {
        "重新加密的值数": "3",
        "重建的盲索引数": "2",
        "各数据表处理行数": "残疾人：2",
    }
