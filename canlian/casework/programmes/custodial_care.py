"""Custodial care 残疾人托养 (SERVICES.md §4): the first programme on the case engine.

A case is one placement: applied → town reviewed → district approved → placed (with a provider, a mode and a
start date; return visits fall due every ``custodial_care.visit_interval_days``) → ended. A roster import of
people already in care opens placed cases directly. ``custodial_new_by_town`` counts the year's target.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from canlian.accounts.models import Role
from canlian.common.workflow import Move, Workflow

from ..models import Case, CustodialMode
from ..programme import DueRule, Programme, parameters, programme_register
from ..services import close_effect, schedule_effect

CODE = "custodial_care"
TOWN, DISTRICT, INST = Role.TOWN_STAFF, Role.DISTRICT_STAFF, Role.INSTITUTION_STAFF

STATES = {
    "applied": "已申请",
    "town_reviewed": "镇(街道)审核通过",
    "approved": "区残联审定通过",
    "placed": "在托",
    "ended": "已结束",
    "rejected": "未通过",
}
SERVED = ("placed", "ended")  # states of a case that really started


def _case_scope(user):
    from ..access import cases_workable

    return cases_workable(user)


def _validate_place(case, data) -> dict:
    errors = {}
    inst, start = data.get("institution"), data.get("opened_on")
    if inst is not None and start is not None and not inst.designated_on(start):
        errors["institution"] = f"“{inst.name}”在 {start:%Y-%m-%d} 不在认定有效期内"
    if inst is not None and inst.kind not in PROGRAMME.institution_kinds:
        errors["institution"] = f"“{inst.name}”不是托养服务机构"
    return errors


def _validate_end(case, data) -> dict:
    end = data.get("closed_on")
    if end is not None and end < case.opened_on:
        return {"closed_on": f"结束日期不能早于开始日期 {case.opened_on:%Y-%m-%d}"}
    return {}


WORKFLOW = Workflow(
    code=f"case.{CODE}",
    name="残疾人托养",
    states=STATES,
    initial="applied",
    scope=_case_scope,
    field_labels={
        "close_reason": "原因",
        "institution": "服务机构",
        "opened_on": "托养开始日期",
        "closed_on": "托养结束日期",
    },
    moves=(
        Move("town_review", "镇(街道)审核通过", ("applied",), "town_reviewed", {TOWN}),
        Move(
            "approve", "区残联审定", ("town_reviewed",), "approved", {DISTRICT}, checker_of=("town_review",)
        ),
        Move(
            "reject",
            "审核不通过",
            ("applied", "town_reviewed"),
            "rejected",
            {TOWN, DISTRICT},
            requires=("close_reason",),
            records=("close_reason",),
        ),
        Move(
            "place",
            "安排入托",
            ("approved",),
            "placed",
            {TOWN, DISTRICT},
            requires=("institution", "opened_on"),
            records=("institution", "opened_on"),
            validate=_validate_place,
            effect=schedule_effect("return_visit"),
        ),
        Move(
            "end",
            "结束托养",
            ("placed",),
            "ended",
            {TOWN, DISTRICT, INST},
            requires=("closed_on", "close_reason"),
            records=("closed_on", "close_reason"),
            validate=_validate_end,
            effect=close_effect,
        ),
    ),
)

PROGRAMME = programme_register(
    Programme(
        code=CODE,
        name="残疾人托养",
        workflow=WORKFLOW,
        due_rules=(
            DueRule("return_visit", "回访", every="custodial_care.visit_interval_days", start_move="place"),
        ),
        institution_kinds=("custodial_provider", "care_home"),
        data_fields={"mode": "托养方式"},
        data_choices={"mode": dict(CustodialMode.choices)},
        monthly_cap="custodial_care.monthly_cap",
        create_url="casework:custodial_apply",
    )
)


# ---- the target definition (SERVICES.md §4) ------------------------------------------------------------

QUALIFYING_ANY_GRADE = {5, 6}  # intellectual, mental
QUALIFYING_SEVERE = {1, 4}  # vision, physical: grade 1–2


def certificate_on(certs, day: date):
    """The certificate valid on ``day`` among a person's certificates (the latest issued), or None."""
    valid = [
        c
        for c in certs
        if c.issue_date <= day <= c.valid_until
        and (c.status == "valid" or (c.status_changed_on is not None and c.status_changed_on > day))
    ]
    return max(valid, key=lambda c: (c.issue_date, c.pk), default=None)


