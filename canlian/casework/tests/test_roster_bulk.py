"""The set-based roster commit (``commit_many`` / ``services.case_open_many``) writes exactly the rows of the
per-row path (``case_open`` / ``case_update`` one row at a time), and keeps its checks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from canlian.casework import importing, services
from canlian.casework.importing import roster_import
from canlian.casework.models import Case, DueItem
from canlian.casework.services import Opening, case_open, case_open_many
from canlian.common import staged_import
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog, WorkflowHistory

from .conftest import xlsx_bytes

pytestmark = pytest.mark.django_db

HEADERS = ["姓名", "身份证号", "托养方式", "服务机构", "开始日期", "结束日期"]
CASE_FIELDS = [
    f.attname for f in Case._meta.concrete_fields if f.attname not in ("id", "created_at", "updated_at")
]


def _snapshot(audit_after: int) -> dict:
    """Every case, due item, workflow history and audit row the import wrote, ids and times left out and
    references to cases made (person, programme, start) so that two runs compare."""
    key = {
        c["id"]: (c["person_id"], c["programme"], c["opened_on"])
        for c in Case.objects.values("id", "person_id", "programme", "opened_on")
    }
    cases = sorted(
        (tuple((f, c[f]) for f in CASE_FIELDS) for c in Case.objects.values(*CASE_FIELDS)), key=repr
    )
    items = sorted(
        (key[d.case_id], d.kind, d.seq, d.due_on, d.done_on, d.done_by_id, d.note, d.cancelled)
        for d in DueItem.objects.all()
    )
    ct = ContentType.objects.get_for_model(Case)
    history = sorted(
        (key[int(h.object_id)], h.workflow, h.move, h.from_state, h.to_state, h.by_id, h.note, repr(h.data))
        for h in WorkflowHistory.objects.filter(content_type=ct)
    )
    audits = sorted(
        (
            a.action,
            a.object_type,
            key.get(int(a.object_id)) if a.object_type == "casework.case" else a.object_id,
            a.object_repr,
            repr(sorted(a.changes.items())),
            a.user_id,
            a.username,
            a.role,
            a.result,
            a.ip,
            a.detail,
        )
        for a in AuditLog.objects.filter(pk__gt=audit_after)
    )
    return {"cases": cases, "due_items": items, "history": history, "audit": audits}


@pytest.fixture
def roster(users, make_person, provider, provider_mudu, id_for):
    today = timezone.localdate()
    people = [
        make_person(name="张伟", category=5, grade=2, birth=date(1990, 3, 1)),
        make_person(name="李娜", category=4, grade=3, birth=date(1985, 7, 9)),  # outside the target
        make_person(name="王芳", category=6, grade=1, birth=date(1970, 1, 1), town="木渎镇"),
        make_person(name="刘洋", category=5, grade=1, birth=date(1995, 2, 2)),
        make_person(name="陈静", category=1, grade=1, birth=date(1980, 8, 8), town="木渎镇"),
        make_person(name="周强", category=6, grade=2, birth=date(1975, 4, 4)),
        make_person(name="吴敏", category=5, grade=3, birth=date(2000, 6, 6)),
    ]
    # already on record: one the file corrects (mode and end date), one it repeats unchanged
    case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=people[5],
        opened_on=date(2022, 1, 10),
        institution=provider,
        state="placed",
        data={"mode": "day_care"},
        source="import",
    )
    case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=people[6],
        opened_on=date(2022, 2, 1),
        institution=provider,
        state="placed",
        data={"mode": "home"},
        source="import",
    )
    p = people
    rows = [
        ["张伟", p[0].id_number, "日间照料", provider.name, date(2023, 3, 1), None],
        ["李娜", p[1].id_number, "寄宿制", provider.name, "2023/4/1", "2023年6月30日"],  # ended
        ["王芳", p[2].id_number, "日托", provider_mudu.name, "2023-05-01", ""],
        [
            "刘洋",
            p[3].id_number,
            "居家",
            provider.name,
            today - timedelta(days=100),
            today + timedelta(days=40),
        ],
        ["陈静", p[4].id_number, "全托", provider_mudu.name, "2021-12-31", "2022-03-15"],
        ["张伟", p[0].id_number, "寄宿", provider_mudu.name, "2024-01-02", ""],  # a second placement
        ["周强", p[5].id_number, "寄宿制", provider.name, "2022-01-10", "2022-05-31"],  # corrected
        ["吴敏", p[6].id_number, "居家托养", provider.name, "2022-02-01", ""],  # unchanged
        ["赵六", id_for(date(1988, 1, 1), 77), "居家托养", provider.name, "2023-05-01", ""],  # not registered
        ["张伟", p[0].id_number, "上门", provider.name, "2023-06-01", ""],  # unknown mode
        ["张伟", p[0].id_number, "日间照料", provider.name, date(2023, 3, 1), None],  # repeated
    ]
    return xlsx_bytes(HEADERS, rows)


def _run(monkeypatch, users, data, *, bulk: bool, sliced: bool = False):
    monkeypatch.setattr(importing, "BULK_MIN_ROWS", 0 if bulk else 10**9)
    # sliced: the commit of SQLite (forced here on any database), three valid rows per slice
    monkeypatch.setattr(settings, "CANLIAN_SLICED_WRITES", sliced, raising=False)
    monkeypatch.setattr(staged_import, "SLICE_ROWS", 3)
    monkeypatch.setattr(services, "OPEN_SLICE", 4)  # the 6 new cases in two slices
    calls = {"many": 0}
    real = services.case_open_many

    def spy(**kwargs):
        calls["many"] += 1
        return real(**kwargs)

    monkeypatch.setattr(services, "case_open_many", spy)
    after = AuditLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with transaction.atomic():
        staged = roster_import("custodial_care", data, acting_user=users["district"])
        snap = _snapshot(after)
        transaction.set_rollback(True)
    assert calls["many"] == ((3 if sliced else 1) if bulk else 0)  # sliced: 8 valid rows, 3 slices
    return staged, snap


def test_bulk_commit_writes_exactly_the_rows_of_the_per_row_path(monkeypatch, users, roster):
    per_row, rows_a = _run(monkeypatch, users, roster, bulk=False)
    bulk, rows_b = _run(monkeypatch, users, roster, bulk=True)
    counts = {"rows": 11, "created": 6, "updated": 1, "unchanged": 1, "rejected": 3}
    assert per_row.counts == bulk.counts == counts
    assert list(per_row.warnings()) == list(bulk.warnings()) != []
    # what is compared is not empty: 8 cases, the visits of the placed ones, 6 opening + 1 update audit rows
    assert len(rows_a["cases"]) == 8
    assert len(rows_a["due_items"]) > 24
    assert sorted(a[0] for a in rows_a["audit"]) == ["case.custodial_care.open"] * 6 + [
        "case.custodial_care.update",
        "roster.import",
    ]
    assert rows_a["history"] == []  # opening a case is not a workflow move (nor in case_open)
    for table in ("cases", "due_items", "history", "audit"):
        assert rows_a[table] == rows_b[table], table
    # the sliced commit (SQLite's) writes the same rows too, the import's audit row with the last slice
    sliced, rows_c = _run(monkeypatch, users, roster, bulk=True, sliced=True)
    assert sliced.counts == counts
    for table in ("cases", "due_items", "history", "audit"):
        assert rows_a[table] == rows_c[table], table
    # the case ending in 40 days has its visits up to its end only, in both
    liu = [d for d in rows_b["due_items"] if d[0][1] == "custodial_care" and d[0][2] > date(2024, 12, 31)]
    assert liu and all(d[3] <= timezone.localdate() + timedelta(days=40) for d in liu)


def test_bulk_open_keeps_the_checks(users, make_person, provider, make_user):
    luzhi = make_person(name="张伟", birth=date(1990, 3, 1))
    mudu = make_person(name="王芳", birth=date(1970, 1, 1), town="木渎镇")
    before = (Case.objects.count(), DueItem.objects.count(), AuditLog.objects.count())

    def opening(person, **kw):
        return Opening(person=person, opened_on=date(2023, 3, 1), institution=provider, state="placed", **kw)

    with pytest.raises(PermissionDenied, match="无权为其登记"):
        case_open_many(
            acting_user=users["town_luzhi"],
            programme="custodial_care",
            openings=[opening(luzhi), opening(mudu)],
        )
    inst_user = make_user("inst_x", "institution_staff")
    with pytest.raises(PermissionDenied, match="您无权登记残疾人托养个案"):
        case_open_many(acting_user=inst_user, programme="custodial_care", openings=[opening(luzhi)])
    with pytest.raises(ValidationFailed) as exc:
        case_open_many(
            acting_user=users["district"],
            programme="custodial_care",
            openings=[opening(luzhi), Opening(person=mudu, opened_on=date(2019, 1, 1), institution=provider)],
        )
    assert "不在认定有效期内" in exc.value.errors["institution"]
    with pytest.raises(ValidationFailed) as exc:
        case_open_many(
            acting_user=users["district"],
            programme="custodial_care",
            openings=[opening(luzhi, closed_on=date(2023, 2, 1))],
        )
    assert exc.value.errors == {"closed_on": "结束日期不能早于开始日期"}
    assert (Case.objects.count(), DueItem.objects.count(), AuditLog.objects.count()) == before


def test_bulk_ids_follow_every_id_ever_used(users, make_person, provider):
    """Ids are reserved without reading rows back: never one of a deleted case (SQLite's AUTOINCREMENT
    counter, PostgreSQL's sequence), and the due items and audit rows point at the right case."""
    a = make_person(name="张伟", birth=date(1990, 3, 1))
    b = make_person(name="王芳", birth=date(1970, 1, 1))
    first = case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=a,
        opened_on=date(2023, 1, 5),
        institution=provider,
        state="placed",
        data={"mode": "home"},
    )
    gone = first.pk
    first.delete()
    ids = case_open_many(
        acting_user=users["district"],
        programme="custodial_care",
        openings=[
            Opening(
                person=a,
                opened_on=date(2023, 3, 1),
                institution=provider,
                state="placed",
                data={"mode": "home"},
            ),
            Opening(
                person=b,
                opened_on=date(2023, 4, 1),
                institution=provider,
                state="ended",
                closed_on=date(2023, 9, 1),
            ),
        ],
    )
    assert len(ids) == 2 and min(ids) > gone
    placed, ended = Case.objects.get(pk=ids[0]), Case.objects.get(pk=ids[1])
    assert (placed.person, placed.opened_on, placed.state, placed.data) == (
        a,
        date(2023, 3, 1),
        "placed",
        {"mode": "home"},
    )
    assert (ended.person, ended.closed_on, ended.state) == (b, date(2023, 9, 1), "ended")
    assert list(placed.due_items.values_list("seq", "due_on"))[:2] == [
        (1, date(2023, 3, 31)),
        (2, date(2023, 4, 30)),
    ]
    assert placed.due_items.count() == 12 and not ended.due_items.exists()
    audit = AuditLog.objects.get(action="case.custodial_care.open", object_id=str(ids[0]))
    assert audit.object_repr == str(placed) and audit.changes["due_items"] == [None, 12]
    # the next case opened the ordinary way does not collide
    nxt = case_open(
        acting_user=users["district"],
        programme="custodial_care",
        person=b,
        opened_on=date(2024, 1, 1),
        institution=provider,
        state="placed",
    )
    assert nxt.pk > max(ids)
