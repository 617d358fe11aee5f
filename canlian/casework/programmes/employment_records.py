"""Employment's plain dated records (issue 11 §1) and their services: job fairs, training classes (enrolment,
sessions with attendance, certificates; blind-massage and intangible-heritage training are classes of their
kind), auxiliary-employment projects with their persons, blind-massage practitioners.

These have no stages to move through and no maker ≠ checker: an event happened, a class ran, a person
attended. So they are small models with services (atomic, scoped, audited in Chinese), not cases on the
engine. ``trainees_by_town`` and ``job_fairs_by_town`` are the indicators.
"""

from __future__ import annotations

from datetime import date

from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone

from canlian.common.audit import audit_record
from canlian.common.audit_display import ActionSpec, register_actions
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed

from .. import employment_access as ea
from ..models import (
    AuxProject,
    AuxProjectMember,
    JobFair,
    JobFairKind,
    MassagePractitioner,
    TrainingAttendance,
    TrainingClass,
    TrainingEnrolment,
    TrainingKind,
    TrainingSession,
)

register_actions(
    {
        "employment.job_fair": ActionSpec("登记招聘活动", "casework.JobFair"),
        "employment.training_class": ActionSpec("登记培训班", "casework.TrainingClass"),
        "employment.training_enrol": ActionSpec("登记培训学员", "casework.TrainingEnrolment"),
        "employment.training_session": ActionSpec("登记培训课次与出勤", "casework.TrainingSession"),
        "employment.training_certify": ActionSpec("登记培训证书", "casework.TrainingEnrolment"),
        "employment.aux_project": ActionSpec("登记辅助性就业项目", "casework.AuxProject"),
        "employment.aux_member": ActionSpec("登记辅助性就业项目人员", "casework.AuxProjectMember"),
        "employment.practitioner": ActionSpec("登记盲人按摩从业人员", "casework.MassagePractitioner"),
    }
)


def _text(value, limit: int) -> str:
    return " ".join(str(value or "").split())[:limit]


def _town_ok(acting_user, town) -> None:
    from canlian.accounts import access as core

    if not ea.can_write(acting_user):
        raise PermissionDenied("您无权登记就业服务")
    if town is None or not core.towns_visible(acting_user).filter(pk=town.pk).exists():
        raise ValidationFailed({"town": "请选择您管辖范围内的镇(街道)"})


def _not_future(errors: dict, key: str, day, label: str) -> None:
    if day is not None and day > timezone.localdate():
        errors[key] = f"{label}不能晚于今天"


def _person_ok(acting_user, person) -> None:
    from canlian.accounts import access as core

    if not core.persons_editable(acting_user).filter(pk=person.pk).exists():
        raise PermissionDenied("未找到该残疾人，或您无权为其登记")


def _iso(day):
    return day.isoformat() if day else None


# ---- job fairs ---------------------------------------------------------------------------------------------


@transaction.atomic
def job_fair_create(
    *,
    acting_user,
    kind: str,
    title: str,
    held_on: date,
    town,
    place: str,
    employers: int,
    positions: int,
    attendees: int,
    offers: int,
    note: str = "",
) -> JobFair:
    _town_ok(acting_user, town)
    errors = {}
    if kind not in JobFairKind.values:
        errors["kind"] = "请选择活动类型"
    title, place = _text(title, 100), _text(place, 100)
    if not title:
        errors["title"] = "请填写活动名称"
    if not place:
        errors["place"] = "请填写举办地点"
    if held_on is None:
        errors["held_on"] = "请填写举办日期"
    _not_future(errors, "held_on", held_on, "举办日期")
    for key, value in (
        ("employers", employers),
        ("positions", positions),
        ("attendees", attendees),
        ("offers", offers),
    ):
        if value is None or value < 0:
            errors[key] = "请填写不小于 0 的整数"
    if "offers" not in errors and "attendees" not in errors and offers > attendees:
        errors["offers"] = "达成就业意向人数不能多于参会残疾人数"
    if not errors and JobFair.objects.filter(title=title, held_on=held_on, town=town).exists():
        errors["title"] = f"{held_on:%Y-%m-%d} 已登记同名活动"
    if errors:
        raise ValidationFailed(errors)
    fair = JobFair.objects.create(
        kind=kind,
        title=title,
        held_on=held_on,
        town=town,
        place=place,
        employers=employers,
        positions=positions,
        attendees=attendees,
        offers=offers,
        note=_text(note, 200),
        created_by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action="employment.job_fair",
        obj=fair,
        changes={
            "kind": [None, kind],
            "held_on": [None, held_on.isoformat()],
            "town": [None, town.name],
            "place": [None, place],
            "employers": [None, employers],
            "attendees": [None, attendees],
            "offers": [None, offers],
        },
    )
    return fair


