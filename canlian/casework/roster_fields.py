"""The cells every service roster reads the same way, for the ``RosterSpec`` modules in ``programmes/``.

- ``people_prepare``: validate every row's ID number and look the persons up by blind index (and which of them
  the user may register cases for), a few thousand keys per query, none per row.
- ``person_cell``: the row's person, with the Chinese "not registered" / "outside your area" / "name does not
  match" errors on the ID number and name columns.
- ``date_cell``: a date column (required or not, not after today or not).
- ``institutions_prepare`` and ``institution_cell``: an institution by name, of the programme's kinds and
  designated on the start date.
- ``choice_cell``: a choice column whose accepted spellings map to codes.
- ``repeat_cell``: the same key twice in the file.

Each ``*_cell`` writes its error (keyed by column) on the row and returns the value, or None.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from django.utils import timezone

from canlian.common.masking import mask_id_number
from canlian.registry import identity
from canlian.registry.validation import FieldError, parse_date

from .importing import Row

CHUNK = 2000  # keys per look-up query (SQLite allows 32,766 parameters; PostgreSQL plans short lists better)


def chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def text(value, *, spaces: bool = False) -> str:
    """A cell as text: whole floats without ".0", white space removed (``spaces``: runs of it made one
    space)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return (" " if spaces else "").join(str(value).split())


@dataclass
class People:
    by_index: dict  # blind index of the ID number → Person (or ``PersonFacts``)
    visible: set  # pks of those the user may register cases for

    @property
    def pks(self) -> list:
        return [p.pk for p in self.by_index.values()]


class PersonFacts:
    """The few fields of a person a roster reads, as plain values (``people_prepare(plain=…)``): building
    100,000 deferred model instances was 40 % of a 100,000-row import. Not a model instance: a write that
    needs one (``case_open``) loads it (``person_instances``)."""

    def __init__(self, pk, name, **fields):
        self.pk, self.name = pk, name
        self.__dict__.update(fields)

    @property
    def id(self):
        return self.pk


def person_instances(persons) -> dict:
    """pk → Person for the given persons (``PersonFacts`` or Person): one query per ``CHUNK``."""
    from canlian.registry.models import Person

    pks = sorted({p.pk for p in persons})
    out = {}
    for part in chunks(pks):
        out.update(Person.objects.in_bulk(list(part)))
    return out


def people_prepare(
    rows: list[Row],
    *,
    acting_user,
    key: str = "id_number",
    only: tuple[str, ...] = (),
    plain: tuple[str, ...] = (),
) -> People:
    """Validate each row's ID number (``values[key]``, ``values["index"]``, or the error on ``key``) and look
    the persons up in bulk. ``only``: the Person fields the roster reads (the others, encrypted ones among
    them, are then neither read nor decrypted: 100,000 rows; a roster that reads a field not listed pays one
    query per person). ``plain``: those fields read as values into ``PersonFacts`` instead of model
    instances (pk and name always)."""
    from canlian.accounts import access as core
    from canlian.registry.models import Person
    from canlian.registry.services import id_index

    indexes = set()
    for r in rows:
        try:
            r.values[key] = identity.validate_id(r.raw.get(key))
            r.values["index"] = id_index(r.values[key])
            indexes.add(r.values["index"])
        except identity.IdentityError as exc:
            r.errors[key] = str(exc)
    found = {}
    if plain:
        names = ("pk", "id_number_index", "name", *plain)
        for part in chunks(sorted(indexes)):
            for values in Person.objects.filter(id_number_index__in=part).values_list(*names):
                pk, index, name, *rest = values
                found[index] = PersonFacts(pk, name, **dict(zip(plain, rest, strict=True)))
    else:
        persons = Person.objects.only("id_number_index", "name", *only) if only else Person.objects.all()
        for part in chunks(sorted(indexes)):
            found.update((p.id_number_index, p) for p in persons.filter(id_number_index__in=part))
    people = People(found, set())
    scope = core.persons_visible(acting_user)
    for part in chunks(people.pks):
        people.visible.update(scope.filter(pk__in=part).values_list("pk", flat=True))
    return people


