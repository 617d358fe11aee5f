"""The places that serve (SERVICES.md §6): who sees them, the writes (services offered, registered attendees,
day attendance, build projects with milestones, checklists and evidence, the yearly star rating) and the
counts the work plan reads (``facilities_built``, ``rehab_points``, ``day_care_attendance``).

Scope: district staff and leaders see every place; town staff the places of their town; institution staff
only their own institution (they enter its attendance). Every write is atomic, scoped and audited."""

from __future__ import annotations

import base64
import hashlib
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from canlian.accounts.access import _active, scoped
from canlian.accounts.models import Role
from canlian.casework.checklist import checklist_on, points_cell
from canlian.common.audit import audit_record
from canlian.common.bulk import insert_rows
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.workflow import Move, Workflow

from .models import Institution
from .place_models import (
    ATTENDED,
    PLACE_KINDS,
    Attendance,
    BuildProject,
    ChecklistMark,
    Milestone,
    PlaceEvidence,
    PlaceMember,
    PlaceService,
    PlaceServiceKind,
    StarRating,
    StarRatingLine,
    StarState,
)

DISTRICT, TOWN, INST, LEADER = Role.DISTRICT_STAFF, Role.TOWN_STAFF, Role.INSTITUTION_STAFF, Role.LEADER
READERS = {DISTRICT, TOWN, INST, LEADER}
WORKERS = {DISTRICT, TOWN, INST}  # attendance
PLANNERS = {DISTRICT, TOWN}  # services offered, attendees, build projects
SERVICE_LABELS = dict(PlaceServiceKind.choices)
CHECKLISTS = {"qiangji": "care_home_qiangji", "funeng": "care_home_funeng"}
STAR_CHECKLIST = "care_home_star"
MAX_EVIDENCE = 10 * 1024 * 1024
AT_RISK_DAYS = 30  # a project with milestones still open this close to its deadline is at risk


# ---- access ---------------------------------------------------------------------------------------------


def can_read_places(user) -> bool:
    return _active(user) and user.role in READERS


def can_plan_places(user) -> bool:
    return _active(user) and user.role in PLANNERS


def can_rate(user) -> bool:
    return _active(user) and user.role == DISTRICT


def places_visible(user) -> QuerySet:
    qs = Institution.objects.filter(kind__in=PLACE_KINDS)
    return scoped(qs, user, readers=READERS, town="town_id", institution="pk")


def places_workable(user) -> QuerySet:
    """The places whose attendance the user may enter."""
    qs = Institution.objects.filter(kind__in=PLACE_KINDS)
    return scoped(qs, user, readers=WORKERS, town="town_id", institution="pk")


def places_plannable(user) -> QuerySet:
    qs = Institution.objects.filter(kind__in=PLACE_KINDS)
    return scoped(qs, user, readers=PLANNERS, town="town_id")


def place_get(user, pk) -> Institution:
    try:
        return places_visible(user).select_related("town").get(pk=pk)
    except (Institution.DoesNotExist, ValueError, TypeError):
        raise Http404("未找到该机构，或您无权查看。") from None


def attendance_visible(user) -> QuerySet:
    return scoped(
        Attendance.objects.all(), user, readers=READERS, town="town_id", institution="institution_id"
    )


def projects_visible(user) -> QuerySet:
    qs = BuildProject.objects.all()
    return scoped(qs, user, readers=READERS, town="town_id", institution="institution_id")


def projects_workable(user) -> QuerySet:
    return scoped(BuildProject.objects.all(), user, readers=PLANNERS, town="town_id")


def project_get(user, pk) -> BuildProject:
    try:
        return projects_visible(user).select_related("institution", "town").get(pk=pk)
    except (BuildProject.DoesNotExist, ValueError, TypeError):
        raise Http404("未找到该建设项目，或您无权查看。") from None


def ratings_visible(user) -> QuerySet:
    qs = StarRating.objects.all()
    return scoped(qs, user, readers=READERS, town="institution__town_id", institution="institution_id")


def ratings_manageable(user) -> QuerySet:
    return StarRating.objects.all() if can_rate(user) else StarRating.objects.none()


def rating_get(user, pk) -> StarRating:
    try:
        return ratings_visible(user).select_related("institution", "institution__town").get(pk=pk)
    except (StarRating.DoesNotExist, ValueError, TypeError):
        raise Http404("未找到该星级评定，或您无权查看。") from None