def job_fairs_by_town(year: int) -> dict[int, int]:
    rows = (
        JobFair.objects.filter(held_on__gte=date(year, 1, 1), held_on__lte=date(year, 12, 31))
        .values("town_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {r["town_id"]: r["n"] for r in rows}


# ---- training -----------------------------------------------------------------------------------------------


@transaction.atomic
def training_class_create(
    *,
    acting_user,
    kind: str,
    name: str,
    town,
    starts_on: date,
    ends_on: date,
    subject: str = "",
    organiser: str = "",
) -> TrainingClass:
    _town_ok(acting_user, town)
    errors = {}
    name = _text(name, 100)
    if kind not in TrainingKind.values:
        errors["kind"] = "请选择培训类型"
    if not name:
        errors["name"] = "请填写培训班名称"
    elif TrainingClass.objects.filter(name=name).exists():
        errors["name"] = f"已有名为“{name}”的培训班"
    if starts_on is None:
        errors["starts_on"] = "请填写开班日期"
    if ends_on is None:
        errors["ends_on"] = "请填写结业日期"
    elif starts_on is not None and ends_on < starts_on:
        errors["ends_on"] = "结业日期不能早于开班日期"
    if errors:
        raise ValidationFailed(errors)
    tc = TrainingClass.objects.create(
        kind=kind,
        name=name,
        subject=_text(subject, 100),
        town=town,
        organiser=_text(organiser, 100),
        starts_on=starts_on,
        ends_on=ends_on,
        created_by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action="employment.training_class",
        obj=tc,
        changes={
            "kind": [None, kind],
            "name": [None, name],
            "town": [None, town.name],
            "starts_on": [None, starts_on.isoformat()],
            "ends_on": [None, ends_on.isoformat()],
        },
    )
    return tc


def _class_locked(acting_user, training_class) -> TrainingClass:
    try:
        return ea.training_workable(acting_user).select_for_update().get(pk=training_class.pk)
    except TrainingClass.DoesNotExist:
        raise PermissionDenied("未找到该培训班，或您无权登记") from None


def _certificate_check(errors, certificate: str, certified_on, tc) -> None:
    if certified_on is not None and not certificate:
        errors["certificate"] = "填写发证日期时请填写证书名称"
    if certified_on is not None and certified_on < tc.starts_on:
        errors["certified_on"] = f"发证日期不能早于开班日期 {tc.starts_on:%Y-%m-%d}"
    _not_future(errors, "certified_on", certified_on, "发证日期")


@transaction.atomic
def training_enrol(
    *,
    acting_user,
    training_class,
    person,
    enrolled_on: date,
    certificate: str = "",
    certified_on: date | None = None,
    source: str = "web",
) -> tuple[TrainingEnrolment, str]:
    """Enrol a person (or, enrolled already, correct the certificate): ("created" / "updated" / "unchanged")."""
    tc = _class_locked(acting_user, training_class)
    _person_ok(acting_user, person)
    certificate = _text(certificate, 100)
    errors = {}
    if enrolled_on is None:
        errors["enrolled_on"] = "请填写报名日期"
    elif enrolled_on > tc.ends_on:
        errors["enrolled_on"] = f"报名日期不能晚于结业日期 {tc.ends_on:%Y-%m-%d}"
    _certificate_check(errors, certificate, certified_on, tc)
    if errors:
        raise ValidationFailed(errors)
    existing = TrainingEnrolment.objects.select_for_update().filter(training_class=tc, person=person).first()
    if existing is not None:
        if (existing.certificate, existing.certified_on) == (certificate, certified_on):
            return existing, "unchanged"
        changes = {
            "certificate": [existing.certificate, certificate],
            "certified_on": [_iso(existing.certified_on), _iso(certified_on)],
        }
        existing.certificate, existing.certified_on = certificate, certified_on
        existing.save(update_fields=["certificate", "certified_on"])
        audit_record(
            acting_user=acting_user, action="employment.training_certify", obj=existing, changes=changes
        )
        return existing, "updated"
    e = TrainingEnrolment.objects.create(
        training_class=tc,
        person=person,
        enrolled_on=enrolled_on,
        certificate=certificate,
        certified_on=certified_on,
        source=source,
        created_by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action="employment.training_enrol",
        obj=e,
        changes={
            "person": [None, person.pk],
            "enrolled_on": [None, enrolled_on.isoformat()],
            "certificate": [None, certificate or None],
            "certified_on": [None, _iso(certified_on)],
        },
    )
    return e, "created"


@transaction.atomic
def training_session_add(
    *, acting_user, training_class, held_on: date, topic: str = "", present: list[int]
) -> TrainingSession:
    """One session of a class with the enrolments present (their ids): the next number, within the class's
    dates, not in the future, only the class's own trainees."""
    tc = _class_locked(acting_user, training_class)
    errors = {}
    if held_on is None:
        errors["held_on"] = "请填写上课日期"
    elif not tc.starts_on <= held_on <= tc.ends_on:
        errors["held_on"] = f"上课日期应在 {tc.starts_on:%Y-%m-%d} 至 {tc.ends_on:%Y-%m-%d} 之间"
    _not_future(errors, "held_on", held_on, "上课日期")
    ids = sorted(set(present))
    enrolled = set(tc.enrolments.filter(pk__in=ids).values_list("pk", flat=True))
    if len(enrolled) != len(ids):
        errors["present"] = "出勤名单中有不属于本培训班的学员"
    if errors:
        raise ValidationFailed(errors)
    seq = (tc.sessions.aggregate(m=Max("seq"))["m"] or 0) + 1
    session = TrainingSession.objects.create(
        training_class=tc, seq=seq, held_on=held_on, topic=_text(topic, 100)
    )
    TrainingAttendance.objects.bulk_create([TrainingAttendance(session=session, enrolment_id=i) for i in ids])
    audit_record(
        acting_user=acting_user,
        action="employment.training_session",
        obj=session,
        object_repr=f"{tc.name}·第{seq}次课",
        changes={"seq": [None, seq], "held_on": [None, held_on.isoformat()], "persons": [None, len(ids)]},
    )
    return session


def trainees_by_town(year: int) -> dict[int, int]:
    """Persons enrolled in a class that starts in ``year`` (any kind), each once per town of the class."""
    rows = (
        TrainingEnrolment.objects.filter(
            training_class__starts_on__gte=date(year, 1, 1), training_class__starts_on__lte=date(year, 12, 31)
        )
        .values("training_class__town_id")
        .annotate(n=Count("person_id", distinct=True))
        .order_by()
    )
    return {r["training_class__town_id"]: r["n"] for r in rows}


# ---- auxiliary-employment projects ---------------------------------------------------------------------------


@transaction.atomic
def aux_project_create(
    *, acting_user, name: str, company: str, institution, started_on: date, content: str = ""
) -> AuxProject:
    errors = {}
    name, company = _text(name, 100), _text(company, 100)
    if institution is None or institution.kind != "care_home":
        errors["institution"] = "请选择承接项目的残疾人之家"
    else:
        _town_ok(acting_user, institution.town)
    if not name:
        errors["name"] = "请填写项目名称"
    if not company:
        errors["company"] = "请填写合作企业"
    if started_on is None:
        errors["started_on"] = "请填写开始日期"
    _not_future(errors, "started_on", started_on, "开始日期")
    if errors:
        raise ValidationFailed(errors)
    project = AuxProject.objects.create(
        name=name,
        company=company,
        institution=institution,
        town=institution.town,
        started_on=started_on,
        content=_text(content, 200),
        created_by=acting_user,
    )
    audit_record(
        acting_user=acting_user,
        action="employment.aux_project",
        obj=project,
        changes={
            "name": [None, name],
            "company": [None, company],
            "institution": [None, institution.name],
            "started_on": [None, started_on.isoformat()],
        },
    )
    return project


@transaction.atomic
def aux_member_add(*, acting_user, project, person, joined_on: date) -> AuxProjectMember:
    try:
        p = ea.projects_workable(acting_user).select_for_update().get(pk=project.pk)
    except AuxProject.DoesNotExist:
        raise PermissionDenied("未找到该项目，或您无权登记") from None
    _person_ok(acting_user, person)
    errors = {}
    if joined_on is None:
        errors["joined_on"] = "请填写参加日期"
    elif joined_on < p.started_on:
        errors["joined_on"] = f"参加日期不能早于项目开始日期 {p.started_on:%Y-%m-%d}"
    _not_future(errors, "joined_on", joined_on, "参加日期")
    if not errors and p.members.filter(person=person, left_on__isnull=True).exists():
        errors["id_number"] = f"{person.name}已在该项目中"
    if errors:
        raise ValidationFailed(errors)
    try:
        with transaction.atomic():
            m = AuxProjectMember.objects.create(
                project=p, person=person, joined_on=joined_on, created_by=acting_user
            )
    except IntegrityError:
        raise DomainError(f"{person.name}已于 {joined_on:%Y-%m-%d} 加入该项目", field="id_number") from None
    audit_record(
        acting_user=acting_user,
        action="employment.aux_member",
        obj=m,
        changes={"person": [None, person.pk], "joined_on": [None, joined_on.isoformat()]},
    )
    return m


# ---- blind-massage practitioners -------------------------------------------------------------------------------


@transaction.atomic
def practitioner_record(
    *, acting_user, person, qualification: str, workplace: str, since: date
) -> MassagePractitioner:
    _person_ok(acting_user, person)
    qualification, workplace = _text(qualification, 50), _text(workplace, 100)
    errors = {}
    if not qualification:
        errors["qualification"] = "请填写资格等级"
    if since is None:
        errors["since"] = "请填写从业起始日期"
    _not_future(errors, "since", since, "从业起始日期")
    if errors:
        raise ValidationFailed(errors)
    old = MassagePractitioner.objects.select_for_update().filter(person=person).first()
    if old is None:
        rec = MassagePractitioner.objects.create(
            person=person,
            qualification=qualification,
            workplace=workplace,
            since=since,
            created_by=acting_user,
        )
        changes = {
            "qualification": [None, qualification],
            "workplace": [None, workplace],
            "since": [None, since.isoformat()],
        }
    else:
        changes = {
            k: [str(getattr(old, k)), str(v)]
            for k, v in (("qualification", qualification), ("workplace", workplace), ("since", since))
            if getattr(old, k) != v
        }
        old.qualification, old.workplace, old.since = qualification, workplace, since
        old.save(update_fields=["qualification", "workplace", "since"])
        rec = old
    audit_record(acting_user=acting_user, action="employment.practitioner", obj=rec, changes=changes)
    return rec
