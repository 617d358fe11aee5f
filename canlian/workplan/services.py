"""Writes of the work plan: import a document as a draft version, review its targets, publish.

Who: district staff (区残联业务科室) import, review and publish; everyone else reads (``workplan.access``).
Every write is atomic and audited (actions registered in ``WorkplanConfig.ready``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from canlian.common.audit import audit_record
from canlian.common.exceptions import NotFound, PermissionDenied, ValidationFailed

from . import access
from .models import Plan, PlanTask, Target
from .plan_files import read_paragraphs
from .plan_text import ParsedPlan, plan_parse

KEEP_ON_REIMPORT = ("link", "indicator", "department")


def _towns() -> dict[str, object]:
    from canlian.registry.models import Region

    return {t.name: t for t in Region.objects.filter(level=Region.Level.TOWN).order_by("code")}


def plan_read(data: bytes | str, *, year: int, filename: str = "") -> tuple[str, ParsedPlan]:
    """Read and parse a plan document without writing anything: (kind, parsed plan)."""
    kind, rows = read_paragraphs(data, filename=filename)
    paragraphs = [
        ("# " + text) if style.startswith(("Heading", "Title", "标题")) else text for text, style in rows
    ]
    return kind, plan_parse(paragraphs, year, list(_towns()), join=kind != "docx")


def _fmt(value) -> str:
    if value is None:
        return "—"
    value = Decimal(value)
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}"


def _plain(text: str) -> str:
    return "".join(text.split())


def _diff(previous: Plan | None, parsed: ParsedPlan) -> dict:
    """What the new document changes against ``previous``: tasks added / removed / reworded, targets added /
    removed / changed (value, deadline, town). Keys are task numbers and target descriptions (Chinese)."""
    if previous is None:
        return {}
    old_tasks = {t.number: t for t in previous.tasks.all()}
    new_tasks = {t.number: t for t in parsed.tasks}
    changes: dict[str, list] = {"tasks_added": [], "tasks_removed": [], "tasks_changed": []}
    for n in sorted(set(new_tasks) - set(old_tasks)):
        changes["tasks_added"].append(f"任务{n}：{new_tasks[n].title}")
    for n in sorted(set(old_tasks) - set(new_tasks)):
        changes["tasks_removed"].append(f"任务{n}：{old_tasks[n].title}")
    for n in sorted(set(old_tasks) & set(new_tasks)):
        if _plain(old_tasks[n].text) != _plain(new_tasks[n].text):  # a line broken elsewhere is no change
            changes["tasks_changed"].append(f"任务{n}：{new_tasks[n].title}")

    def grouped(items):
        out: dict[tuple, list] = {}
        for key, item in items:
            out.setdefault(key, []).append(item)
        return out

    old = grouped(
        ((t.task.number, t.unit, t.town.name if t.town else ""), t)
        for t in previous.targets.select_related("task", "town").order_by("task__number", "order", "pk")
    )
    new = grouped(((t.task, t.unit, t.town or ""), t) for t in parsed.targets)
    added, removed, changed = [], [], []
    for key in sorted(set(old) | set(new), key=lambda k: (k[0], k[1], k[2])):
        olds, news = old.get(key, []), new.get(key, [])
        for i in range(max(len(olds), len(news))):
            o = olds[i] if i < len(olds) else None
            n = news[i] if i < len(news) else None
            where = f"任务{key[0]}" + (f"（{key[2]}）" if key[2] else "")
            if o is None:
                added.append(f"{where}：{n.text}")
            elif n is None:
                removed.append(f"{where}：{o.text}")
            else:
                diffs = []
                if (o.value is None) != (n.value is None) or (
                    o.value is not None and Decimal(o.value) != Decimal(n.value)
                ):
                    diffs.append(f"目标值 {_fmt(o.value)}{o.unit} → {_fmt(n.value)}{n.unit}")
                if o.deadline != n.deadline:
                    diffs.append(f"期限 {o.deadline or '—'} → {n.deadline or '—'}")
                if o.comparator != n.comparator:
                    diffs.append("比较方式改变")
                if diffs:
                    changed.append(f"{where}：" + "，".join(diffs))
    changes.update({"targets_added": added, "targets_removed": removed, "targets_changed": changed})
    return {k: v for k, v in changes.items() if v}


@dataclass
class ImportResult:
    plan: Plan
    parsed: ParsedPlan
    kind: str


def plan_import(*, acting_user, year: int, data: bytes, filename: str) -> ImportResult:
    """Import a plan document as a new draft version of ``year`` (nothing written when it cannot be read).
    Targets that did not change since the previous version keep what staff set on them (indicator, link,
    department)."""
    if not access.can_manage_plans(acting_user):
        raise PermissionDenied("只有区残联业务科室可以导入工作要点")
    if not 2000 <= year <= 2100:
        raise ValidationFailed({"year": f"年度 {year} 不正确"})
    kind, parsed = plan_read(data, year=year, filename=filename)
    if not parsed.tasks:
        raise ValidationFailed({"file": "文件中未找到任何任务：任务应以“（一）”“(二)”或“1、”开头"})
    towns = _towns()
    with transaction.atomic():
        previous = (
            Plan.objects.select_for_update().filter(year=year).order_by("-version").first()
        )  # locks the year's latest version: two imports at once get consecutive versions
        version = (Plan.objects.filter(year=year).aggregate(v=Max("version"))["v"] or 0) + 1
        plan = Plan.objects.create(
            year=year,
            version=version,
            title=parsed.title[:200],
            source_name=(filename or "工作要点")[:200],
            source_kind=kind,
            source_sha256=hashlib.sha256(data).hexdigest(),
            sections=[list(s) for s in parsed.sections],
            warnings=parsed.warnings,
            changes=_diff(previous, parsed),
            created_by=acting_user,
        )
        tasks = PlanTask.objects.bulk_create(
            PlanTask(
                plan=plan,
                number=t.number,
                label=t.label[:16],
                section=t.section,
                section_title=t.section_title[:200],
                title=t.title[:500],
                text=t.text,
            )
            for t in parsed.tasks
        )
        by_number = {t.number: t for t in tasks}
        kept = _kept_settings(previous)
        seen: dict[tuple, int] = {}
        rows = []
        for order, t in enumerate(parsed.targets):
            key = (t.task, t.unit, t.town or "", t.value, t.deadline)
            seen[key] = seen.get(key, 0) + 1
            carried = kept.get((*key, seen[key]), {})
            rows.append(
                Target(
                    plan=plan,
                    task=by_number[t.task],
                    order=order,
                    text=t.text[:500],
                    value=t.value,
                    unit=t.unit,
                    comparator=t.comparator,
                    deadline=t.deadline,
                    town=towns.get(t.town) if t.town else None,
                    warnings=t.warnings,
                    **carried,
                )
            )
        Target.objects.bulk_create(rows)
        audit_record(
            acting_user=acting_user,
            action="workplan.import",
            obj=plan,
            changes={
                "year": year,
                "version": version,
                "source_name": plan.source_name,
                "tasks": len(tasks),
                "targets": len(rows),
                "changed": sum(len(v) for v in plan.changes.values()),
            },
        )
    return ImportResult(plan=plan, parsed=parsed, kind=kind)


def _kept_settings(previous: Plan | None) -> dict[tuple, dict]:
    """What staff set on the previous version's targets, by (task, unit, town, value, deadline, n-th)."""
    if previous is None:
        return {}
    out: dict[tuple, dict] = {}
    seen: dict[tuple, int] = {}
    for t in previous.targets.select_related("task", "town").order_by("task__number", "order", "pk"):
        key = (t.task.number, t.unit, t.town.name if t.town else "", t.value, t.deadline)
        seen[key] = seen.get(key, 0) + 1
        settings = {f: getattr(t, f) for f in KEEP_ON_REIMPORT if getattr(t, f)}
        if settings:
            out[(*key, seen[key])] = settings
    return out