def _locked(qs: QuerySet, pk, message: str):
    try:
        return qs.select_for_update().get(pk=pk)
    except qs.model.DoesNotExist:
        raise PermissionDenied(message) from None


def _not_future(day: date | None, label: str, key: str) -> None:
    if day is None:
        raise ValidationFailed({key: f"请填写{label}"})
    if day > timezone.localdate():
        raise ValidationFailed({key: f"{label}不能晚于今天"})


# ---- services offered and who comes --------------------------------------------------------------------


@transaction.atomic
def place_service_add(*, acting_user, institution: Institution, service: str, since: date) -> PlaceService:
    inst = _locked(places_plannable(acting_user), institution.pk, "未找到该机构，或您无权设置服务项目")
    if service not in SERVICE_LABELS:
        raise ValidationFailed({"service": "服务项目不正确"})
    if since is None:
        raise ValidationFailed({"since": "请填写开展起始日期"})
    if PlaceService.objects.filter(institution=inst, service=service).exists():
        raise ValidationFailed({"service": f"{inst.name}已开展“{SERVICE_LABELS[service]}”"})
    ps = PlaceService.objects.create(institution=inst, service=service, since=since, created_by=acting_user)
    audit_record(
        acting_user=acting_user,
        action="place.service_add",
        obj=inst,
        changes={"service": [None, service], "since": [None, since.isoformat()]},
        detail=f"开展服务项目：{SERVICE_LABELS[service]}（{since:%Y-%m-%d} 起）",
    )
    return ps


def _active_members(institution, service: str, day: date) -> QuerySet:
    return PlaceMember.objects.filter(institution=institution, service=service, joined_on__lte=day).filter(
        Q(left_on__isnull=True) | Q(left_on__gte=day)
    )


@transaction.atomic
def member_add(
    *, acting_user, institution: Institution, person, service: str, joined_on: date
) -> PlaceMember:
    """Register ``person`` as an attendee of ``service`` at ``institution`` from ``joined_on``."""
    from canlian.accounts import access as core

    inst = _locked(places_plannable(acting_user), institution.pk, "未找到该机构，或您无权登记服务对象")
    if not core.persons_visible(acting_user).filter(pk=person.pk).exists():
        raise PermissionDenied("该残疾人不在您的管辖范围内")
    if service not in SERVICE_LABELS:
        raise ValidationFailed({"service": "服务项目不正确"})
    if not PlaceService.objects.filter(institution=inst, service=service).exists():
        raise ValidationFailed(
            {"service": f"{inst.name}尚未开展“{SERVICE_LABELS[service]}”，请先添加服务项目"}
        )
    _not_future(joined_on, "加入日期", "joined_on")
    if (
        _active_members(inst, service, joined_on).filter(person=person).exists()
        or PlaceMember.objects.filter(
            institution=inst, person=person, service=service, left_on__isnull=True
        ).exists()
    ):
        raise ValidationFailed(
            {"id_number": f"{person.name}已是{inst.name}{SERVICE_LABELS[service]}的服务对象"}
        )
    m = PlaceMember.objects.create(
        institution=inst, person=person, service=service, joined_on=joined_on, created_by=acting_user
    )
    audit_record(
        acting_user=acting_user,
        action="place.member_add",
        obj=person,
        changes={
            "institution": [None, inst.name],
            "service": [None, service],
            "joined_on": [None, joined_on.isoformat()],
        },
        detail=f"登记为{inst.name}{SERVICE_LABELS[service]}服务对象",
    )
    return m


@transaction.atomic
def member_leave(*, acting_user, member: PlaceMember, left_on: date) -> PlaceMember:
    scope = PlaceMember.objects.filter(institution__in=places_plannable(acting_user))
    m = _locked(scope, member.pk, "未找到该服务对象，或您无权办理")
    if m.left_on is not None:
        raise DomainError(f"{m.person.name}已于 {m.left_on:%Y-%m-%d} 离开，请刷新后查看")
    _not_future(left_on, "离开日期", "left_on")
    if left_on < m.joined_on:
        raise ValidationFailed({"left_on": "离开日期不能早于加入日期"})
    later = Attendance.objects.filter(
        institution_id=m.institution_id, service=m.service, person_id=m.person_id, on__gt=left_on
    )
    if later.exists():
        raise ValidationFailed(
            {"left_on": f"{left_on:%Y-%m-%d} 之后仍有出勤记录，离开日期不能早于最后出勤日"}
        )
    m.left_on = left_on
    m.save(update_fields=["left_on"])
    audit_record(
        acting_user=acting_user,
        action="place.member_leave",
        obj=m.person,
        changes={
            "institution": [m.institution.name, m.institution.name],
            "left_on": [None, left_on.isoformat()],
        },
        detail=f"离开{m.institution.name}{m.get_service_display()}",
    )
    return m