def _qualifying_disability(cert) -> bool:
    parts = [(cert.category, cert.grade)]
    if cert.category == 7:
        parts = [(int(p["category"]), int(p["grade"])) for p in (cert.components or [])] or parts
    return any(
        cat in QUALIFYING_ANY_GRADE or (cat in QUALIFYING_SEVERE and grade <= 2) for cat, grade in parts
    )


def _definition(name: str, day: date, params=None):
    """A value of the target definition in force on ``day``; before its first dated value, the first one
    (the definition was written for 2023; earlier placements are judged by it, so "first ever" holds)."""
    p = (params or parameters())[name]
    return p.at(day) if p.has_value_on(day) else p.values[0].value


def target_reasons(person, certs, start: date, *, params=None, employed: bool | None = None) -> list[str]:
    """Why a placement starting on ``start`` does not count toward the target ([] = it counts, as far as the
    person goes; the "first placement" part is the caller's). ``employed``: whether the person was employed on
    ``start`` (the dated employment periods, ``employment.employed_in``); read from the database when not
    given."""
    from canlian.registry.identity import age_on

    from .employment import employed_on

    params = params or parameters()
    lo, hi = (
        _definition("custodial_care.age_min", start, params),
        _definition("custodial_care.age_max", start, params),
    )
    reasons = []
    age = age_on(person.birth_date, start)
    if not lo <= age <= hi:
        reasons.append(f"开始托养时 {age} 周岁，不在 {lo}～{hi} 周岁之间")
    if employed is None:
        employed = employed_on(person, start)
    if employed:
        reasons.append(f"{start:%Y-%m-%d} 处于就业状态")
    cert = certificate_on(certs, start)
    if cert is None:
        reasons.append("开始托养时无有效残疾人证")
    elif not _qualifying_disability(cert):
        reasons.append(
            f"残疾类别等级为{cert.get_category_display()}{cert.get_grade_display()}"
            "（须为智力、精神残疾，或一至二级肢体、视力残疾）"
        )
    return reasons