# ---- review --------------------------------------------------------------------------------------------


def _draft_target(acting_user, target_id: int) -> Target:
    if not access.can_manage_plans(acting_user):
        raise PermissionDenied("只有区残联业务科室可以修改工作要点")
    try:
        target = (
            Target.objects.select_for_update(of=("self",))
            .select_related("plan", "task", "town")
            .get(pk=target_id)
        )
    except Target.DoesNotExist:
        raise NotFound("找不到该目标") from None
    if target.plan.status != Plan.Status.DRAFT:
        raise ValidationFailed({"plan": "已发布的工作要点不能修改；请重新导入或复制为新版本"})
    return target


def _clean_fields(data: dict) -> dict:
    """The editable fields of a target from form data (strings), with Chinese errors at their field."""
    from canlian.registry.models import Region

    from .indicators import indicators

    errors: dict[str, str] = {}
    out: dict = {}
    if "text" in data:
        text = (data.get("text") or "").strip()
        if not text:
            errors["text"] = "请填写目标原文"
        out["text"] = text[:500]
    if "value" in data:
        raw = (data.get("value") or "").strip().replace(",", "").replace("，", "")
        if raw == "":
            out["value"] = None
        else:
            try:
                value = Decimal(raw)
                if not value.is_finite() or value < 0 or value >= Decimal("1e10"):
                    raise InvalidOperation
                out["value"] = value.quantize(Decimal("0.01"))
            except InvalidOperation:
                errors["value"] = f"目标值“{raw}”不是有效的数字"
    if "unit" in data:
        unit = (data.get("unit") or "").strip()
        if len(unit) > 8:
            errors["unit"] = "单位过长"
        out["unit"] = unit
    if "comparator" in data:
        if data["comparator"] not in Target.Comparator.values:
            errors["comparator"] = "比较方式不正确"
        out["comparator"] = data["comparator"]
    if "deadline" in data:
        raw = (data.get("deadline") or "").strip()
        if raw:
            try:
                out["deadline"] = date.fromisoformat(raw)
            except ValueError:
                errors["deadline"] = f"期限“{raw}”不是有效日期（例如 2023-10-31）"
        else:
            out["deadline"] = None
    if "town" in data:
        raw = str(data.get("town") or "").strip()
        if raw:
            town = Region.objects.filter(level=Region.Level.TOWN, pk=raw if raw.isdigit() else None).first()
            if town is None:
                errors["town"] = "镇(街道)不正确"
            out["town"] = town
        else:
            out["town"] = None
    if "link" in data:
        if data["link"] not in Target.Link.values:
            errors["link"] = "关联方式不正确"
        out["link"] = data["link"]
    if "indicator" in data:
        code = (data.get("indicator") or "").strip()
        if code and code not in {i.code for i in indicators()}:
            errors["indicator"] = f"指标“{code}”不存在"
        out["indicator"] = code
    if "department" in data:
        out["department"] = (data.get("department") or "").strip()[:64]
    if out.get("indicator") and "link" not in out:
        out["link"] = Target.Link.INDICATOR
    if out.get("link") == Target.Link.INDICATOR and not out.get("indicator", "x"):
        errors["indicator"] = "关联指标时请选择指标"
    if errors:
        raise ValidationFailed(errors)
    return out