def roll_call(institution, service: str, day: date) -> list[dict]:
    """The roll-call grid of a place for one service and day: every attendee registered on that day, and
    whether they were present."""
    present = set(
        Attendance.objects.filter(institution=institution, service=service, on=day).values_list(
            "person_id", flat=True
        )
    )
    members = _active_members(institution, service, day).select_related("person").order_by("joined_on", "id")
    return [{"member": m, "person": m.person, "present": m.person_id in present} for m in members]


def roll_call_seen(institution, service: str, day: date) -> str:
    """A fingerprint of the day's attendance as a page showed it: a save is refused when it changed since."""
    ids = sorted(
        Attendance.objects.filter(institution=institution, service=service, on=day).values_list(
            "id", flat=True
        )
    )
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]


@transaction.atomic
def attendance_record(
    *, acting_user, institution: Institution, service: str, on: date, present: set, seen: str | None = None
) -> dict:
    """Save the roll call of ``institution`` for ``service`` on ``on``: exactly the registered attendees in
    ``present`` (person ids) are present. ``seen``: the fingerprint the page showed (a second submit of the
    same page, or someone else's save in between, is refused with a message)."""
    inst = _locked(places_workable(acting_user), institution.pk, "未找到该机构，或您无权录入出勤")
    if service not in ATTENDED:
        raise ValidationFailed({"service": "只有日间照料和辅助性就业按日记录出勤"})
    if not PlaceService.objects.filter(institution=inst, service=service).exists():
        raise ValidationFailed({"service": f"{inst.name}未开展“{SERVICE_LABELS[service]}”"})
    _not_future(on, "出勤日期", "on")
    if seen is not None and seen != roll_call_seen(inst, service, on):
        raise DomainError(f"{on:%Y-%m-%d} 的出勤已被保存或修改过（可能是重复提交），请刷新后核对")
    registered = set(_active_members(inst, service, on).values_list("person_id", flat=True))
    present = {int(p) for p in present}
    strangers = present - registered
    if strangers:
        raise ValidationFailed({"present": f"有 {len(strangers)} 人不是该日登记的服务对象，请刷新后重试"})
    existing = dict(
        Attendance.objects.filter(institution=inst, service=service, on=on).values_list("person_id", "id")
    )
    added = present - set(existing)
    removed = set(existing) - present
    Attendance.objects.bulk_create(
        [
            Attendance(
                institution=inst,
                town_id=inst.town_id,
                person_id=p,
                service=service,
                on=on,
                recorded_by=acting_user,
            )
            for p in sorted(added)
        ]
    )
    if removed:
        Attendance.objects.filter(pk__in=[existing[p] for p in removed]).delete()
    if added or removed:
        audit_record(
            acting_user=acting_user,
            action="place.attendance",
            obj=inst,
            changes={
                "on": [None, on.isoformat()],
                "service": [None, service],
                "present": [len(existing), len(present)],
            },
            detail=f"{SERVICE_LABELS[service]}出勤 {on:%Y-%m-%d}：新增 {len(added)} 人，取消 {len(removed)} 人，"
            f"共 {len(present)} 人",
        )
    return {"added": len(added), "removed": len(removed), "present": len(present)}


