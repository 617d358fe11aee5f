"""Writes to the registry. Each service is atomic, attributed to ``acting_user``, scoped and audited."""

from __future__ import annotations

import functools
from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from pypinyin import Style, lazy_pinyin
from pypinyin.core import Pinyin

from canlian.accounts import access
from canlian.common.audit import audit_record
from canlian.common.crypto import blind_index
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.masking import mask_id_number, mask_phone

from . import divisions
from .models import Certificate, EconomicStatus, EconomicStatusPeriod, Person, Region
from .validation import PersonRecord, community_key

SENSITIVE_MASKS = {
    "id_number": mask_id_number,
    "certificate_number": mask_id_number,
    "phone": mask_phone,
    "guardian_phone": mask_phone,
}
PERSON_FIELDS = (
    "name",
    "phone",
    "town_id",
    "community_id",
    "address",
    "household_type",
    "employment_status",
    "guardian_name",
    "guardian_relation",
    "guardian_phone",
)


def id_index(id_number: str) -> str:
    return blind_index(id_number, purpose="id_number")


def certificate_index(number: str) -> str:
    return blind_index(number, purpose="certificate_number")


def key_probe() -> bool | None:
    """For ``crypto.keys_verify`` on a database without a key check row: can the first person's ID number be
    decrypted, and does its blind index come out the same? None when there is nobody to test."""
    row = Person.objects.order_by("pk").values_list("id_number", "id_number_index").first()
    if row is None:
        return None
    id_number, index = row  # reading decrypts: a wrong encryption key raises InvalidTag
    return id_index(id_number) == index


_PINYIN = Pinyin()
_WORD_PINYIN: dict[str, tuple[str, ...]] = {}
_WORD_PINYIN_LIMIT = 100_000


def name_pinyin(name: str) -> tuple[str, str]:
    """``张伟`` → (``zhangwei``, ``zw``).

    ``lazy_pinyin`` splits the text into words (phrases of its dictionary, or single characters) and converts
    each word on its own; we do the same split and remember each word's syllables. Names are made of a few
    thousand distinct words, so an import of 100,000 names costs ~6 µs a name instead of ~45 µs, with the
    same result (tested against ``lazy_pinyin``)."""
    syllables: list[str] = []
    for word in _PINYIN.seg(name):
        known = _WORD_PINYIN.get(word)
        if known is None:
            if len(_WORD_PINYIN) >= _WORD_PINYIN_LIMIT:
                _WORD_PINYIN.clear()
            known = _WORD_PINYIN[word] = tuple(lazy_pinyin(word, style=Style.NORMAL, errors="ignore"))
        syllables.extend(known)
    return "".join(syllables).lower(), "".join(s[0] for s in syllables if s).lower()


def valid_until_for(issue_date: date) -> date:
    """Ten years from issue."""
    try:
        return issue_date.replace(year=issue_date.year + 10)
    except ValueError:  # 29 February
        return issue_date.replace(year=issue_date.year + 10, day=28) + timedelta(days=1)


def _masked(field: str, value):
    if value in (None, ""):
        return value
    mask = SENSITIVE_MASKS.get(field)
    if mask:
        return mask(str(value))
    if isinstance(value, date):
        return value.isoformat()
    return value


def masked_changes(changes: dict[str, tuple]) -> dict[str, list]:
    return {f: [_masked(f, old), _masked(f, new)] for f, (old, new) in changes.items()}


def current_economic_status(person: Person, on: date) -> str:
    for period in person.economic_periods.all():
        if period.covers(on):
            return period.status
    return EconomicStatus.NONE


def person_changes(person: Person, record: PersonRecord, *, on: date) -> dict[str, tuple]:
    """Field → (old, new) for what ``record`` would change on ``person``. Empty optional cells change nothing."""
    changes: dict[str, tuple] = {}
    for f in PERSON_FIELDS:
        new = getattr(record, f)
        old = getattr(person, f)
        if f in (
            "phone",
            "guardian_phone",
            "address",
            "employment_status",
            "guardian_name",
            "guardian_relation",
            "community_id",
        ):
            if new in (None, ""):
                continue
        if old != new:
            changes[f] = (old, new)
    cert = person.current_certificate
    if record.certificate_number and (cert is None or cert.number != record.certificate_number):
        changes["certificate_number"] = (cert.number if cert else "", record.certificate_number)
    elif cert and record.issue_date and cert.issue_date != record.issue_date:
        changes["issue_date"] = (cert.issue_date, record.issue_date)
    if record.economic_status:
        old_status = current_economic_status(person, on)
        if old_status != record.economic_status:
            changes["economic_status"] = (old_status, record.economic_status)
    return changes