def _changes(target: Target, fields: dict) -> dict:
    def show(v):
        if hasattr(v, "name"):
            return v.name
        if isinstance(v, Decimal | date):
            return str(v)
        return v

    return {k: [show(getattr(target, k)), show(v)] for k, v in fields.items() if getattr(target, k) != v}


@transaction.atomic
def target_update(*, acting_user, target_id: int, data: dict) -> Target:
    target = _draft_target(acting_user, target_id)
    fields = _clean_fields(data)
    changes = _changes(target, fields)
    if not changes:
        return target
    for k, v in fields.items():
        setattr(target, k, v)
    if target.origin == Target.Origin.IMPORTED and set(changes) & {
        "text",
        "value",
        "unit",
        "deadline",
        "town",
    }:
        target.origin = Target.Origin.EDITED
    target.save()
    audit_record(acting_user=acting_user, action="workplan.target_update", obj=target, changes=changes)
    return target


@transaction.atomic
def target_add(*, acting_user, plan_id: int, task_number: int, data: dict) -> Target:
    if not access.can_manage_plans(acting_user):
        raise PermissionDenied("只有区残联业务科室可以修改工作要点")
    plan = Plan.objects.select_for_update().filter(pk=plan_id).first()
    if plan is None:
        raise NotFound("找不到该工作要点")
    if plan.status != Plan.Status.DRAFT:
        raise ValidationFailed({"plan": "已发布的工作要点不能修改"})
    task = plan.tasks.filter(number=task_number).first()
    if task is None:
        raise ValidationFailed({"task": f"任务 {task_number} 不存在"})
    fields = _clean_fields({"text": "", **data})
    order = (plan.targets.aggregate(m=Max("order"))["m"] or 0) + 1
    target = Target.objects.create(plan=plan, task=task, order=order, origin=Target.Origin.ADDED, **fields)
    audit_record(
        acting_user=acting_user,
        action="workplan.target_add",
        obj=target,
        changes={k: [None, v] for k, v in _changes(Target(), fields).items()},
    )
    return target