@transaction.atomic
def attendance_import_rows(*, acting_user, rows: list[dict]) -> int:
    """Write imported attendance (``{institution, person, service, on}``, already validated by the roster):
    attendees not yet registered are registered from their first day in the file; one audit row per place."""
    places = {
        p.pk: p for p in places_workable(acting_user).filter(pk__in={r["institution"].pk for r in rows})
    }
    if len(places) != len({r["institution"].pk for r in rows}):
        raise PermissionDenied("名单中有您无权录入出勤的机构")
    first: dict = {}
    for r in rows:
        key = (r["institution"].pk, r["person"].pk, r["service"])
        first[key] = min(first.get(key, r["on"]), r["on"])
    members = set(
        PlaceMember.objects.filter(
            institution_id__in=places, person_id__in={k[1] for k in first}, left_on__isnull=True
        ).values_list("institution_id", "person_id", "service")
    )
    new_members = [
        PlaceMember(institution_id=i, person_id=p, service=s, joined_on=day, created_by=acting_user)
        for (i, p, s), day in sorted(first.items())
        if (i, p, s) not in members
    ]
    PlaceMember.objects.bulk_create(new_members)
    insert_rows(  # set-based (COPY on PostgreSQL): a year of a district's attendance is ~100,000 rows
        Attendance,
        (
            {
                "institution_id": r["institution"].pk,
                "town_id": places[r["institution"].pk].town_id,
                "person_id": r["person"].pk,
                "service": r["service"],
                "on": r["on"],
                "source": Attendance.Source.IMPORT,
                "recorded_by_id": acting_user.pk,
            }
            for r in rows
        ),
        now=timezone.now(),
    )
    for pk, inst in places.items():
        mine = [r for r in rows if r["institution"].pk == pk]
        audit_record(
            acting_user=acting_user,
            action="place.attendance_import",
            obj=inst,
            changes={
                "rows": [None, len(mine)],
                "members": [None, sum(1 for m in new_members if m.institution_id == pk)],
            },
            detail=f"导入出勤 {len(mine)} 条（{min(r['on'] for r in mine):%Y-%m-%d}～"
            f"{max(r['on'] for r in mine):%Y-%m-%d}）",
        )
    return len(rows)


# ---- build projects ------------------------------------------------------------------------------------


STATUS_LABELS = {
    "built_on_time": "按期建成",
    "built_late": "逾期建成",
    "late": "已逾期",
    "at_risk": "有风险",
    "on_time": "按期推进",
}
STATUS_BADGES = {
    "built_on_time": "success",
    "built_late": "warning",
    "late": "danger",
    "at_risk": "warning",
    "on_time": "primary",
}


def project_status(project: BuildProject, today: date, milestones=None) -> str:
    """Against the deadline: built on or before it, built after it; not built: past it (late), a milestone
    overdue or the deadline within ``AT_RISK_DAYS`` with milestones open (at risk), else on time."""
    if project.completed_on:
        return "built_on_time" if project.completed_on <= project.deadline else "built_late"
    if today > project.deadline:
        return "late"
    milestones = list(project.milestones.all()) if milestones is None else milestones
    open_ = [m for m in milestones if m.done_on is None]
    if any(m.due_on < today for m in open_) or (open_ and (project.deadline - today).days <= AT_RISK_DAYS):
        return "at_risk"
    return "on_time"


def project_status_filter(status: str, today: date) -> Q | None:
    """The same rule as ``project_status`` as a query, for the list's filter."""
    overdue = Q(milestones__done_on__isnull=True, milestones__due_on__lt=today)
    near = Q(milestones__done_on__isnull=True, deadline__lte=today + timedelta(days=AT_RISK_DAYS))
    return {
        "built_on_time": Q(completed_on__isnull=False, completed_on__lte=F("deadline")),
        "built_late": Q(completed_on__isnull=False, completed_on__gt=F("deadline")),
        "late": Q(completed_on__isnull=True, deadline__lt=today),
        "at_risk": Q(completed_on__isnull=True, deadline__gte=today) & (overdue | near),
        "on_time": Q(completed_on__isnull=True, deadline__gte=today) & ~Q(pk__in=_risky(today)),
    }.get(status)


def _risky(today: date):
    return (
        Milestone.objects.filter(done_on__isnull=True)
        .filter(Q(due_on__lt=today) | Q(project__deadline__lte=today + timedelta(days=AT_RISK_DAYS)))
        .values("project_id")
    )


