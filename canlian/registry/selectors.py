"""Reads from the registry. Every queryset starts from ``accounts.access``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from django.db import connection
from django.db.models import BooleanField, F, Func, Prefetch, Q, QuerySet, Value

from canlian.accounts import access

from . import identity
from .models import Certificate, Person
from .services import certificate_index, id_index

PAGE_SIZE = 50
AGE_BANDS = {
    "0-6": (0, 6),
    "7-17": (7, 17),
    "18-59": (18, 59),
    "60-79": (60, 79),
    "80+": (80, 200),
}
AGE_BAND_LABELS = {
    "0-6": "0-6岁",
    "7-17": "7-17岁",
    "18-59": "18-59岁",
    "60-79": "60-79岁",
    "80+": "80岁及以上",
}


@dataclass
class PersonFilters:
    q: str = ""
    town: int | None = None
    community: int | None = None
    category: int | None = None
    grade: int | None = None
    status: str = ""
    age_band: str = ""


@dataclass
class Page:
    items: list[Person]
    next_cursor: int | None
    filters: PersonFilters = field(default_factory=PersonFilters)


def _birth_range(band: str, today: date) -> tuple[date, date]:
    lo, hi = AGE_BANDS[band]

    def years_ago(n: int) -> date:
        try:
            return today.replace(year=today.year - n)
        except ValueError:
            return today.replace(year=today.year - n, day=28)

    # age >= lo  ⇔ born on or before today - lo years; age <= hi ⇔ born after today - (hi+1) years
    from datetime import timedelta

    return years_ago(hi + 1) + timedelta(days=1), years_ago(lo)


_ID_QUERY = re.compile(r"[0-9]{15}|[0-9]{17}[0-9X]")


def is_identity_query(q: str) -> bool:
    """A search by an ID or certificate number (which the page never puts in a URL)."""
    norm = identity.normalize(q.strip())
    return bool(norm) and (
        _ID_QUERY.fullmatch(norm) is not None or identity.CERT_RE.fullmatch(norm) is not None
    )


def search_condition(q: str) -> Q | None:
    """ID number, certificate number, pinyin / initials, or Chinese name."""
    q = q.strip()
    if not q:
        return None
    norm = identity.normalize(q)
    if _ID_QUERY.fullmatch(norm):
        try:
            return Q(id_number_index=id_index(identity.validate_id(norm)))
        except identity.IdentityError:
            return Q(pk__in=[])
    if identity.CERT_RE.fullmatch(norm):
        return Q(pk__in=Certificate.objects.filter(number_index=certificate_index(norm)).values("person_id"))
    if re.fullmatch(r"[A-Za-z]+", q):
        low = q.lower()
        return Q(name_initials__startswith=low) | Q(name_pinyin__startswith=low)
    cond = Q(name__startswith=q) if len(q) == 1 else Q(name__contains=q)
    if len(q) > 1 and connection.vendor == "postgresql":
        # Implied by the containment (so the rows are the same), and answered by the GIN index
        # person_name_chars (migration 0003) instead of a scan of the whole table.
        cond &= Q(NameHasChars(q))
    return cond


class NameHasChars(Func):
    """PostgreSQL: every character of ``q`` occurs in the person's name.

    ``string_to_array(name, NULL) @> string_to_array(q, NULL)``: the expression of the GIN index
    ``person_name_chars``, so the planner can use it."""

    output_field = BooleanField()

    def __init__(self, q: str):
        super().__init__(F("name"), Value(q))

    def as_sql(self, compiler, connection, **extra_context):
        name_sql, name_params = compiler.compile(self.source_expressions[0])
        q_sql, q_params = compiler.compile(self.source_expressions[1])
        sql = f"string_to_array(({name_sql})::text, NULL) @> string_to_array(({q_sql})::text, NULL)"
        return sql, [*name_params, *q_params]


def persons_filtered(user, filters: PersonFilters, *, today: date) -> QuerySet:
    qs = access.persons_visible(user)
    cond = search_condition(filters.q)
    if cond is not None:
        qs = qs.filter(cond)
    if filters.town:
        qs = qs.filter(town_id=filters.town)
    if filters.community:
        qs = qs.filter(community_id=filters.community)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.category or filters.grade:
        cert = Certificate.objects.filter(is_current=True)
        if filters.category:
            cert = cert.filter(category=filters.category)
        if filters.grade:
            cert = cert.filter(grade=filters.grade)
        qs = qs.filter(pk__in=cert.values("person_id"))
    if filters.age_band in AGE_BANDS:
        start, end = _birth_range(filters.age_band, today)
        qs = qs.filter(birth_date__gte=start, birth_date__lte=end)
    return qs


def with_current_certificate(qs: QuerySet) -> QuerySet:
    return qs.select_related("town", "community").prefetch_related(
        Prefetch(
            "certificates",
            queryset=Certificate.objects.filter(is_current=True),
            to_attr="_current_certificates",
        )
    )


def person_page(
    user, filters: PersonFilters, *, today: date, after: int | None = None, limit: int = PAGE_SIZE
) -> Page:
    """Keyset pagination on descending id: no OFFSET, no COUNT(*) over the whole table.

    The page's ids are chosen first in a subquery that reads only ids (often straight from an index), and
    the rows are joined to their town and community only for those ids: joining before the LIMIT made the
    database fetch and join every match of a name or category search."""
    qs = persons_filtered(user, filters, today=today)
    if after:
        qs = qs.filter(pk__lt=after)
    ids = qs.order_by("-pk").values("pk")[: limit + 1]
    page = access.persons_visible(user).filter(pk__in=ids).order_by("-pk")
    rows = list(with_current_certificate(page))
    next_cursor = rows[limit - 1].pk if len(rows) > limit else None
    return Page(items=rows[:limit], next_cursor=next_cursor, filters=filters)


def person_detail(user, pk) -> Person:
    person = access.person_get(user, pk)
    person._current_certificates = list(person.certificates.filter(is_current=True))
    return person


def person_certificates(person: Person) -> list[Certificate]:
    return list(person.certificates.order_by("-issue_date", "-id"))


def person_economic_periods(person: Person):
    return list(person.economic_periods.order_by("-valid_from"))
