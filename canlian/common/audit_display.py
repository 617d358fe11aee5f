"""Turning audit rows into something a person can read: Chinese action names, field labels, old → new.

The changes stored in an audit row are already masked by the service that wrote them; this module only
labels them. Field labels and choice labels come from the models themselves (looked up by the row's
``object_type``), so this module does not import any app's models and needs no upkeep when a field is added.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist

ACTION_LABELS = {
    "login": "登录",
    "logout": "退出登录",
    "person.create": "新建档案",
    "person.update": "修改档案",
    "person.status": "变更人员状态",
    "person.economic_status": "变更家庭经济状况",
    "person.reveal_id": "查看完整身份证号",
    "person.export": "导出残疾人名单",
    "person.import_create": "批量导入新建",
    "person.import_update": "批量导入更新",
    "import.commit": "确认批量导入",
    "certificate.status": "变更证件状态",
    "region.create": "新增村(社区)",
    "user.create": "新建用户",
    "audit.export": "导出审计日志",
    "application.create": "新建申请",
    "application.attach": "上传申请材料",
    "application.transition": "申请流转",
    "payroll.generate": "生成发放批次",
    "payroll.transition": "发放批次流转",
    "payroll.results": "登记发放结果",
    "payroll.export": "导出发放文件",
    "payroll.discard": "作废发放批次",
    "parameter.add": "新增参数标准",
    "demo.load": "载入演示数据",
    "demo.reset": "清除演示数据",
    "demo.benefits": "载入演示业务数据",
    "screening.export": "导出应保尽保筛查名单",
    "enrolment.suspend": "暂停待遇",
    "enrolment.resume": "恢复待遇",
    "enrolment.stop": "终止待遇",
    # child rehabilitation (casework/programmes/child_rehab*.py)
    "case.child_rehab.open": "登记康复救助个案",
    "case.child_rehab.apply": "康复救助申请",
    "case.child_rehab.assess": "评估康复需求",
    "case.child_rehab.approve": "康复救助审核通过",
    "case.child_rehab.reject": "康复救助审核不通过",
    "case.child_rehab.choose": "选定定点康复机构",
    "case.child_rehab.refer": "异地转介康复",
    "case.child_rehab.end": "结束康复服务",
    "case.child_rehab.update": "更正康复救助个案",
    "case.child_rehab.month": "录入康复服务月度记录",
    "case.child_rehab.reimburse": "异地转介费用报销",
    "child_rehab_referral.create": "登记异地转介",
    "child_rehab_referral.request": "提交异地转介申请",
    "child_rehab_referral.approve": "同意异地转介",
    "child_rehab_referral.reject": "不同意异地转介",
    "child_rehab_referral.complete": "异地转介完成",
    "autism.event": "记录孤独症筛查干预",
    "rehab.evaluation": "定点康复机构考评",
}

OBJECT_TYPE_LABELS = {
    "registry.person": "残疾人",
    "registry.region": "行政区划",
    "registry.certificate": "残疾人证",
    "accounts.user": "用户",
    "common.auditlog": "审计记录",
    "common.job": "后台任务",
    "benefits.application": "待遇申请",
    "benefits.payroll": "发放批次",
    "benefits.programme": "待遇项目",
    "benefits.parameter": "参数标准",
}

# Keys in ``changes`` that are not fields of the row's own model: (app, model, field).
_OTHER_MODEL_FIELDS = {
    "certificate_number": ("registry", "Certificate", "number"),
    "certificate_status": ("registry", "Certificate", "status"),
    "issue_date": ("registry", "Certificate", "issue_date"),
    "economic_status": ("registry", "EconomicStatusPeriod", "status"),
    "valid_from": ("registry", "EconomicStatusPeriod", "valid_from"),
}
_PLAIN_LABELS = {
    "on": "日期",
    "reason": "原因",
    "rows": "行数",
    "filters": "筛选条件",
    "jurisdiction": "管辖范围",
}
_EMPTY = "（空）"


@dataclass
class Change:
    field: str
    label: str
    old: str | None  # None when no earlier value was recorded
    new: str


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


def object_type_label(object_type: str) -> str:
    return OBJECT_TYPE_LABELS.get(object_type, object_type)


def _model_field(object_type: str, key: str):
    if key in _OTHER_MODEL_FIELDS:
        app_label, model_name, field_name = _OTHER_MODEL_FIELDS[key]
    elif "." in object_type:
        app_label, model_name = object_type.split(".", 1)
        field_name = key
    else:
        return None
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        return None
    for name in (field_name, field_name.removesuffix("_id")):
        try:
            return model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
    return None


def _pair(value) -> tuple[object, object]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    return None, value


def _text(value, field, related_names: dict) -> str:
    if value is None or value == "":
        return _EMPTY
    if field is not None:
        if getattr(field, "related_model", None) is not None:
            return related_names.get((field.related_model, str(value)), str(value))
        choices = getattr(field, "flatchoices", None)
        if choices:
            labels = {str(k): str(v) for k, v in choices}
            return labels.get(str(value), str(value))
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dict | list):
        return (
            "；".join(f"{k}：{v}" for k, v in value.items())
            if isinstance(value, dict)
            else "、".join(map(str, value))
        )
    return str(value)


def describe(rows: Iterable) -> list:
    """Attach ``action_label``, ``object_type_label`` and ``change_list`` (a list of ``Change``) to each row.

    Related ids in the changes (a town id, say) are resolved to names with one query per related model."""
    rows = list(rows)
    fields: dict[tuple[str, str], object] = {}
    wanted: dict[type, set[str]] = defaultdict(set)
    for row in rows:
        for key, value in (row.changes or {}).items() if isinstance(row.changes, dict) else ():
            field = fields.setdefault((row.object_type, key), _model_field(row.object_type, key))
            related = getattr(field, "related_model", None)
            if related is not None:
                for v in _pair(value):
                    if v not in (None, ""):
                        wanted[related].add(str(v))
    related_names: dict[tuple[type, str], str] = {}
    for model, ids in wanted.items():
        clean = [i for i in ids if i.isdigit()]
        for obj in model._default_manager.filter(pk__in=clean):
            related_names[(model, str(obj.pk))] = str(obj)
    for row in rows:
        row.action_label = action_label(row.action)
        row.object_type_label = object_type_label(row.object_type)
        changes = row.changes if isinstance(row.changes, dict) else {}
        out = []
        for key, value in changes.items():
            field = fields.get((row.object_type, key))
            label = str(field.verbose_name) if field is not None else _PLAIN_LABELS.get(key, key)
            old, new = _pair(value)
            if old in (None, "") and new in (None, ""):
                continue  # nothing to say: empty before and after
            # ``None`` before means "not recorded" (a record being created, a value set for the first time):
            # show only the new value rather than claim the old one was empty.
            old_text = None if old is None else _text(old, field, related_names)
            out.append(Change(key, label, old_text, _text(new, field, related_names)))
        row.change_list = out
    return rows