@transaction.atomic
def project_create(
    *,
    acting_user,
    institution: Institution,
    name: str,
    started_on: date,
    deadline: date,
    milestones: list[tuple[str, date]],
    note: str = "",
) -> BuildProject:
    """A new build with its milestones (name, planned date) and the 强基 and 赋能 checklists in force on the
    start date, every item not yet met."""
    inst = _locked(places_plannable(acting_user), institution.pk, "未找到该机构，或您无权登记建设项目")
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "请填写项目名称"
    if started_on is None:
        errors["started_on"] = "请填写开工日期"
    if deadline is None:
        errors["deadline"] = "请填写建成期限"
    if started_on and deadline and deadline < started_on:
        errors["deadline"] = "建成期限不能早于开工日期"
    if not milestones:
        errors["milestones"] = "请至少填写一个建设节点"
    for i, (m_name, due) in enumerate(milestones, start=1):
        if not (m_name or "").strip():
            errors["milestones"] = f"第{i}个节点：请填写节点名称"
        elif due is None:
            errors["milestones"] = f"第{i}个节点：请填写计划完成日期"
        elif started_on and deadline and not (started_on <= due <= deadline):
            errors["milestones"] = f"第{i}个节点“{m_name}”：计划完成日期应在开工日期与建成期限之间"
    if BuildProject.objects.filter(institution=inst, completed_on__isnull=True).exists():
        errors["institution"] = f"{inst.name}已有在建项目"
    if errors:
        raise ValidationFailed(errors)
    project = BuildProject.objects.create(
        institution=inst,
        town_id=inst.town_id,
        name=name[:100],
        started_on=started_on,
        deadline=deadline,
        note=(note or "").strip()[:200],
        created_by=acting_user,
    )
    Milestone.objects.bulk_create(
        [
            Milestone(project=project, seq=i, name=m_name.strip()[:100], due_on=due)
            for i, (m_name, due) in enumerate(sorted(milestones, key=lambda m: m[1]), start=1)
        ]
    )
    marks = []
    for key, file in CHECKLISTS.items():
        checklist = checklist_on(file, started_on, what="建设清单")
        marks += [
            ChecklistMark(
                project=project,
                checklist=key,
                checklist_version=checklist.version,
                code=item["code"],
                text=item["text"],
                points=Decimal(str(item["points"])),
            )
            for item in checklist.items
        ]
    ChecklistMark.objects.bulk_create(marks)
    audit_record(
        acting_user=acting_user,
        action="place.project_create",
        obj=project,
        changes={
            "name": [None, project.name],
            "institution": [None, inst.name],
            "started_on": [None, started_on.isoformat()],
            "deadline": [None, deadline.isoformat()],
            "milestones": [None, len(milestones)],
        },
    )
    return project


def _project_locked(acting_user, project) -> BuildProject:
    return _locked(projects_workable(acting_user), project.pk, "未找到该建设项目，或您无权办理")


@transaction.atomic
def milestone_done(*, acting_user, milestone: Milestone, done_on: date, note: str = "") -> Milestone:
    project = _project_locked(acting_user, milestone.project)
    m = Milestone.objects.select_for_update().get(pk=milestone.pk, project=project)
    if m.done_on is not None:
        raise DomainError(f"节点“{m.name}”已于 {m.done_on:%Y-%m-%d} 完成（可能是重复提交）")
    _not_future(done_on, "实际完成日期", "done_on")
    if done_on < project.started_on:
        raise ValidationFailed({"done_on": "实际完成日期不能早于开工日期"})
    m.done_on, m.note = done_on, (note or "").strip()[:200]
    m.save(update_fields=["done_on", "note"])
    late = done_on > m.due_on
    audit_record(
        acting_user=acting_user,
        action="place.milestone_done",
        obj=project,
        changes={"milestone": [None, m.name], "done_on": [None, done_on.isoformat()]},
        detail=f"节点“{m.name}”完成（计划 {m.due_on:%Y-%m-%d}{'，逾期' if late else ''}）",
    )
    return m


@transaction.atomic
def checklist_mark(
    *, acting_user, project: BuildProject, checklist: str, code: str, met_on: date, note: str = ""
) -> ChecklistMark:
    """Mark one item of the 强基 or 赋能 checklist met on ``met_on``."""
    project = _project_locked(acting_user, project)
    try:
        mark = ChecklistMark.objects.select_for_update().get(project=project, checklist=checklist, code=code)
    except ChecklistMark.DoesNotExist:
        raise ValidationFailed({"code": f"清单中没有编号“{code}”"}) from None
    if mark.met:
        raise DomainError(f"{mark.code} 已于 {mark.met_on:%Y-%m-%d} 达标（可能是重复提交）")
    _not_future(met_on, "达标日期", "met_on")
    mark.met, mark.met_on, mark.note = True, met_on, (note or "").strip()[:200]
    mark.save(update_fields=["met", "met_on", "note"])
    audit_record(
        acting_user=acting_user,
        action="place.checklist_mark",
        obj=project,
        changes={
            "checklist": [None, checklist],
            "code": [None, code],
            "met_on": [None, met_on.isoformat()],
        },
        detail=f"{mark.get_checklist_display()}清单 {mark.code} {mark.text}：达标",
    )
    return mark


