"""Turning audit rows into something a person can read: Chinese action names, field labels, old → new.

The changes stored in an audit row are already masked by the service that wrote them; this module only
labels them. Every action code has a Chinese label in ``ACTIONS`` (the audit writer refuses an action that
has none, so no raw code can reach the auditor's page); an app that writes actions of its own registers
them with ``register_actions``. Field labels and choice labels come from the models themselves, looked up
by the action's own model (the entity its changes describe) and then the row's ``object_type``, so this
module does not import any app's models and needs no upkeep when a field is added. Keys that are not a
model's fields (counts, flags, filters) are labelled in ``CHANGE_LABELS``. Amounts in fen (``*_fen``) are
shown as yuan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist


@dataclass(frozen=True)
class ActionSpec:
    label: str
    model: str = ""  # "app_label.Model" whose fields the changes name, when not the row's object type


ACTIONS: dict[str, ActionSpec] = {
    # sign-in
    "login": ActionSpec("登录"),
    "logout": ActionSpec("退出登录"),
    "user.create": ActionSpec("新建用户", "accounts.User"),
    # registry
    "person.create": ActionSpec("新建档案"),
    "person.update": ActionSpec("修改档案"),
    "person.status": ActionSpec("变更人员状态"),
    "person.economic_status": ActionSpec("变更家庭经济状况"),
    "person.circumstance_add": ActionSpec("登记家庭与个人情况"),
    "person.circumstance_end": ActionSpec("结束家庭与个人情况"),
    "person.employment_status": ActionSpec("变更就业状况"),
    "person.reveal_id": ActionSpec("查看完整身份证号"),
    "person.view": ActionSpec("查看残疾人档案"),
    "person.search": ActionSpec("按身份证号或证号查询"),
    "person.export": ActionSpec("导出残疾人名单"),
    "person.import_create": ActionSpec("批量导入新建"),
    "person.import_update": ActionSpec("批量导入更新"),
    "import.commit": ActionSpec("确认批量导入"),
    "import.interrupted": ActionSpec("批量导入中途停止"),
    "import.report_download": ActionSpec("下载导入报告"),
    "certificate.status": ActionSpec("变更证件状态"),
    "region.create": ActionSpec("新增村(社区)", "registry.Region"),
    "region.load": ActionSpec("载入国家统计用区划代码"),
    # benefits
    "application.create": ActionSpec("新建申请", "benefits.Application"),
    "application.attach": ActionSpec("上传申请材料"),
    "application.attachment_download": ActionSpec("下载申请材料"),
    "payroll.generate": ActionSpec("生成发放批次", "benefits.Payroll"),
    # the moves of applications, enrolments and payroll batches ("<workflow>.<move>") are registered by
    # benefits/workflows.py; these two are the codes of the moves written before the workflow engine
    "application.transition": ActionSpec("申请流转", "benefits.Application"),
    "payroll.transition": ActionSpec("发放批次流转", "benefits.Payroll"),
    "payroll.results": ActionSpec("登记发放结果", "benefits.Payroll"),
    "payroll.export": ActionSpec("导出发放文件", "benefits.Payroll"),
    "payroll.discard": ActionSpec("作废发放批次", "benefits.Payroll"),
    "parameter.add": ActionSpec("新增参数标准", "benefits.ParameterValue"),
    "screening.export": ActionSpec("导出应保尽保筛查名单"),
    # data comparison
    "verification.import": ActionSpec("导入外部比对名单", "verification.OutsideList"),
    "verification.run": ActionSpec("运行数据比对", "verification.VerificationRun"),
    "verification.report_export": ActionSpec("导出数据比对报告"),
    "match.confirm": ActionSpec("确认候选匹配", "verification.Match"),
    "match.reject": ActionSpec("否定候选匹配", "verification.Match"),
    "finding.create": ActionSpec("发现疑点", "verification.Finding"),
    "finding.confirm": ActionSpec("确认疑点", "verification.Finding"),
    "finding.dismiss": ActionSpec("排除疑点", "verification.Finding"),
    "finding.confirm_bulk": ActionSpec("批量确认疑点"),
    # system
    "audit.export": ActionSpec("导出审计日志"),
    "export.download": ActionSpec("下载导出文件"),
    "keys.rotate": ActionSpec("更换加密密钥"),
    "audit.verify": ActionSpec("校验审计日志哈希链"),
    "db.roles_apply": ActionSpec("设置数据库角色权限"),
    "access.denied": ActionSpec("访问被拒绝（无权限或记录不存在）"),
    "demo.load": ActionSpec("载入演示数据"),
    "demo.reset": ActionSpec("清除演示数据"),
    "demo.benefits": ActionSpec("载入演示业务数据"),
    "demo.verification_legacy": ActionSpec("载入演示比对情形"),
    # child rehabilitation (casework/programmes/child_rehab*.py)
    "case.child_rehab.open": ActionSpec("登记康复救助个案"),
    "case.child_rehab.apply": ActionSpec("康复救助申请"),
    "case.child_rehab.assess": ActionSpec("评估康复需求"),
    "case.child_rehab.approve": ActionSpec("康复救助审核通过"),
    "case.child_rehab.reject": ActionSpec("康复救助审核不通过"),
    "case.child_rehab.choose": ActionSpec("选定定点康复机构"),
    "case.child_rehab.refer": ActionSpec("异地转介康复"),
    "case.child_rehab.end": ActionSpec("结束康复服务"),
    "case.child_rehab.update": ActionSpec("更正康复救助个案"),
    "case.child_rehab.month": ActionSpec("录入康复服务月度记录"),
    "case.child_rehab.reimburse": ActionSpec("异地转介费用报销"),
    # service roster imports (casework/importing.py)
    "roster.import": ActionSpec("导入服务名单"),
    "roster.import_interrupted": ActionSpec("服务名单导入中途停止"),
    "child_rehab_referral.create": ActionSpec("登记异地转介"),
    "child_rehab_referral.request": ActionSpec("提交异地转介申请"),
    "child_rehab_referral.approve": ActionSpec("同意异地转介"),
    "child_rehab_referral.reject": ActionSpec("不同意异地转介"),
    "child_rehab_referral.complete": ActionSpec("异地转介完成"),
    "autism.event": ActionSpec("记录孤独症筛查干预"),
    "rehab.evaluation": ActionSpec("定点康复机构考评"),
}
ACTION_LABELS: dict[str, str] = {code: spec.label for code, spec in ACTIONS.items()}

# reads of personal data: kept out of a person's change history (the auditor sees them on the audit page)
READ_ACTIONS = ("person.view", "person.search", "access.denied")

OBJECT_TYPE_LABELS = {
    "registry.person": "残疾人",
    "registry.region": "行政区划",
    "registry.certificate": "残疾人证",
    "registry.person_import": "残疾人名单导入",
    "casework.roster_import": "服务名单导入",
    "accounts.user": "用户",
    "common.auditlog": "审计记录",
    "common.job": "后台任务",
    "common.keycheck": "加密密钥",
    "benefits": "待遇业务",
    "benefits.application": "待遇申请",
    "benefits.enrolment": "待遇享受",
    "benefits.payroll": "发放批次",
    "benefits.programme": "待遇项目",
    "benefits.parameter": "参数标准",
    "verification": "数据比对",
    "verification.outsidelist": "外部名单",
    "verification.verificationrun": "比对批次",
    "verification.match": "候选匹配",
    "verification.finding": "疑点",
}


class UnlabelledAction(ValueError):
    """An audit action with no Chinese label: a programming error, caught by the tests."""


def register_actions(specs: dict[str, str | ActionSpec], *, strict: bool = True) -> None:
    """For apps with actions of their own (call from ``AppConfig.ready``): code → label or ``ActionSpec``."""
    for code, spec in specs.items():
        spec = spec if isinstance(spec, ActionSpec) else ActionSpec(spec)
        if not _is_chinese(spec.label):
            if not strict:  # a declaration whose names are not Chinese (tests' toy workflows): leave it out
                continue
            raise UnlabelledAction(f"审计操作 {code} 的名称应为中文：{spec.label}")
        ACTIONS[code] = spec
        ACTION_LABELS[code] = spec.label


def require_label(action: str) -> None:
    """The audit writer's check: every action it writes can be shown in Chinese."""
    if action not in ACTIONS:
        raise UnlabelledAction(
            f"审计操作 {action} 没有中文名称：请在 common/audit_display.py 的 ACTIONS 中登记，"
            "或在应用的 AppConfig.ready 中调用 register_actions"
        )


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text) and not any(
        ch.isascii() and ch.isalpha() for ch in text
    )