def person_cell(
    row: Row, people: People, *, who: str = "持证残疾人", scope: str = "该残疾人", key: str = "id_number"
):
    """The registered person the row names (``who`` and ``scope`` word the errors: 持证残疾人 / 该残疾人, 儿童 /
    该儿童); errors on ``key`` (not registered, outside the user's area) or on the name (empty, not the
    registry's)."""
    e = row.errors
    name = text(row.raw.get("name"))
    if not name:
        e["name"] = "姓名不能为空"
    if key in e:
        return None
    person = people.by_index.get(row.values["index"])
    if person is None:
        e[key] = f"未找到身份证号为 {mask_id_number(row.values[key])} 的{who}，请先登记"
        return None
    if person.pk not in people.visible:
        e[key] = f"{scope}不在您的管辖范围内"
        return None
    if name and person.name != name:
        e["name"] = f"姓名与登记不符（登记为“{person.name}”）"
    return person


def date_cell(
    row: Row, key: str, label: str, *, required: bool = False, not_future: bool = False
) -> date | None:
    """A date column: unparseable → the parser's message; empty and ``required`` → "…不能为空"; after
    today and ``not_future`` → "…不能晚于今天" (the date is still returned for further checks)."""
    try:
        day = parse_date(row.raw.get(key))
    except FieldError as exc:
        row.errors[key] = str(exc)
        return None
    if day is None:
        if required:
            row.errors[key] = f"{label}不能为空"
    elif not_future and day > timezone.localdate():
        row.errors[key] = f"{label}不能晚于今天"
    return day


def institutions_prepare(rows: list[Row], key: str = "institution") -> dict:
    """Name → Institution for the names the file uses."""
    from canlian.institutions.models import Institution

    names = sorted({text(r.raw.get(key)) for r in rows} - {""})
    out = {}
    for part in chunks(names):
        out.update((i.name, i) for i in Institution.objects.filter(name__in=part))
    return out


def institution_cell(
    row: Row,
    institutions: dict,
    *,
    kinds: tuple[str, ...],
    on: date | None,
    wrong_kind: str,
    designation: str = "认定",
    key: str = "institution",
):
    """The institution the row names: registered, of one of ``kinds`` (else "“X”是<kind>，<wrong_kind>") and
    designated on ``on`` (else "“X”在 <on> 不在<designation>有效期内")."""
    name = text(row.raw.get(key))
    inst = institutions.get(name)
    if not name:
        row.errors[key] = "服务机构不能为空"
    elif inst is None:
        row.errors[key] = f"未登记的服务机构“{name}”，请先在“服务机构”中登记并认定"
    elif inst.kind not in kinds:
        row.errors[key] = f"“{name}”是{inst.get_kind_display()}，{wrong_kind}"
    elif on and not inst.designated_on(on):
        row.errors[key] = f"“{name}”在 {on:%Y-%m-%d} 不在{designation}有效期内"
    else:
        return inst
    return None


def choice_cell(row: Row, key: str, label: str, aliases: dict, expected: str):
    """A choice column: the code of the spelling written, or "…不能为空" / "未知的<label>“x”，应为 <expected>"."""
    written = text(row.raw.get(key))
    code = aliases.get(written)
    if not written:
        row.errors[key] = f"{label}不能为空"
    elif code is None:
        row.errors[key] = f"未知的{label}“{written}”，应为 {expected}"
    return code


def repeat_cell(row: Row, seen: dict, key, *, column: str, message: str) -> None:
    """The first row with ``key`` is remembered; a later row with the same key and no other error gets
    ``message`` (with ``{row}``: the first row's number) on ``column``."""
    if key in seen and not row.errors:
        row.errors[column] = message.format(row=seen[key])
    seen.setdefault(key, row.row)