def _check_scope(acting_user, town_id: int) -> None:
    town = Region.objects.filter(pk=town_id).first()
    if not access.can_create_person(acting_user, town):
        raise PermissionDenied("您无权在该镇(街道)登记或修改残疾人信息")


def _ensure_community(*, acting_user, record: PersonRecord) -> None:
    if record.community_name and record.community_id is None:
        town = Region.objects.get(pk=record.town_id)
        community = Region.objects.filter(parent=town, name=record.community_name).first()
        record.community_id = (
            community or community_create(acting_user=acting_user, town=town, name=record.community_name)
        ).pk


def _duplicate_refused(func):
    """A form submitted twice (or two clerks registering the same person at once) passes the existence check
    in both requests; the unique index then refuses the second insert. Say so in Chinese instead of a 500."""

    @functools.wraps(func)
    def wrapper(*args, record: PersonRecord, **kwargs):
        try:
            return func(*args, record=record, **kwargs)
        except IntegrityError as exc:
            if Person.objects.filter(id_number_index=id_index(record.id_number)).exists():
                raise ValidationFailed(
                    {"id_number": "该身份证号刚刚已登记（可能是重复提交），请勿重复建档"}
                ) from exc
            raise ValidationFailed(
                {"certificate_number": "该残疾人证号刚刚已登记（可能是重复提交）"}
            ) from exc

    return wrapper


@_duplicate_refused
@transaction.atomic
def person_create(*, acting_user, record: PersonRecord) -> Person:
    _check_scope(acting_user, record.town_id)
    index = id_index(record.id_number)
    if Person.objects.filter(id_number_index=index).exists():
        raise ValidationFailed({"id_number": "该身份证号已登记，请勿重复建档"})
    if Certificate.objects.filter(number_index=certificate_index(record.certificate_number)).exists():
        raise ValidationFailed({"certificate_number": "该残疾人证号已登记"})
    _ensure_community(acting_user=acting_user, record=record)
    pinyin, initials = name_pinyin(record.name)
    person = Person.objects.create(
        name=record.name,
        name_pinyin=pinyin,
        name_initials=initials,
        id_number=record.id_number,
        id_number_index=index,
        sex=record.sex,
        birth_date=record.birth_date,
        phone=record.phone,
        town_id=record.town_id,
        community_id=record.community_id,
        address=record.address,
        household_type=record.household_type,
        employment_status=record.employment_status,
        guardian_name=record.guardian_name,
        guardian_relation=record.guardian_relation,
        guardian_phone=record.guardian_phone,
        created_by=acting_user,
    )
    cert = _certificate_create(person=person, record=record)
    today = timezone.localdate()
    if record.economic_status and record.economic_status != EconomicStatus.NONE:
        EconomicStatusPeriod.objects.create(
            person=person, status=record.economic_status, valid_from=today, source="登记"
        )
    created = {
        f: (None, getattr(person, f)) for f in ("name", "id_number", "town_id", "household_type", "phone")
    }
    created["certificate_number"] = (None, cert.number)
    audit_record(acting_user=acting_user, action="person.create", obj=person, changes=masked_changes(created))
    return person


def _certificate_create(*, person: Person, record: PersonRecord) -> Certificate:
    return Certificate.objects.create(
        person=person,
        number=record.certificate_number,
        number_index=certificate_index(record.certificate_number),
        category=record.category,
        grade=record.grade,
        issue_date=record.issue_date,
        valid_until=valid_until_for(record.issue_date),
        reissue_count=record.reissue,
        is_current=True,
    )