@transaction.atomic
def project_complete(*, acting_user, project: BuildProject, completed_on: date) -> BuildProject:
    """Built: every milestone done and every item of both checklists met, on or after the last of them."""
    project = _project_locked(acting_user, project)
    if project.completed_on:
        raise DomainError(f"该项目已于 {project.completed_on:%Y-%m-%d} 建成（可能是重复提交）")
    _not_future(completed_on, "建成日期", "completed_on")
    open_ms = list(project.milestones.filter(done_on__isnull=True).values_list("name", flat=True))
    open_items = list(project.marks.filter(met=False).values_list("code", flat=True))
    errors = {}
    if open_ms:
        errors["milestones"] = f"以下节点尚未完成：{'、'.join(open_ms)}"
    if open_items:
        errors["marks"] = f"强基、赋能清单以下项目尚未达标：{'、'.join(open_items)}"
    last = max(
        project.milestones.filter(done_on__isnull=False).values_list("done_on", flat=True),
        default=project.started_on,
    )
    if not errors and completed_on < last:
        errors["completed_on"] = f"建成日期不能早于最后一个节点的完成日期（{last:%Y-%m-%d}）"
    if errors:
        raise ValidationFailed(errors)
    project.completed_on = completed_on
    project.version += 1
    project.save(update_fields=["completed_on", "version", "updated_at"])
    on_time = completed_on <= project.deadline
    audit_record(
        acting_user=acting_user,
        action="place.project_complete",
        obj=project,
        changes={"completed_on": [None, completed_on.isoformat()]},
        detail=f"建成（期限 {project.deadline:%Y-%m-%d}，{'按期' if on_time else '逾期'}）",
    )
    return project


# ---- evidence (encrypted) ------------------------------------------------------------------------------


def evidence_visible(user) -> QuerySet:
    return PlaceEvidence.objects.filter(
        Q(project__in=projects_visible(user)) | Q(rating__in=ratings_visible(user))
    )


@transaction.atomic
def evidence_add(
    *,
    acting_user,
    project=None,
    rating=None,
    about: str = "",
    name: str,
    content: bytes,
    content_type: str = "",
) -> PlaceEvidence:
    if project is not None:
        owner = _project_locked(acting_user, project)
    else:
        owner = _locked(ratings_manageable(acting_user), rating.pk, "未找到该星级评定，或您无权上传佐证材料")
        if owner.state == StarState.RATED:
            raise DomainError("已评定的星级评定不能再添加佐证材料")
    if not content:
        raise ValidationFailed({"file": "文件为空"})
    if len(content) > MAX_EVIDENCE:
        raise ValidationFailed({"file": "文件不能超过 10 MB"})
    name = (name or "佐证材料").replace("/", "_").replace("\\", "_")[:200]
    ev = PlaceEvidence.objects.create(
        project=owner if project is not None else None,
        rating=owner if rating is not None else None,
        about=(about or "").strip()[:100],
        name=name,
        content_type=content_type[:100],
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=base64.b64encode(content).decode("ascii"),
        uploaded_by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action="place.evidence_add",
        obj=owner,
        changes={"name": [None, name], "size": [None, len(content)], "about": [None, ev.about]},
    )
    return ev


def evidence_read(*, acting_user, pk) -> tuple[PlaceEvidence, bytes]:
    """Decrypt one file of evidence for download; the read is audited."""
    try:
        ev = evidence_visible(acting_user).select_related("project", "rating").get(pk=pk)
    except (PlaceEvidence.DoesNotExist, ValueError, TypeError):
        raise PermissionDenied("未找到该佐证材料，或您无权查看") from None
    data = base64.b64decode(ev.content)
    if hashlib.sha256(data).hexdigest() != ev.sha256:
        raise DomainError("文件内容校验失败，请联系管理员")
    audit_record(
        acting_user=acting_user,
        action="place.evidence_download",
        obj=ev.project or ev.rating,
        changes={"name": [ev.name, ev.name]},
    )
    return ev, data


# ---- star rating ---------------------------------------------------------------------------------------


def star_checklist(year: int):
    return checklist_on(STAR_CHECKLIST, date(year, 1, 1), what="星级评定标准")


def _rating_scope(user):
    return ratings_manageable(user)