def _day(value):
    """A date from a raw query (SQLite hands dates back as text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class _CertFacts:
    """What the target definition reads of a certificate (``target_reasons``), without a model instance per
    row: the indicator reads thousands of them."""

    pk: int
    category: int
    grade: int
    components: list
    issue_date: date
    valid_until: date
    status: str
    status_changed_on: date | None

    FIELDS = ("category", "grade", "components", "issue_date", "valid_until", "status", "status_changed_on")

    def get_category_display(self) -> str:
        from canlian.registry.models import Certificate

        return Certificate.Category(self.category).label

    def get_grade_display(self) -> str:
        from canlian.registry.models import Certificate

        return Certificate.Grade(self.grade).label


def custodial_new_by_town(year: int, *, towns=None) -> dict[int, int]:
    """Town id → number of persons whose first custodial care (a placement that really started) starts in
    ``year`` and who meet the target definition at its start. The town is the first placement's snapshot.

    The placements starting in the year of persons never placed before are ranked in the database (the
    first per person); only those persons are read (birth date, employment) with their certificates, and
    the definition (``target_reasons``, the same rule the case page explains with) is applied to them."""
    from types import SimpleNamespace

    from django.db import connection
    from django.db.models import Exists, F, OuterRef

    from canlian.registry.models import Certificate, Person

    from ..selectors import firsts_query
    from .employment import employed_in, periods_of

    start, end = date(year, 1, 1), date(year, 12, 31)
    served = Case.objects.filter(programme=CODE, state__in=SERVED)
    # placements starting in the year of persons never placed before it (index on programme, person, opened)
    in_year = served.filter(opened_on__gte=start, opened_on__lte=end).filter(
        ~Exists(served.filter(person_id=OuterRef("person_id"), opened_on__lt=start))
    )
    sql, params = firsts_query(
        in_year,
        person="person_id",
        town="town_id",
        order_by=[F("opened_on").asc(), F("id").asc()],
        first_on="opened_on",
    )
    qn = connection.ops.quote_name
    cert = {f: qn(f) for f in ("id", "person_id", *_CertFacts.FIELDS)}
    with connection.cursor() as cur:
        # each first placement with its person and the certificates valid on its start (certificate_on's test)
        cur.execute(
            "SELECT f.first_person, f.first_town, f.first_on, p.birth_date, p.employment_status, "
            + ", ".join(f"c.{cert[k]}" for k in ("id", *_CertFacts.FIELDS))
            + f" FROM ({sql}) AS f JOIN {qn(Person._meta.db_table)} AS p ON p.id = f.first_person "
            f"LEFT JOIN {qn(Certificate._meta.db_table)} AS c ON c.{cert['person_id']} = f.first_person "
            f"AND c.{cert['issue_date']} <= f.first_on AND f.first_on <= c.{cert['valid_until']} "
            f"AND (c.{cert['status']} = %s OR c.{cert['status_changed_on']} > f.first_on)",
            [*params, Certificate.Status.VALID],
        )
        rows = cur.fetchall()
    if not rows:
        return {}
    firsts, certs = {}, defaultdict(list)
    for pid, town, first_on, born, employment, cert_id, *facts in rows:
        firsts[pid] = (town, _day(first_on), _day(born), employment)
        if cert_id is not None:
            category, grade, components, issued, until, status, changed = facts
            if isinstance(components, str):  # SQLite: JSON as text
                components = json.loads(components)
            certs[pid].append(
                _CertFacts(
                    cert_id, category, grade, components, _day(issued), _day(until), status, _day(changed)
                )
            )
    out: dict[int, int] = defaultdict(int)
    rules = parameters()
    periods = periods_of(list(firsts))  # employment on the start day: the dated periods
    for pid, (town, first_on, birth_date, employment) in firsts.items():
        if towns is not None and town not in towns:
            continue
        person = SimpleNamespace(pk=pid, birth_date=birth_date, employment_status=employment)
        employed = employed_in(periods.get(pid), employment, first_on)
        if not target_reasons(person, certs[pid], first_on, params=rules, employed=employed):
            out[town] += 1
    return dict(out)


# ---- the application ------------------------------------------------------------------------------------

OPEN_STATES = ("applied", "town_reviewed", "approved", "placed")


def custodial_apply(*, acting_user, person, applied_on: date, mode: str) -> Case:
    """A person's application for custodial care, entered by town (or district) staff: a case in
    ``applied`` with the mode asked for. Refused (by field, nothing written) for an unknown mode, a date in
    the future, or a person who already has a custodial case under way."""
    from django.db import transaction
    from django.utils import timezone

    from canlian.common.exceptions import ValidationFailed
    from canlian.registry.models import Person

    from ..services import case_open

    with transaction.atomic():
        # two clerks entering the same application at once: the second waits, then sees the first
        list(Person.objects.select_for_update().filter(pk=person.pk))
        errors = {}
        if mode not in CustodialMode.values:
            errors["mode"] = "请选择托养方式：寄宿制、日间照料或居家托养"
        if applied_on is not None and applied_on > timezone.localdate():
            errors["applied_on"] = "申请日期不能晚于今天"
        current = (
            Case.objects.filter(programme=CODE, person=person, state__in=OPEN_STATES)
            .order_by("-opened_on")
            .first()
        )
        if current is not None:
            errors["id_number"] = (
                f"{person.name}已有进行中的托养个案（{current.opened_on:%Y-%m-%d}，{current.state_label}）"
            )
        if errors:
            raise ValidationFailed(errors)
        return case_open(
            acting_user=acting_user, programme=CODE, person=person, opened_on=applied_on, data={"mode": mode}
        )


from . import custodial_roster  # noqa: E402,F401  (registers the roster import)

# ---- contracts and inspections: their own module (re-exported for the demo and older callers) ------------
from .custodial_contracts import (  # noqa: E402,F401
    contract_create,
    contract_end,
    inspection_follow_up_done,
    inspection_record,
)