# keys whose value is the number of a record: shown as "#12"
_REFERENCES = (
    "match",
    "row",
    "finding",
    "enrolment",
    "first_id",
    "last_id",
    "child_rehab",
    "custodial_care",
    "care_expired_certificate",
)

# Keys in ``changes`` that name a field of another model than the row's: (app, model, field).
_OTHER_MODEL_FIELDS = {
    "certificate_number": ("registry", "Certificate", "number"),
    "certificate_status": ("registry", "Certificate", "status"),
    "issue_date": ("registry", "Certificate", "issue_date"),
    "economic_status": ("registry", "EconomicStatusPeriod", "status"),
    "valid_from": ("registry", "EconomicStatusPeriod", "valid_from"),
    "category": ("registry", "Certificate", "category"),
    "grade": ("registry", "Certificate", "grade"),
    "town": ("registry", "Person", "town"),
    "community": ("registry", "Person", "community"),
}
# Keys that are not fields: counts, flags, filters, references.
CHANGE_LABELS = {
    # the places that serve (institutions/places.py)
    "present": "出勤人数",
    "members": "新登记服务对象",
    "milestones": "建设节点数",
    "milestone": "建设节点",
    "on": "日期",
    # work plan
    "tasks": "任务数",
    "targets": "目标数",
    "superseded_version": "被替代的版本",
    "split_by": "分解方式",
    "quotas": "分镇目标",
    "reason": "原因",
    "posting": "公示期",
    "approval_posting": "审定结果公示期",
    "rows": "行数",
    "count": "行数",
    "filters": "筛选条件",
    "q": "查询内容",
    "age_band": "年龄段",
    "results": "结果数",
    "jurisdiction": "管辖范围",
    "role": "角色",
    "masked": "已脱敏",
    "file": "文件",
    "export": "导出内容",
    "lines": "明细笔数",
    "total": "合计金额（元）",
    "months": "计算月数",
    "paid": "发放成功笔数",
    "failed": "发放失败笔数",
    "status": "状态",
    "eligible_not_enrolled": "符合条件未享受人数",
    "enrolled_not_eligible": "享受但不再符合条件人数",
    "persons": "人数",
    "employment_status": "就业状况",
    "circumstances": "家庭与个人情况条数",
    "adopted": "并入统计代码的村(社区)",
    "recoded": "重新编码的村(社区)",
    "marked_official": "标为官方名称的村(社区)",
    "certificates": "证件数",
    "economic_periods": "家庭经济状况记录数",
    "seed": "随机种子",
    "first_id": "起始编号",
    "last_id": "截止编号",
    "deceased": "死亡人数",
    "moved_out": "迁出人数",
    "certificates_cancelled": "注销证件数",
    "certificates_frozen": "冻结证件数",
    "enrolments": "待遇享受人次",
    "applications": "申请数",
    "payrolls": "发放批次数",
    "findings": "疑点数",
    "child_rehab": "康复救助演示人员",
    "custodial_care": "托养演示人员",
    "care_expired_certificate": "证件过期演示人员",
    "confirmed": "已确认条数",
    "skipped": "跳过条数",
    "source": "来源",
    "matched_exact": "身份证号精确匹配行数",
    "matched_fuzzy": "模糊匹配自动生效行数",
    "candidates": "待确认候选数",
    "unmatched": "未匹配行数",
    "invalid_ids": "身份证号无效行数",
    "rejected": "有误未导入行数",
    "created": "新增",
    "updated": "更新",
    "unchanged": "无变化",
    "communities_created": "新增村(社区)数",
    "stopped_at_row": "停止处所在行",
    "roster": "名单类型",
    "mapping": "列对应关系",
    "values": "重新加密的值数",
    "indexes": "重建的盲索引数",
    "tables": "各数据表处理行数",
    "app_role": "应用数据库角色",
    "owner_role": "所有者数据库角色",
    "checked": "已校验条数",
    "broken_seq": "断链位置（链序号）",
    "month": "月份",
    "lists": "名单份数",
    "match": "候选匹配",
    "row": "名单行",
    "finding": "疑点",
    "superseded": "同时否定的其他候选",
    "enrolment": "待遇享受",
    "enrolment_change": "待遇调整",
    "registry": "档案更新",
    "run": "比对批次",
    "effective_month": "生效月份",
    "programme": "待遇项目",
    # the columns of an outside list (verification.import's mapping)
    "name": "姓名",
    "id_number": "身份证号",
    "birth_date": "出生日期",
    "event_date": "事件日期",
    "end_date": "终止日期",
    "amount": "金额",
    "certificate": "残疾人证号",
    "note": "备注",
    # the person's circumstances (registry.circumstances), by the services and by the import
    "circumstance": "情况",
    "valid_to": "截止日期",
    "no_fixed_income": "无固定收入",
    "multiple_in_household": "一户多残或依老养残",
    "injury_care": "工伤保险生活护理费",
    "orphan_allowance": "孤儿或事实无人抚养",
    "elderly_care": "老年护理补贴(元/月)",
    # the case engine and its programmes (casework)
    # home accessibility renovation (casework/programmes/renovation.py)
    "item": "改造项目",
    "plan_total": "方案合计（元）",
    "survey_on": "勘查日期",
    "survey_notes": "勘查记录",
    "return_reason": "退回原因",
    "contractor": "施工单位",
    "amount_contract": "合同金额（元）",
    "works_from": "开工日期",
    "works_to": "完工日期",
    "age": "年龄",
    "amount_allowed": "核准金额（元）",
    "amount_asked": "申请金额（元）",
    "amount_cut": "核减金额（元）",
    "amount_over_cap": "超出上限金额（元）",
    "applied_on": "申请日期",
    "attachment": "附件",
    "case": "个案",
    "case_ids": "个案编号",
    "cases": "个案数",
    "checklist_version": "考评表版本",
    "closed_on": "结束日期",
    "consent": "知情同意",
    "data": "个案信息",
    "days_attended": "出勤天数",
    "deductions": "扣分",
    "destination": "转往机构",
    "done_on": "完成日期",
    "due_items": "到期事项",
    "evaluated_on": "考评日期",
    "final_score": "最终得分",
    "guardian_name": "监护人姓名",
    "guardian_phone": "监护人电话",
    "guardian_relation": "与监护人关系",
    "inspected_on": "检查日期",
    "institution": "服务机构",
    "kind": "类型",
    "meal_amount": "伙食补助（元）",
    "meal_days": "伙食补助天数",
    "mode": "托养方式",
    "monthly_price": "月服务价格（元）",
    "negatives": "负面行为",
    "opened_on": "开始日期",
    "passed": "是否通过",
    "period": "期间",
    "person": "残疾人",
    "phone": "联系电话",
    "place": "地点",
    "places": "床位数",
    "priority": "优先对象",
    "referral": "异地转介",
    "requested_on": "申请转介日期",
    "residence": "户籍或居住证",
    "result": "结果",
    "score": "得分",
    "seq": "序号",
    "service_type": "服务类型",
    "size": "文件大小",
    "stage": "阶段",
    "state": "状态",
    "used_before": "本年已用（元）",
    "year_cap": "年度上限（元）",
    # assistive devices
    "added": "新增条目",
    "asset_no": "资产编号",
    "changed": "变更条目",
    "days_late": "逾期天数",
    "due_on": "应还日期",
    "effective_from": "生效日期",
    "fitted_on": "适配日期",
    "items": "条目",
    "lent_on": "借出日期",
    "own_share": "个人负担（元）",
    "price": "价格（元）",
    "removed": "删除条目",
    "requested": "申请辅具",
    "returned_on": "归还日期",
    "subsidy": "补贴金额（元）",
    "version": "目录版本",
    "village_worker": "村(社区)经办人",
    # community services (casework/community)
    "records": "查看的记录",
    "how": "查看方式",
    "project": "实事项目",
}
# Values of keys that are not fields but hold codes: key → code → label (``roster``: filled by
# ``casework.importing.roster_register``)
VALUE_LABELS = {
    "how": {"list": "列表", "detail": "详情", "export": "导出"},
    "enrolment_change": {"stop": "终止", "suspend": "暂停", "resume": "恢复"},
    "registry": {
        "person_deceased": "已登记死亡",
        "person_moved_out": "已登记迁出",
        "certificate_cancelled": "已注销残疾人证",
    },
}
_EMPTY = "（空）"


