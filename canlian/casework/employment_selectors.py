"""Employment's lists (issue 11 §1), read through ``employment_access``: one ``Listing`` per record kind (the
queryset the user may see, its town / month / kind filters, its columns for the page and the Excel export).

Pages are keyset-free offset pages ordered by an indexed date and id, read one row more than shown to know if
there is a next page: no COUNT over the table. ``export_write(user, what, filters, out, progress)`` is the
export builder (rows written with the project's xlsx writer); the view calls it directly and a background job
can call the same function (``common/exports.py`` had not landed when this was written).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.db.models import Count, QuerySet

from canlian.accounts import access as core
from canlian.common.jobs import Progress, noop_progress
from canlian.common.spreadsheet import XlsxBook
from canlian.registry.models import EmploymentKind, EmploymentStatus

from . import employment_access as ea
from .models import JobFairKind, TrainingKind

PAGE = 50


@dataclass(frozen=True)
class Column:
    label: str
    value: Callable  # row → cell (str, int, date)
    link: bool = False  # the cell links to the row's detail page


@dataclass(frozen=True)
class Listing:
    code: str
    title: str
    visible: Callable  # user → queryset
    date_field: str  # the month filter and the order
    town_field: str
    columns: tuple[Column, ...]
    kind_field: str = ""
    kinds: tuple = ()
    related: tuple[str, ...] = ()
    new_url: str = ""
    detail_url: str = ""  # URL name taking the row's pk
    readers: Callable = ea.can_read
    writers: Callable = ea.can_write


def _masked(r):
    return r.person.masked_id


LISTINGS: dict[str, Listing] = {
    "periods": Listing(
        code="periods",
        title="就业登记",
        visible=lambda u: ea.periods_visible(u).filter(status=EmploymentStatus.EMPLOYED),
        date_field="valid_from",
        town_field="person__town_id",
        kind_field="kind",
        kinds=tuple(EmploymentKind.choices),
        related=("person", "person__town"),
        new_url="casework:employment_new",
        columns=(
            Column("姓名", lambda r: r.person.name),
            Column("身份证号", _masked),
            Column("镇(街道)", lambda r: r.person.town.name),
            Column("就业形式", lambda r: r.get_kind_display() or "未填写"),
            Column("就业单位", lambda r: r.employer),
            Column("开始日期", lambda r: r.valid_from),
            Column("结束日期", lambda r: r.valid_to or "至今"),
            Column("来源", lambda r: r.source),
        ),
    ),
    "job_fairs": Listing(
        code="job_fairs",
        title="招聘活动",
        visible=ea.job_fairs_visible,
        date_field="held_on",
        town_field="town_id",
        kind_field="kind",
        kinds=tuple(JobFairKind.choices),
        related=("town",),
        new_url="casework:job_fair_new",
        columns=(
            Column("活动名称", lambda r: r.title),
            Column("类型", lambda r: r.get_kind_display()),
            Column("举办日期", lambda r: r.held_on),
            Column("镇(街道)", lambda r: r.town.name),
            Column("地点", lambda r: r.place),
            Column("参会企业", lambda r: r.employers),
            Column("岗位数", lambda r: r.positions),
            Column("参会残疾人", lambda r: r.attendees),
            Column("达成意向", lambda r: r.offers),
        ),
    ),
    "training": Listing(
        code="training",
        title="培训班",
        visible=lambda u: ea.training_visible(u).annotate(n_enrolled=Count("enrolments")),
        date_field="starts_on",
        town_field="town_id",
        kind_field="kind",
        kinds=tuple(TrainingKind.choices),
        related=("town",),
        new_url="casework:training_new",
        detail_url="casework:training_detail",
        columns=(
            Column("培训班", lambda r: r.name, link=True),
            Column("类型", lambda r: r.get_kind_display()),
            Column("培训内容", lambda r: r.subject),
            Column("镇(街道)", lambda r: r.town.name),
            Column("开班日期", lambda r: r.starts_on),
            Column("结业日期", lambda r: r.ends_on),
            Column("学员数", lambda r: r.n_enrolled),
        ),
    ),
    "aux_projects": Listing(
        code="aux_projects",
        title="辅助性就业项目",
        visible=lambda u: ea.projects_visible(u).annotate(n_members=Count("members")),
        date_field="started_on",
        town_field="town_id",
        related=("town", "institution"),
        new_url="casework:aux_project_new",
        detail_url="casework:aux_project_detail",
        readers=ea.can_read_projects,
        columns=(
            Column("项目", lambda r: r.name, link=True),
            Column("合作企业", lambda r: r.company),
            Column("残疾人之家", lambda r: r.institution.name),
            Column("镇(街道)", lambda r: r.town.name),
            Column("开始日期", lambda r: r.started_on),
            Column("人数", lambda r: r.n_members),
        ),
    ),
    "practitioners": Listing(
        code="practitioners",
        title="盲人按摩从业人员",
        visible=ea.practitioners_visible,
        date_field="since",
        town_field="person__town_id",
        related=("person", "person__town"),
        new_url="casework:practitioner_new",
        columns=(
            Column("姓名", lambda r: r.person.name),
            Column("身份证号", _masked),
            Column("镇(街道)", lambda r: r.person.town.name),
            Column("资格等级", lambda r: r.qualification),
            Column("执业机构", lambda r: r.workplace),
            Column("从业起始", lambda r: r.since),
        ),
    ),
}


@dataclass(frozen=True)
class Filters:
    town: int | None = None
    month: date | None = None  # the first of the month
    kind: str = ""

    @classmethod
    def parse(cls, user, listing: Listing, get) -> Filters:
        town = get.get("town", "")
        town_id = int(town) if town.isdigit() and core.town_scope(user) is None else None
        month = None
        raw = get.get("month", "")
        try:
            year, mon = (int(x) for x in raw.split("-"))
            month = date(year, mon, 1)
        except ValueError:
            month = None
        kind = get.get("kind", "")
        return cls(town_id, month, kind if kind in dict(listing.kinds) else "")

    def as_dict(self) -> dict:
        return {
            "town": self.town or "",
            "month": f"{self.month:%Y-%m}" if self.month else "",
            "kind": self.kind,
        }


def listing_rows(user, listing: Listing, f: Filters) -> QuerySet:
    qs = listing.visible(user)
    if f.town:
        qs = qs.filter(**{listing.town_field: f.town})
    if f.month:
        nxt = date(f.month.year + (f.month.month == 12), f.month.month % 12 + 1, 1)
        qs = qs.filter(**{f"{listing.date_field}__gte": f.month, f"{listing.date_field}__lt": nxt})
    if f.kind and listing.kind_field:
        qs = qs.filter(**{listing.kind_field: f.kind})
    if listing.related:
        qs = qs.select_related(*listing.related)
    return qs.order_by(f"-{listing.date_field}", "-id")


def listing_page(user, listing: Listing, f: Filters, page: int) -> tuple[list, bool]:
    """One page (rows, has next) without counting the set."""
    start = (max(page, 1) - 1) * PAGE
    rows = list(listing_rows(user, listing, f)[start : start + PAGE + 1])
    return rows[:PAGE], len(rows) > PAGE


def export_write(user, what: str, f: Filters, out, progress: Progress = noop_progress) -> int:
    """Write the filtered rows the user may see to ``out`` (xlsx); the number of rows written."""
    listing = LISTINGS[what]
    qs = listing_rows(user, listing, f)
    n = 0
    with XlsxBook(out, constant_memory=True) as book:
        sheet = book.add_sheet(listing.title, [c.label for c in listing.columns])
        for row in qs.iterator(chunk_size=2000):
            sheet.append([c.value(row) for c in listing.columns])
            n += 1
            if n % 2000 == 0:
                progress(n, 0, "导出中")
    progress(n, n, "导出完成")
    return n


# ---- the person timeline ----------------------------------------------------------------------------------


def timeline_entries(user, person) -> list:
    """Employment on a person's timeline: employed periods, training enrolments, auxiliary-employment
    projects, the blind-massage practice; each read through the user's scope (nothing when out of it)."""
    from django.urls import reverse

    from canlian.registry.timeline import TimelineEntry

    out = []
    if ea.can_read(user):
        for p in ea.periods_visible(user).filter(person=person, status=EmploymentStatus.EMPLOYED):
            span = (
                f"{p.valid_from:%Y-%m-%d}～{p.valid_to:%Y-%m-%d}"
                if p.valid_to
                else f"{p.valid_from:%Y-%m-%d} 起"
            )
            who = f"，{p.employer}" if p.employer else ""
            out.append(
                TimelineEntry(
                    p.valid_from,
                    "就业",
                    f"{p.get_kind_display() or '就业'}（{span}{who}）",
                    "已结束" if p.valid_to else "在业",
                )
            )
        for e in (
            ea.training_visible(user)
            .filter(enrolments__person=person)
            .values("pk", "name", "starts_on", "enrolments__certificate")
        ):
            out.append(
                TimelineEntry(
                    e["starts_on"],
                    "就业",
                    f"参加培训：{e['name']}",
                    e["enrolments__certificate"] or "已报名",
                    reverse("casework:training_detail", args=[e["pk"]]),
                )
            )
        for m in ea.practitioners_visible(user).filter(person=person):
            out.append(
                TimelineEntry(m.since, "就业", f"盲人按摩从业：{m.qualification}", m.workplace or "从业")
            )
    if ea.can_read_projects(user):
        for m in (
            ea.projects_visible(user)
            .filter(members__person=person)
            .values("pk", "name", "company", "members__joined_on")
        ):
            out.append(
                TimelineEntry(
                    m["members__joined_on"],
                    "就业",
                    f"辅助性就业：{m['name']}（{m['company']}）",
                    "参加",
                    reverse("casework:aux_project_detail", args=[m["pk"]]),
                )
            )
    return out