def _rate_effect(rating, *, acting_user, data, history):
    rating.rated_on = timezone.localdate()
    rating.save(update_fields=["rated_on"])
    return {"rated_on": [None, rating.rated_on.isoformat()], "stars": [None, rating.stars]}


STAR_WORKFLOW = Workflow(
    code="star_rating",
    name="星级评定",
    states=dict(StarState.choices),
    initial=StarState.DRAFT,
    scope=_rating_scope,
    field_labels={"state_reason": "退回原因"},
    moves=(
        Move("submit", "提交审定", (StarState.DRAFT,), StarState.SUBMITTED, {DISTRICT}),
        Move(
            "return",
            "退回重评",
            (StarState.SUBMITTED,),
            StarState.DRAFT,
            {DISTRICT},
            checker_of=("submit",),
            requires=("state_reason",),
            records=("state_reason",),
        ),
        Move(
            "rate",
            "审定星级",
            (StarState.SUBMITTED,),
            StarState.RATED,
            {DISTRICT},
            checker_of=("submit",),
            effect=_rate_effect,
        ),
    ),
)


def _score_lines(checklist, scores: dict) -> list[StarRatingLine]:
    missing = [i["code"] for i in checklist.items if str(scores.get(i["code"], "")).strip() == ""]
    if missing:
        raise ValidationFailed(
            {"scores": f"星级评定标准（{checklist.version}版）以下项目未评分：{'、'.join(missing)}"}
        )
    lines, errors = [], {}
    for item in checklist.items:
        maximum = Decimal(str(item["points"]))
        try:
            pts = points_cell(scores[item["code"]], f"{item['code']} {item['text']}", maximum)
        except ValidationFailed as exc:
            errors.update(exc.errors)
            continue
        lines.append(
            StarRatingLine(
                code=item["code"],
                section=item.get("section", ""),
                text=item["text"],
                max_points=maximum,
                points=pts,
            )
        )
    if errors:
        raise ValidationFailed(errors)
    return lines


@transaction.atomic
def star_rating_record(
    *, acting_user, institution: Institution, year: int, scores: dict, note: str = ""
) -> StarRating:
    """The district's scores for a place's star rating of ``year`` (a draft until submitted and rated by
    another officer); a returned draft is scored again with ``star_rating_rescore``."""
    if not can_rate(acting_user):
        raise PermissionDenied("星级评定由区残联录入")
    inst = _locked(places_visible(acting_user).filter(kind="care_home"), institution.pk, "未找到该残疾人之家")
    today = timezone.localdate()
    if not (2000 <= int(year) <= today.year):
        raise ValidationFailed({"year": f"评定年度应在 2000～{today.year} 之间"})
    if StarRating.objects.filter(institution=inst, year=year).exists():
        raise ValidationFailed({"year": f"{inst.name}已有 {year} 年度的星级评定"})
    checklist = star_checklist(year)
    lines = _score_lines(checklist, scores)
    score = sum((ln.points for ln in lines), Decimal("0"))
    band = checklist.rating_for(score)
    rating = StarRating.objects.create(
        institution=inst,
        year=year,
        checklist_version=checklist.version,
        score=score,
        stars=band["rating"] if band else 0,
        note=(note or "").strip()[:200],
        created_by=acting_user,
    )
    for ln in lines:
        ln.rating = rating
    StarRatingLine.objects.bulk_create(lines)
    audit_record(
        acting_user=acting_user,
        action="place.star_score",
        obj=rating,
        changes={
            "year": [None, year],
            "checklist_version": [None, checklist.version],
            "score": [None, str(score)],
            "stars": [None, rating.stars],
        },
        detail=f"{inst.name} {year} 年度星级评分：{score} 分（{rating.stars_label}）",
    )
    return rating