@transaction.atomic
def person_update(*, acting_user, person: Person, record: PersonRecord) -> dict[str, tuple]:
    """Apply ``record`` to ``person``; returns the changes (empty when nothing changed)."""
    person = Person.objects.select_for_update().get(pk=person.pk)
    if not access.can_edit_person(acting_user, person):
        raise PermissionDenied("您无权修改该残疾人信息")
    if record.id_number and record.id_number != person.id_number:
        raise ValidationFailed({"id_number": "身份证号不可修改；如确属错误，请注销后重新建档"})
    _check_scope(acting_user, record.town_id)
    _ensure_community(acting_user=acting_user, record=record)
    today = timezone.localdate()
    changes = person_changes(person, record, on=today)
    if not changes:
        return {}
    fields = [f for f in PERSON_FIELDS if f in changes]
    for f in fields:
        setattr(person, f, changes[f][1])
    if "name" in changes:
        person.name_pinyin, person.name_initials = name_pinyin(person.name)
        fields += ["name_pinyin", "name_initials"]
    if fields:
        person.save(update_fields=[*fields, "updated_at"])
    if "certificate_number" in changes:
        if Certificate.objects.filter(number_index=certificate_index(record.certificate_number)).exists():
            raise ValidationFailed({"certificate_number": "该残疾人证号已属于另一份档案"})
        Certificate.objects.filter(person=person, is_current=True).update(is_current=False)
        _certificate_create(person=person, record=record)
    elif "issue_date" in changes:
        cert = person.current_certificate
        cert.issue_date = record.issue_date
        cert.valid_until = valid_until_for(record.issue_date)
        cert.save(update_fields=["issue_date", "valid_until"])
    if "economic_status" in changes:
        economic_status_change(
            acting_user=None, person=person, status=record.economic_status, valid_from=today, audit=False
        )
    if "employment_status" in changes:
        from .circumstances import employment_status_change

        old, new = changes["employment_status"]
        employment_status_change(
            acting_user=acting_user, person=person, status=new, valid_from=today, audit=False, previous=old
        )
    audit_record(acting_user=acting_user, action="person.update", obj=person, changes=masked_changes(changes))
    return changes


@transaction.atomic
def economic_status_change(
    *, acting_user, person: Person, status: str, valid_from: date, audit: bool = True, source: str = ""
) -> EconomicStatusPeriod | None:
    """Close the open period the day before ``valid_from`` and open a new one (none for 无)."""
    if status not in EconomicStatus.values:
        raise DomainError("无效的家庭经济状况")
    later = EconomicStatusPeriod.objects.filter(person=person, valid_from__gt=valid_from)
    if later.exists():
        raise DomainError("该日期之后已有家庭经济状况记录，请按时间顺序登记", field="economic_status")
    # a correction on the same day replaces the period that started that day
    EconomicStatusPeriod.objects.filter(person=person, valid_from=valid_from).delete()
    open_periods = EconomicStatusPeriod.objects.select_for_update().filter(
        person=person, valid_to__isnull=True
    )
    for period in open_periods:
        period.valid_to = valid_from - timedelta(days=1)
        period.save(update_fields=["valid_to"])
    new = None
    if status != EconomicStatus.NONE:
        new = EconomicStatusPeriod.objects.create(
            person=person, status=status, valid_from=valid_from, source=source
        )
    if audit:
        audit_record(
            acting_user=acting_user,
            action="person.economic_status",
            obj=person,
            changes={"economic_status": [None, status], "valid_from": [None, valid_from.isoformat()]},
        )
    return new


@transaction.atomic
def person_set_status(
    *,
    acting_user,
    person: Person,
    status: str,
    death_date: date | None = None,
    moved_out_on: date | None = None,
) -> Person:
    """Set the status. 迁出 is dated (``registry.circumstances``): moving out records the move on
    ``moved_out_on`` (default today) unless a move is already open; back to 在册 ends the open move the day
    before (or removes a move recorded for today: a correction)."""
    from .models import CircumstanceKind, PersonCircumstance

    person = Person.objects.select_for_update().get(pk=person.pk)
    if not access.can_edit_person(acting_user, person):
        raise PermissionDenied("您无权修改该残疾人信息")
    if status not in Person.Status.values:
        raise DomainError("无效的人员状态")
    today = timezone.localdate()
    if status == Person.Status.DECEASED:
        if death_date is None:
            raise ValidationFailed({"death_date": "请填写死亡日期"})
        if death_date > today or death_date < person.birth_date:
            raise ValidationFailed({"death_date": "死亡日期应在出生日期与今天之间"})
    else:
        death_date = None
    moves = PersonCircumstance.objects.select_for_update().filter(
        person=person, kind=CircumstanceKind.MOVED_OUT, valid_to__isnull=True
    )
    move_changes: dict[str, tuple] = {}
    if status == Person.Status.MOVED_OUT and not moves.exists():
        moved_on = moved_out_on or today
        if moved_on > today or moved_on < person.birth_date:
            raise ValidationFailed({"moved_out_on": "迁出日期应在出生日期与今天之间"})
        if PersonCircumstance.objects.filter(
            person=person, kind=CircumstanceKind.MOVED_OUT, valid_to__gte=moved_on
        ).exists():
            raise ValidationFailed({"moved_out_on": "该日期与已登记的迁出记录重叠"})
        PersonCircumstance.objects.create(
            person=person,
            kind=CircumstanceKind.MOVED_OUT,
            valid_from=moved_on,
            source="变更人员状态",
            created_by=acting_user,
        )
        move_changes["moved_out"] = (None, moved_on)
    elif status == Person.Status.ACTIVE:
        for move in moves:
            if move.valid_from >= today:
                move.delete()
            else:
                move.valid_to = today - timedelta(days=1)
                move.save(update_fields=["valid_to"])
                move_changes["valid_to"] = (None, move.valid_to)
    old = (person.status, person.death_date)
    person.status, person.death_date = status, death_date
    person.save(update_fields=["status", "death_date", "updated_at"])
    audit_record(
        acting_user=acting_user,
        action="person.status",
        obj=person,
        changes=masked_changes(
            {"status": (old[0], status), "death_date": (old[1], death_date), **move_changes}
        ),
    )
    return person