@transaction.atomic
def target_delete(*, acting_user, target_id: int) -> None:
    target = _draft_target(acting_user, target_id)
    audit_record(
        acting_user=acting_user,
        action="workplan.target_delete",
        obj=target,
        changes={
            "text": [target.text, None],
            "value": [str(target.value) if target.value is not None else None, None],
        },
    )
    target.delete()


@transaction.atomic
def target_split(*, acting_user, target_id: int, values: list[str]) -> list[Target]:
    """One target into several of the same task (a sentence that holds two goals): the first keeps the
    target, the others are copies with the given values; the values must be numbers."""
    target = _draft_target(acting_user, target_id)
    parts = [v for v in (x.strip() for x in values) if v]
    if len(parts) < 2:
        raise ValidationFailed({"values": "拆分时请至少填写两个目标值"})
    cleaned = [_clean_fields({"value": v})["value"] for v in parts]
    made = [target]
    old_value = target.value
    target.value = cleaned[0]
    target.origin = Target.Origin.EDITED
    target.save()
    for value in cleaned[1:]:
        copy = Target.objects.get(pk=target.pk)
        copy.pk = None
        copy.value = value
        copy.origin = Target.Origin.ADDED
        copy.save()
        made.append(copy)
    audit_record(
        acting_user=acting_user,
        action="workplan.target_split",
        obj=target,
        changes={"value": [_fmt(old_value), "、".join(_fmt(v) for v in cleaned)], "targets": [1, len(made)]},
    )
    return made


@transaction.atomic
def target_merge(*, acting_user, target_ids: list[int]) -> Target:
    """Several targets of one task into the first: the values are added (same unit only), the texts joined."""
    if len(set(target_ids)) < 2:
        raise ValidationFailed({"targets": "合并时请至少选择两个目标"})
    targets = [_draft_target(acting_user, pk) for pk in sorted(set(target_ids))]
    if len({t.task_id for t in targets}) != 1:
        raise ValidationFailed({"targets": "只能合并同一任务中的目标"})
    if len({t.unit for t in targets}) != 1:
        raise ValidationFailed({"targets": "单位不同的目标不能合并"})
    first, rest = targets[0], targets[1:]
    values = [t.value for t in targets if t.value is not None]
    old = _fmt(first.value)
    first.value = sum(values, Decimal(0)) if values else None
    first.text = "；".join(t.text for t in targets)[:500]
    first.origin = Target.Origin.EDITED
    first.save()
    for t in rest:
        t.delete()
    audit_record(
        acting_user=acting_user,
        action="workplan.target_merge",
        obj=first,
        changes={"value": [old, _fmt(first.value)], "targets": [len(targets), 1]},
    )
    return first


