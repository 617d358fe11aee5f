"""Employment 就业 (SERVICES.md §5, issue 11 §1): employment as dated periods per person.

The periods are the registry's ``EmploymentPeriod`` rows (status over a dated period, now with the form of an
employed period, ``kind``, and its ``employer``): one table, so the benefit rules, the custodial-care target
and this module read the same dates. ``Person.employment_status`` (the registry's 就业状况) is the current
period's status, kept in step by the writes here.

* ``employment_splice`` (pure) says how one employment [start, end] enters a person's chain of periods: the
  non-employed periods it covers are cut back, deleted or split; an open employment that started earlier is
  closed the day before (a change of job); an overlap with any other employment is refused; an employment
  that has ended is followed by 未就业 from the next day when nothing follows it. The same start date again
  is a correction of that employment.
* ``employment_record`` (one person, the web form) and ``employment_record_many`` (the roster import, set
  based) apply it, audited on the person (``employment.record``).
* ``employed_on`` answers "was this person employed on this day?" (the custodial-care target reads it): an
  employed period covers the day, or, for a person with no dated periods at all, the current status says
  employed.
* ``employment_net_by_town`` / ``employment_new_by_town``: the indicators, counted in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from canlian.common.audit import audit_record, audit_record_many
from canlian.common.audit_display import ActionSpec, register_actions
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.registry.models import EmploymentKind, EmploymentPeriod, EmploymentStatus, Person

EMPLOYED, UNEMPLOYED = EmploymentStatus.EMPLOYED.value, EmploymentStatus.UNEMPLOYED.value
KIND_LABELS = dict(EmploymentKind.choices)
PRIOR_SOURCE = "此前登记的就业状况"
AFTER_SOURCE = "就业结束"
ACTION = "employment.record"
_DAY = timedelta(days=1)

register_actions(
    {
        ACTION: ActionSpec("登记就业", "registry.EmploymentPeriod"),
        "employment.import": ActionSpec("导入就业名单", "registry.EmploymentPeriod"),
    }
)


class SpliceConflict(DomainError):
    pass


@dataclass
class Period:
    """A period as the splice sees it (``pk`` None: to be created)."""

    pk: int | None
    status: str
    valid_from: date
    valid_to: date | None
    kind: str = ""
    employer: str = ""
    source: str = ""

    def overlaps(self, start: date, end: date | None) -> bool:
        return self.valid_from <= (end or date.max) and start <= (self.valid_to or date.max)

    def covers(self, day: date) -> bool:
        return self.overlaps(day, day)

    def span(self) -> str:
        return (
            f"{self.valid_from:%Y-%m-%d}～{self.valid_to:%Y-%m-%d}"
            if self.valid_to
            else (f"{self.valid_from:%Y-%m-%d} 起")
        )


@dataclass
class Splice:
    outcome: str  # "created", "updated", "unchanged"
    period: Period  # the employment (new, corrected or unchanged)
    before: Period | None = None  # the employment before a correction
    create: list[Period] = field(default_factory=list)
    update: list[Period] = field(default_factory=list)
    delete: list[int] = field(default_factory=list)
    status_now: str | None = None  # the person's new current status (None: unchanged)


def _period(p: EmploymentPeriod) -> Period:
    return Period(p.pk, p.status, p.valid_from, p.valid_to, p.kind, p.employer, p.source)


def employment_splice(
    periods: list[Period],
    *,
    start: date,
    end: date | None,
    kind: str,
    employer: str,
    source: str,
    prior_status: str,
    birth_date: date,
    today: date,
) -> Splice:
    """How the employment [start, end] enters ``periods`` (one person's, as stored). Raises
    ``SpliceConflict`` (Chinese) when it overlaps another employment that is not an open one started
    earlier."""
    if end is not None and end < start:
        raise ValidationFailed({"valid_to": "结束日期不能早于开始日期"})
    if not periods:  # the common case of an import: the person's first dated record
        return _first_splice(
            start=start,
            end=end,
            kind=kind,
            employer=employer,
            source=source,
            prior_status=prior_status,
            birth_date=birth_date,
            today=today,
        )
    work = [replace(p) for p in periods]
    target = next((p for p in work if p.valid_from == start and p.status == EMPLOYED), None)
    new = Period(target.pk if target else None, EMPLOYED, start, end, kind, employer, source)
    if target is not None and (target.valid_to, target.kind, target.employer) == (end, kind, employer):
        return Splice("unchanged", target)
    changed: dict[int, Period] = {}
    out = Splice("updated" if target else "created", new, before=replace(target) if target else None)
    for p in work:
        if p is target or not p.overlaps(start, end):
            continue
        if p.status == EMPLOYED:
            if p.valid_to is None and p.valid_from < start:  # a change of job: the earlier one ends
                p.valid_to = start - timedelta(days=1)
                changed[p.pk] = p
                continue
            raise SpliceConflict(
                f"与已有就业记录（{p.span()}，{KIND_LABELS.get(p.kind, '未填就业形式')}"
                f"{'，' + p.employer if p.employer else ''}）时间重叠",
                field="valid_from",
            )
        beyond = end is not None and (p.valid_to is None or p.valid_to > end)
        if p.valid_from < start:
            if beyond:  # the rest of it continues after the employment
                out.create.append(
                    Period(None, p.status, end + timedelta(days=1), p.valid_to, source=p.source)
                )
            p.valid_to = start - timedelta(days=1)
            changed[p.pk] = p
        elif beyond:
            p.valid_from = end + timedelta(days=1)
            changed[p.pk] = p
        else:
            out.delete.append(p.pk)
    if target is not None and target.valid_to and end and end < target.valid_to:
        # a shortened employment: what followed it now follows the new end
        after = target.valid_to + timedelta(days=1)
        for p in work:
            if p.status != EMPLOYED and p.valid_from == after and p.pk not in out.delete:
                p.valid_from = end + timedelta(days=1)
                changed[p.pk] = p
    if not periods and prior_status and prior_status != EMPLOYED and start > birth_date:
        # the first dated record: until then the person had the status the registry held (as
        # registry.circumstances.employment_status_change does); an undated "employed" is this employment
        out.create.append(
            Period(None, prior_status, birth_date, start - timedelta(days=1), source=PRIOR_SOURCE)
        )
    if target is not None:
        changed[target.pk] = new
    else:
        out.create.append(new)
    out.update = list(changed.values())
    kept = [p for p in work if p.pk not in out.delete and p is not target] + out.create
    if target is not None:
        kept.append(new)
    if end is not None and end < today and not any(p.valid_from > end for p in kept):
        nxt = Period(None, UNEMPLOYED, end + timedelta(days=1), None, source=AFTER_SOURCE)
        out.create.append(nxt)
        kept.append(nxt)
    now = next((p for p in kept if p.covers(today)), None)
    out.status_now = now.status if now is not None else None
    return out


def _first_splice(*, start, end, kind, employer, source, prior_status, birth_date, today) -> Splice:
    """``employment_splice`` for a person with no dated periods (the same result, without the general walk)."""
    new = Period(None, EMPLOYED, start, end, kind, employer, source)
    out = Splice("created", new)
    if prior_status and prior_status != EMPLOYED and start > birth_date:
        out.create.append(Period(None, prior_status, birth_date, start - _DAY, source=PRIOR_SOURCE))
    out.create.append(new)
    status = EMPLOYED if start <= today and (end is None or today <= end) else None
    if end is not None and end < today:
        out.create.append(Period(None, UNEMPLOYED, end + _DAY, None, source=AFTER_SOURCE))
        status = UNEMPLOYED
    elif status is None and prior_status and prior_status != EMPLOYED and start > birth_date:
        status = prior_status  # an employment that starts after today (not from the services: refused there)
    out.status_now = status
    return out


def chain_after(periods: list[Period], s: Splice) -> list[Period]:
    """The person's periods once ``s`` is applied (pure): what a following employment of the same person in
    one import is spliced into."""
    if s.outcome == "unchanged":
        return periods
    dropped, changed = set(s.delete), {p.pk: p for p in s.update}
    return [changed.get(p.pk, p) for p in periods if p.pk not in dropped] + s.create


def _apply(person_pk: int, s: Splice, *, acting_user) -> None:
    """Write one splice (deletes, then updates, then creates: no unique start collides on the way)."""
    if s.delete:
        EmploymentPeriod.objects.filter(pk__in=s.delete, person_id=person_pk).delete()
    for p in s.update:
        EmploymentPeriod.objects.filter(pk=p.pk, person_id=person_pk).update(
            valid_from=p.valid_from, valid_to=p.valid_to, kind=p.kind, employer=p.employer
        )
    created = EmploymentPeriod.objects.bulk_create(
        [
            EmploymentPeriod(
                person_id=person_pk,
                status=p.status,
                valid_from=p.valid_from,
                valid_to=p.valid_to,
                kind=p.kind,
                employer=p.employer,
                source=p.source,
                created_by=acting_user,
            )
            for p in s.create
        ]
    )
    for p, row in zip(s.create, created, strict=True):
        p.pk = row.pk


def _changes(s: Splice, old_status: str, new_status: str) -> dict:
    before, p = s.before, s.period

    def pair(name, fmt=lambda v: v):
        old = getattr(before, name) if before else None
        return [fmt(old) if old is not None else None, fmt(getattr(p, name)) if getattr(p, name) else None]

    iso = date.isoformat
    changes = {
        "valid_from": pair("valid_from", iso),
        "valid_to": pair("valid_to", iso),
        "kind": pair("kind"),
        "employer": pair("employer"),
    }
    if not before:
        changes["source"] = [None, p.source]
    if old_status != new_status:
        changes["employment_status"] = [old_status, new_status]
    return changes


def _clean(kind: str, employer: str, start, end) -> tuple[str, str]:
    errors = {}
    if kind not in KIND_LABELS:
        errors["kind"] = "请选择就业形式：" + "、".join(KIND_LABELS.values())
    employer = " ".join((employer or "").split())
    if len(employer) > 100:
        errors["employer"] = "就业单位不能超过100个字"
    if start is None:
        errors["valid_from"] = "请填写开始日期"
    elif start > timezone.localdate():
        errors["valid_from"] = "开始日期不能晚于今天"
    if start is not None and end is not None and end < start:
        errors["valid_to"] = "结束日期不能早于开始日期"
    if errors:
        raise ValidationFailed(errors)
    return kind, employer


@transaction.atomic
def employment_record(
    *,
    acting_user,
    person: Person,
    kind: str,
    employer: str,
    valid_from: date,
    valid_to: date | None = None,
    source: str = "登记",
) -> Splice:
    """Record (or, with the same start date, correct) one employment of a person: district and town staff,
    for persons they may edit. Refused with a Chinese message by field; nothing written then."""
    from canlian.accounts import access as core

    kind, employer = _clean(kind, employer, valid_from, valid_to)
    try:
        locked = core.persons_editable(acting_user).select_for_update().get(pk=person.pk)
    except Person.DoesNotExist:
        raise PermissionDenied("未找到该残疾人，或您无权为其登记就业") from None
    periods = [_period(p) for p in EmploymentPeriod.objects.select_for_update().filter(person=locked)]
    s = employment_splice(
        periods,
        start=valid_from,
        end=valid_to,
        kind=kind,
        employer=employer,
        source=source,
        prior_status=locked.employment_status,
        birth_date=locked.birth_date,
        today=timezone.localdate(),
    )
    if s.outcome == "unchanged":
        return s
    _apply(locked.pk, s, acting_user=acting_user)
    old_status = locked.employment_status
    if s.status_now is not None and s.status_now != old_status:
        locked.employment_status = s.status_now
        locked.save(update_fields=["employment_status", "updated_at"])
    audit_record(
        acting_user=acting_user,
        action=ACTION,
        obj=locked,
        changes=_changes(s, old_status, locked.employment_status),
    )
    return s


@dataclass(frozen=True)
class Employment:
    """One employment for ``employment_record_many`` (the import)."""

    person: Person  # with pk, name, birth_date, employment_status
    kind: str
    employer: str
    valid_from: date
    valid_to: date | None


def periods_of(person_pks, *, lock: bool = False) -> dict[int, list[Period]]:
    from ..roster_fields import chunks

    out: dict[int, list[Period]] = {}
    pks = sorted(set(person_pks))
    for part in chunks(pks):
        qs = EmploymentPeriod.objects.filter(person_id__in=part)
        if lock:
            qs = qs.select_for_update()
        for pid, *rest in qs.values_list(
            "person_id", "pk", "status", "valid_from", "valid_to", "kind", "employer", "source"
        ).iterator(chunk_size=5000):
            out.setdefault(pid, []).append(Period(*rest))
    return out


@transaction.atomic
def employment_record_many(
    *, acting_user, items: list[Employment], source: str = "名单导入", progress=None
) -> list[str]:
    """``employment_record`` for many employments at once (the roster import): the same checks and rows,
    written set-based in this transaction. Items are applied in the order given (the file's: what the
    import validated); each gets its outcome ("created" / "updated" / "unchanged") back, in order. A conflict refuses the whole call (the import validated against the same periods first)."""
    from canlian.accounts import access as core
    from canlian.common.bulk import insert_rows

    from ..roster_fields import chunks

    report = progress or (lambda done, total, message="": None)
    pids = sorted({i.person.pk for i in items})
    editable: set[int] = set()
    scope = core.persons_editable(acting_user)
    for part in chunks(pids):
        editable.update(scope.filter(pk__in=part).values_list("pk", flat=True))
    if len(editable) != len(pids):
        raise PermissionDenied("未找到该残疾人，或您无权为其登记就业")
    have = periods_of(pids, lock=True)
    today = timezone.localdate()
    status = {i.person.pk: i.person.employment_status for i in items}
    order = range(len(items))
    outcomes = [""] * len(items)
    # periods to create get a temporary negative pk, so a later item of the same person may change or drop them
    pending: dict[int, tuple[int, Period]] = {}
    updates: dict[int, tuple[int, Period]] = {}
    deletes, entries = [], []
    for done, n in enumerate(order, start=1):
        it = items[n]
        pid = it.person.pk
        periods = have.get(pid, [])
        s = employment_splice(
            periods,
            start=it.valid_from,
            end=it.valid_to,
            kind=it.kind,
            employer=it.employer,
            source=source,
            prior_status=status[pid],
            birth_date=it.person.birth_date,
            today=today,
        )
        outcomes[n] = s.outcome
        if done % 5000 == 0:
            report(done, len(items), "核对中")
        if s.outcome == "unchanged":
            continue
        for p in s.create:
            p.pk = -(len(pending) + 1)
            pending[p.pk] = (pid, p)
        for p in s.update:
            (pending if p.pk < 0 else updates)[p.pk] = (pid, p)
        for pk in s.delete:
            if pk < 0:
                pending.pop(pk, None)
            else:
                deletes.append(pk)
        have[pid] = chain_after(periods, s)
        old = status[pid]
        if s.status_now is not None:
            status[pid] = s.status_now
        entries.append(
            {
                "object_type": Person._meta.label_lower,
                "object_id": pid,
                "object_repr": it.person.name,
                "changes": _changes(s, old, status[pid]),
            }
        )
    for part in chunks(sorted(set(deletes))):
        EmploymentPeriod.objects.filter(pk__in=part).delete()
    if updates:
        rows = [
            EmploymentPeriod(
                pk=p.pk,
                person_id=pid,
                valid_from=p.valid_from,
                valid_to=p.valid_to,
                kind=p.kind,
                employer=p.employer,
            )
            for pid, p in updates.values()
        ]
        EmploymentPeriod.objects.bulk_update(
            rows, ["valid_from", "valid_to", "kind", "employer"], batch_size=1000
        )
    now = timezone.now()
    insert_rows(
        EmploymentPeriod,
        [
            {
                "person_id": pid,
                "status": p.status,
                "valid_from": p.valid_from,
                "valid_to": p.valid_to,
                "kind": p.kind,
                "employer": p.employer,
                "source": p.source,
                "created_by_id": acting_user.pk,
                "created_at": now,
            }
            for pid, p in pending.values()
        ],
        now=now,
    )
    report(len(items), len(items), "写入中")
    by_status: dict[str, list[int]] = {}
    for i in items:
        if status[i.person.pk] != i.person.employment_status:
            by_status.setdefault(status[i.person.pk], []).append(i.person.pk)
    for value, pks in by_status.items():
        for part in chunks(sorted(set(pks))):
            Person.objects.filter(pk__in=part).update(employment_status=value, updated_at=now)
    audit_record_many(acting_user=acting_user, action=ACTION, entries=entries)
    return outcomes


# ---- reads ------------------------------------------------------------------------------------------------


def employed_in(periods: list[Period] | None, current_status: str, day: date) -> bool:
    """Was a person with these dated ``periods`` and this current status employed on ``day``? An employed
    period covers it; a person with no dated periods has had the registry's current status throughout."""
    if not periods:
        return current_status == EMPLOYED
    return any(p.status == EMPLOYED and p.covers(day) for p in periods)


def employed_on(person, day: date) -> bool:
    """``employed_in`` for one person, read from the database."""
    return employed_in(periods_of([person.pk]).get(person.pk), person.employment_status, day)


def employed_q(day) -> Q:
    """A Person condition: employed on ``day`` (``employed_on`` in SQL)."""
    covered = EmploymentPeriod.objects.filter(
        person_id=OuterRef("pk"), status=EMPLOYED, valid_from__lte=day
    ).filter(Q(valid_to__isnull=True) | Q(valid_to__gte=day))
    dated = EmploymentPeriod.objects.filter(person_id=OuterRef("pk"))
    return Q(Exists(covered)) | (~Q(Exists(dated)) & Q(employment_status=EMPLOYED))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _working_age_certified(day: date) -> QuerySet:
    """Persons alive, of working age and holding a valid certificate on ``day``."""
    from canlian.registry.models import Certificate

    from ..programme import parameters

    params = parameters()
    lo = int(params.at("employment.working_age_min", day))
    hi = int(params.at("employment.working_age_max", day))
    cert = Certificate.objects.filter(
        person_id=OuterRef("pk"), issue_date__lte=day, valid_until__gte=day
    ).filter(Q(status=Certificate.Status.VALID) | Q(status_changed_on__gt=day))
    return (
        Person.objects.filter(
            birth_date__lte=_years_before(day, lo), birth_date__gt=_years_before(day, hi + 1)
        )
        .filter(Q(death_date__isnull=True) | Q(death_date__gt=day))
        .filter(Exists(cert))
    )


def employed_by_town(day: date) -> dict[int, int]:
    """Town id → working-age certified persons employed on ``day`` (by the person's town)."""
    rows = (
        _working_age_certified(day)
        .filter(employed_q(day))
        .values("town_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {r["town_id"]: r["n"] for r in rows}


def employment_net_by_town(year: int) -> dict[int, int]:
    """净增就业: employed working-age certified persons on 31 December of ``year`` minus those on 31 December of
    the year before, by town (negative where fewer are employed)."""
    now, before = employed_by_town(date(year, 12, 31)), employed_by_town(date(year - 1, 12, 31))
    return {t: now.get(t, 0) - before.get(t, 0) for t in sorted(set(now) | set(before))}


def employment_new_by_town(year: int) -> dict[int, int]:
    """New employments (inflows) beside the net: working-age certified persons whose employment starts in
    ``year`` and who were not employed the day before (a change of job is not new), each person once."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    continued = EmploymentPeriod.objects.filter(
        person_id=OuterRef("person_id"),
        status=EMPLOYED,
        valid_to__gte=OuterRef("valid_from") - timedelta(days=1),
    ).filter(valid_from__lt=OuterRef("valid_from"))
    starts = EmploymentPeriod.objects.filter(
        status=EMPLOYED, valid_from__gte=start, valid_from__lte=end
    ).exclude(Exists(continued))
    persons = _working_age_certified(end).filter(Exists(starts.filter(person_id=OuterRef("pk"))))
    rows = persons.values("town_id").annotate(n=Count("id")).order_by()
    return {r["town_id"]: r["n"] for r in rows}