def person_reveal_id(*, acting_user, person: Person) -> str:
    """The full ID number, for users allowed to see it; every reveal, and every refused one, is audited.

    Not atomic on purpose: the audit row of a refused reveal must survive the exception."""
    if not access.can_reveal(acting_user, person):
        audit_record(acting_user=acting_user, action="person.reveal_id", obj=person, result="denied")
        raise PermissionDenied("您无权查看完整身份证号")
    audit_record(acting_user=acting_user, action="person.reveal_id", obj=person)
    return person.id_number


@transaction.atomic
def community_create(
    *, acting_user, town: Region, name: str, code: str = "", kind: str = Region.Kind.COMMUNITY
) -> Region:
    if not access.can_manage_regions(acting_user) and not access.can_create_person(acting_user, town):
        raise PermissionDenied("您无权新增村(社区)")
    name = name.strip()
    if not name:
        raise ValidationFailed({"name": "名称不能为空"})
    if town.level != Region.Level.TOWN:
        raise ValidationFailed({"parent": "村(社区)只能建在镇(街道)之下"})
    key = community_key(name)
    for existing in Region.objects.filter(parent=town).values_list("name", flat=True):
        if existing == name or community_key(existing) == key:  # 天平村 is 天平村委会
            raise ValidationFailed({"name": f"“{town.name}”下已有“{existing}”"})
    if not code:
        siblings = Region.objects.select_for_update().filter(parent=town).values_list("code", flat=True)
        seq = (
            max((int(c[len(town.code) :]) for c in siblings if c[len(town.code) :].isdigit()), default=0) + 1
        )
        code = f"{town.code}{seq:03d}"
    if Region.objects.filter(code=code).exists():
        raise ValidationFailed({"code": f"代码 {code} 已被使用"})
    region = Region.objects.create(code=code, name=name, level=Region.Level.COMMUNITY, kind=kind, parent=town)
    audit_record(
        acting_user=acting_user,
        action="region.create",
        obj=region,
        changes={"name": [None, name], "code": [None, code]},
    )
    return region


@transaction.atomic
def regions_load(*, acting_user, district: str = "") -> divisions.SyncResult:
    """Bring the county's towns and villages in line with the national statistical division codes (idempotent:
    existing units are kept; an admin's village that names an official one is adopted). One audit row."""
    if not access.can_manage_regions(acting_user):
        raise PermissionDenied("您无权载入行政区划")
    county = divisions.county_read(district or None)
    result = divisions.county_sync(Region, county)
    if result.changed:
        audit_record(
            acting_user=acting_user,
            action="region.load",
            object_type="registry.region",
            object_id=county.code,
            object_repr=f"{county.name}（{county.code}）",
            changes={
                "created": [None, [f"{code} {name}" for code, name in result.created]],
                "adopted": [
                    [f"{old} {old_name}" for old, old_name, _, _ in result.adopted],
                    [f"{code} {name}" for _, _, code, name in result.adopted],
                ],
                "recoded": [
                    [f"{old} {name}" for old, _, name in result.recoded],
                    [new for _, new, _ in result.recoded],
                ],
                "marked_official": [None, result.marked],
            },
        )
    return result


@transaction.atomic
def certificate_set_status(
    *, acting_user, certificate: Certificate, status: str, on: date, reason: str
) -> Certificate:
    if not access.can_edit_person(acting_user, certificate.person):
        raise PermissionDenied("您无权修改该残疾人证")
    if status not in Certificate.Status.values:
        raise DomainError("无效的证件状态")
    if not reason.strip():
        raise ValidationFailed({"reason": "请填写变更原因"})
    old = certificate.status
    certificate.status, certificate.status_changed_on, certificate.status_reason = status, on, reason.strip()
    certificate.save(update_fields=["status", "status_changed_on", "status_reason"])
    audit_record(
        acting_user=acting_user,
        action="certificate.status",
        obj=certificate.person,
        changes={"certificate_status": [old, status], "on": [None, on.isoformat()], "reason": [None, reason]},
    )
    return certificate