@transaction.atomic
def plan_publish(*, acting_user, plan_id: int) -> Plan:
    """Publish a draft: the year's previously published version is superseded. Refused while a numeric
    target is neither tied to an indicator, a milestone, nor marked qualitative."""
    if not access.can_manage_plans(acting_user):
        raise PermissionDenied("只有区残联业务科室可以发布工作要点")
    plan = Plan.objects.select_for_update().filter(pk=plan_id).first()
    if plan is None:
        raise NotFound("找不到该工作要点")
    if plan.status != Plan.Status.DRAFT:
        raise ValidationFailed({"plan": f"该版本{plan.get_status_display()}，不能再发布"})
    unlinked = plan.targets.filter(link=Target.Link.UNLINKED).select_related("task").order_by("task__number")
    if unlinked.exists():
        first = unlinked.first()
        raise ValidationFailed(
            {
                "link": f"还有 {unlinked.count()} 个目标未关联指标、里程碑或标记为定性任务"
                f"（例如任务{first.task.number}：{first.text[:30]}）"
            }
        )
    before = Plan.objects.select_for_update().filter(year=plan.year, status=Plan.Status.PUBLISHED).first()
    if before is not None:
        before.status = Plan.Status.SUPERSEDED
        before.save(update_fields=["status"])
    plan.status = Plan.Status.PUBLISHED
    plan.published_by = acting_user
    plan.published_at = timezone.now()
    try:
        with transaction.atomic():
            plan.save(update_fields=["status", "published_by", "published_at"])
    except IntegrityError:
        raise ValidationFailed({"plan": "该年度已有已发布的版本，请刷新后重试"}) from None
    audit_record(
        acting_user=acting_user,
        action="workplan.publish",
        obj=plan,
        changes={"status": ["待审核", "已发布"], "superseded_version": before.version if before else None},
    )
    return plan


# ---- town quotas, milestones ---------------------------------------------------------------------------


def _target_for_quotas(acting_user, target_id: int) -> Target:
    if not access.can_manage_plans(acting_user):
        raise PermissionDenied("只有区残联业务科室可以分解目标")
    target = (
        Target.objects.select_for_update(of=("self",))
        .select_related("plan", "task", "town")
        .filter(pk=target_id)
        .first()
    )
    if target is None:
        raise NotFound("找不到该目标")
    if target.plan.status == Plan.Status.SUPERSEDED:
        raise ValidationFailed({"plan": "该版本已被替代，请在当前版本中分解"})
    if target.town_id is not None:
        raise ValidationFailed({"town": f"该目标已是{target.town.name}的目标，无需再分解"})
    if target.value is None or target.unit == "%":
        raise ValidationFailed({"value": "只有数量目标可以分解到各镇(街道)；比例目标各镇同样适用"})
    return target


def _write_quotas(acting_user, target: Target, values: dict, how: str) -> list:
    from .models import TownQuota

    old = {q.town.name: str(q.value) for q in target.quotas.select_related("town")}
    target.quotas.all().delete()
    rows = TownQuota.objects.bulk_create(
        TownQuota(target=target, town=town, value=value) for town, value in values.items() if value
    )
    audit_record(
        acting_user=acting_user,
        action="workplan.quotas",
        obj=target,
        changes={
            "split_by": how,
            "quotas": [old, {town.name: _fmt(value) for town, value in values.items() if value}],
        },
    )
    return rows


@transaction.atomic
def quotas_set(*, acting_user, target_id: int, values: dict) -> list:
    """Split a target across towns by hand: ``{town id: value}``; the values must add up to the target."""
    from canlian.registry.models import Region

    target = _target_for_quotas(acting_user, target_id)
    towns = {t.pk: t for t in Region.objects.filter(level=Region.Level.TOWN)}
    errors: dict[str, str] = {}
    cleaned = {}
    for raw_town, raw in values.items():
        town = towns.get(int(raw_town)) if str(raw_town).isdigit() else None
        if town is None:
            errors[f"town_{raw_town}"] = "镇(街道)不正确"
            continue
        text = str(raw or "").strip()
        if not text:
            continue
        try:
            value = Decimal(text)
            if not value.is_finite() or value < 0:
                raise InvalidOperation
        except InvalidOperation:
            errors[f"town_{town.pk}"] = f"{town.name}的目标值“{text}”不是有效的数字"
            continue
        cleaned[town] = value.quantize(Decimal("0.01"))
    if errors:
        raise ValidationFailed(errors)
    total = sum(cleaned.values(), Decimal(0))
    if total != target.value:
        raise ValidationFailed(
            {
                "total": f"各镇(街道)合计 {_fmt(total)}{target.unit}，与目标值 {_fmt(target.value)}{target.unit} "
                f"不符（相差 {_fmt(target.value - total)}）"
            }
        )
    return _write_quotas(acting_user, target, cleaned, "按镇填写")