@dataclass
class Change:
    field: str
    label: str
    old: str | None  # None when no earlier value was recorded
    new: str


def action_label(action: str) -> str:
    spec = ACTIONS.get(action)
    return spec.label if spec is not None else f"未登记的操作（{action}）"


def object_type_label(object_type: str) -> str:
    if object_type in OBJECT_TYPE_LABELS:
        return OBJECT_TYPE_LABELS[object_type]
    model = _model(object_type)
    return str(model._meta.verbose_name) if model is not None else object_type


def _model(label: str):
    if "." not in label:
        return None
    app_label, model_name = label.split(".", 1)
    try:
        return apps.get_model(app_label, model_name)
    except (LookupError, ValueError):
        return None


def _concrete(model, name: str):
    """A field the model stores (never a reverse relation, which has no verbose name)."""
    if model is None:
        return None
    for candidate in (name, name.removesuffix("_id")):
        try:
            field = model._meta.get_field(candidate)
        except FieldDoesNotExist:
            continue
        if getattr(field, "concrete", False):
            return field
    return None


def _model_field(action: str, object_type: str, key: str):
    if key in _OTHER_MODEL_FIELDS:
        app_label, model_name, field_name = _OTHER_MODEL_FIELDS[key]
        try:
            return _concrete(apps.get_model(app_label, model_name), field_name)
        except LookupError:
            return None
    spec = ACTIONS.get(action)
    if spec is not None and spec.model:
        field = _concrete(_model(spec.model), key)
        if field is not None:
            return field
    return _concrete(_model(object_type), key)