@transaction.atomic
def star_rating_rescore(
    *, acting_user, rating: StarRating, scores: dict, expected_version: int
) -> StarRating:
    rating = _locked(ratings_manageable(acting_user), rating.pk, "未找到该星级评定，或您无权办理")
    if rating.version != expected_version:
        raise DomainError("该评定已被修改，请刷新后重试")
    if rating.state != StarState.DRAFT:
        raise DomainError(f"当前状态为“{rating.get_state_display()}”，不能修改评分")
    checklist = star_checklist(rating.year)
    lines = _score_lines(checklist, scores)
    old_score, old_stars = rating.score, rating.stars
    rating.lines.all().delete()
    for ln in lines:
        ln.rating = rating
    StarRatingLine.objects.bulk_create(lines)
    rating.score = sum((ln.points for ln in lines), Decimal("0"))
    band = checklist.rating_for(rating.score)
    rating.stars = band["rating"] if band else 0
    rating.checklist_version = checklist.version
    rating.version += 1
    rating.save(update_fields=["score", "stars", "checklist_version", "version", "updated_at"])
    audit_record(
        acting_user=acting_user,
        action="place.star_score",
        obj=rating,
        changes={"score": [str(old_score), str(rating.score)], "stars": [old_stars, rating.stars]},
        detail=f"重新评分：{rating.score} 分（{rating.stars_label}）",
    )
    return rating


# ---- counts for the work plan --------------------------------------------------------------------------


def _by_town(qs, town: str = "town_id") -> dict[int, int]:
    return {row[town]: row["n"] for row in qs.values(town).annotate(n=Count("id")).order_by()}


def facilities_built_by_town(year: int) -> dict[int, int]:
    """Build projects completed in ``year``, by the project's town."""
    return _by_town(
        BuildProject.objects.filter(completed_on__gte=date(year, 1, 1), completed_on__lte=date(year, 12, 31))
    )


def facilities_built_on_time_by_town(year: int) -> dict[int, int]:
    """Of ``facilities_built_by_town``, those built on or before their deadline."""
    return _by_town(
        BuildProject.objects.filter(
            completed_on__gte=date(year, 1, 1), completed_on__lte=date(year, 12, 31)
        ).filter(completed_on__lte=F("deadline"))
    )


def facilities_deadline_missed_by_town(year: int, *, today: date | None = None) -> dict[int, int]:
    """Build projects whose deadline fell in ``year`` and passed without them built by it: built after it,
    or not built and the deadline before today."""
    today = today or timezone.localdate()
    due = BuildProject.objects.filter(deadline__gte=date(year, 1, 1), deadline__lte=date(year, 12, 31))
    return _by_town(
        due.filter(Q(completed_on__gt=F("deadline")) | Q(completed_on__isnull=True, deadline__lt=today))
    )


def rehab_points_by_town(year: int) -> dict[int, int]:
    """Community rehab points designated and in service at the end of ``year`` (designation started on or
    before 31 December and not ended before it), by the point's town."""
    end = date(year, 12, 31)
    qs = Institution.objects.filter(kind="rehab_point", designated_from__lte=end).filter(
        Q(designated_to__isnull=True, state__in=["designated", "suspended"])
        | Q(designated_to__gte=end, state__in=["designated", "suspended", "revoked"])
    )
    return _by_town(qs)


def day_care_attendance_by_town(year: int) -> dict[int, int]:
    """Person-days of 日间照料 attendance in ``year`` (one per person and day at a place), by the place's town."""
    return _by_town(
        Attendance.objects.filter(
            service=PlaceServiceKind.DAY_CARE, on__gte=date(year, 1, 1), on__lte=date(year, 12, 31)
        )
    )


# ---- the person's timeline -------------------------------------------------------------------------------


def timeline_entries(user, person) -> list:
    """A person's registrations as an attendee (with their attendance days), for the places the user sees."""
    from django.urls import reverse

    from canlian.registry.timeline import TimelineEntry

    if not can_read_places(user):
        return []
    members = (
        PlaceMember.objects.filter(person=person, institution__in=places_visible(user))
        .select_related("institution")
        .order_by("joined_on", "id")
    )
    days = {
        (i, svc): n
        for i, svc, n in Attendance.objects.filter(person=person, institution__in=places_visible(user))
        .values("institution_id", "service")
        .annotate(n=Count("id"))
        .values_list("institution_id", "service", "n")
        .order_by()
    }
    out = []
    for m in members:
        span = f"{m.joined_on:%Y-%m-%d}～{m.left_on:%Y-%m-%d}" if m.left_on else f"{m.joined_on:%Y-%m-%d} 起"
        out.append(
            TimelineEntry(
                m.joined_on,
                "服务",
                f"{m.institution.name}·{m.get_service_display()}（{span}）",
                "已离开" if m.left_on else "在册",
                reverse("institutions:place_detail", args=[m.institution_id]),
                detail=f"出勤 {days.get((m.institution_id, m.service), 0)} 天"
                if m.service in ATTENDED
                else "",
            )
        )
    return out