def _persons_by_town() -> dict[int, int]:
    from django.db.models import Count

    from canlian.registry.models import Person

    return dict(
        Person.objects.filter(status=Person.Status.ACTIVE)
        .values_list("town")
        .annotate(n=Count("pk"))
        .values_list("town", "n")
    )


def proportional(total: Decimal, base: dict, *, whole: bool) -> dict:
    """``total`` split in proportion to ``base`` ({key: weight}); whole numbers by the largest remainder, so
    the parts always add up to ``total`` exactly."""
    weight = sum(base.values())
    if weight <= 0:
        raise ValidationFailed({"base": "各镇(街道)的基数均为 0，无法按比例分解"})
    step = Decimal(1) if whole else Decimal("0.01")
    raw = {k: total * Decimal(w) / Decimal(weight) for k, w in base.items()}
    floor = {k: (v / step).to_integral_value(rounding="ROUND_FLOOR") * step for k, v in raw.items()}
    left = int(((total - sum(floor.values(), Decimal(0))) / step).to_integral_value())
    order = sorted(base, key=lambda k: (-(raw[k] - floor[k]), -base[k], str(k)))
    for k in order[:left]:
        floor[k] += step
    return floor


@transaction.atomic
def quotas_proportional(*, acting_user, target_id: int) -> list:
    """Split a target across towns in proportion to a base: the indicator's own base when it has one (the
    persons in the target's group per town), else the certified persons living in each town."""
    from canlian.registry.models import Region

    target = _target_for_quotas(acting_user, target_id)
    from .indicators import indicators

    ind = next((i for i in indicators() if i.code == target.indicator), None)
    base_of = getattr(ind, "base", None) if ind else None
    base = base_of(target.plan.year) if base_of else _persons_by_town()
    towns = {t.pk: t for t in Region.objects.filter(level=Region.Level.TOWN)}
    base = {towns[k]: v for k, v in base.items() if k in towns and v > 0}
    whole = target.value == target.value.to_integral()
    parts = proportional(target.value, base, whole=whole)
    how = f"按{'指标口径人数' if base_of else '持证残疾人数'}比例"
    return _write_quotas(acting_user, target, parts, how)


@transaction.atomic
def milestone_complete(*, acting_user, target_id: int, on: date | None) -> Target:
    """Mark a manual milestone done on a day (``None``: not done after all)."""
    if not access.can_manage_plans(acting_user):
        raise PermissionDenied("只有区残联业务科室可以登记里程碑")
    target = (
        Target.objects.select_for_update(of=("self",))
        .select_related("plan", "task")
        .filter(pk=target_id)
        .first()
    )
    if target is None:
        raise NotFound("找不到该目标")
    if target.link != Target.Link.MILESTONE:
        raise ValidationFailed({"link": "只有人工里程碑可以登记完成"})
    if target.plan.status != Plan.Status.PUBLISHED:
        raise ValidationFailed({"plan": "工作要点发布后才能登记完成"})
    if on is not None and on > timezone.localdate():
        raise ValidationFailed({"milestone_done_on": "完成日期不能晚于今天"})
    old = target.milestone_done_on
    target.milestone_done_on = on
    target.save(update_fields=["milestone_done_on"])
    audit_record(
        acting_user=acting_user,
        action="workplan.milestone",
        obj=target,
        changes={"milestone_done_on": [str(old) if old else None, str(on) if on else None]},
    )
    return target