def _label(field, key: str) -> str:
    if field is not None and _has_chinese(str(field.verbose_name)):
        label = str(field.verbose_name)
        return label.replace("（分）", "").replace("(分)", "") if key.endswith("_fen") else label
    if key in CHANGE_LABELS:
        return CHANGE_LABELS[key]
    return _table_label(key) or key


def _table_label(name: str) -> str:
    """A database table's model name (``registry_person`` → 残疾人), for changes counted by table."""
    for model in apps.get_models():
        if model._meta.db_table == name:
            return str(model._meta.verbose_name)
    return ""


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _pair(value) -> tuple[object, object]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    return None, value


def yuan_text(fen) -> str:
    amount = (Decimal(int(fen)) / 100).quantize(Decimal("0.01"))
    return f"{amount:,} 元"


def _text(value, field, related_names: dict, key: str = "") -> str:
    if value is None or value == "":
        return _EMPTY
    if key.endswith("_fen") and isinstance(value, int) and not isinstance(value, bool):
        return yuan_text(value)
    if key in VALUE_LABELS and not isinstance(value, list | dict):
        return VALUE_LABELS[key].get(str(value), str(value))
    if field is not None:
        related = getattr(field, "related_model", None)
        if related is not None:
            return related_names.get((related, str(value)), str(value))
        choices = getattr(field, "flatchoices", None)
        if choices:
            labels = {str(k): str(v) for k, v in choices}
            return labels.get(str(value), str(value))
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dict):
        return "；".join(
            f"{_label(sub, k)}：{_text(v, sub, related_names, k)}"
            for k, v in value.items()
            for sub in [_nested_field(k)]
        )
    if isinstance(value, list):
        return "、".join(_text(v, field, related_names, key) for v in value)
    if key in _REFERENCES and isinstance(value, int):
        return f"#{value}"
    return str(value)


def _nested_field(key: str):
    """A key inside a dict of changes (the filters of an export): a person's or certificate's field."""
    return _model_field("", "registry.person", key)


def _related_wanted(field, value, wanted: dict) -> None:
    related = getattr(field, "related_model", None)
    if related is not None and value not in (None, "") and not isinstance(value, dict | list):
        wanted[related].add(str(value))


def describe(rows: Iterable) -> list:
    """Attach ``action_label``, ``object_type_label`` and ``change_list`` (a list of ``Change``) to each row.

    Related ids in the changes (a town id, say, also inside a dict of filters) are resolved to names with
    one query per related model."""
    rows = list(rows)
    fields: dict[tuple[str, str, str], object] = {}
    wanted: dict[type, set[str]] = defaultdict(set)
    for row in rows:
        for key, value in (row.changes or {}).items() if isinstance(row.changes, dict) else ():
            field = fields.setdefault(
                (row.action, row.object_type, key), _model_field(row.action, row.object_type, key)
            )
            for v in _pair(value):
                if isinstance(v, dict):
                    for k, sub in v.items():
                        _related_wanted(_nested_field(k), sub, wanted)
                else:
                    _related_wanted(field, v, wanted)
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
            field = fields.get((row.action, row.object_type, key))
            old, new = _pair(value)
            if old in (None, "") and new in (None, ""):
                continue  # nothing to say: empty before and after
            # ``None`` before means "not recorded" (a record being created, a value set for the first time):
            # show only the new value rather than claim the old one was empty; the same value before and
            # after (the record a change is about) is shown once
            old_text = None if old is None or old == new else _text(old, field, related_names, key)
            out.append(Change(key, _label(field, key), old_text, _text(new, field, related_names, key)))
        row.change_list = out
    return rows
