"""The demo load with sliced writes (the SQLite default, ``common.bulk.sliced_writes``): each batch of
persons is its own ``write_slice`` with its own ``demo.load`` audit row; the persons are the same as in one
transaction; a load stopped midway keeps the batches written and ``--reset`` (``demo_persons_delete``)
finds and removes them."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date

import pytest

from canlian.accounts.services import system_user
from canlian.common import bulk
from canlian.common.models import AuditLog
from canlian.registry import demo
from canlian.registry.models import Certificate, EconomicStatusPeriod, Person

pytestmark = pytest.mark.django_db
TODAY = date(2025, 6, 1)


def _people():
    return sorted(
        (p.id_number, p.name, p.birth_date, p.status, p.town_id, p.current_certificate.number)
        for p in Person.objects.prefetch_related("certificates")
    )


@pytest.fixture
def slices(monkeypatch):
    """Counts the slices the demo enters (and whether progress is reported outside them)."""
    seen = {"entered": 0, "open": 0, "progress_inside": 0}

    @contextmanager
    def counting():
        seen["entered"] += 1
        seen["open"] += 1
        try:
            with bulk.write_slice():
                yield
        finally:
            seen["open"] -= 1

    monkeypatch.setattr(demo, "write_slice", counting)
    return seen


def test_the_demo_load_commits_batch_by_batch_with_the_same_persons(settings, db, slices):
    system = system_user()
    settings.CANLIAN_SLICED_WRITES = False
    demo.demo_load(persons=250, seed=7, acting_user=system, today=TODAY, batch_size=100)
    one_transaction = _people()
    assert AuditLog.objects.filter(action="demo.load").count() == 1
    demo.demo_persons_delete(acting_user=system)

    settings.CANLIAN_SLICED_WRITES = True
    slices["entered"] = 0

    def progress(done, total, message=""):
        slices["progress_inside"] += slices["open"]

    result = demo.demo_load(
        persons=250, seed=7, acting_user=system, today=TODAY, batch_size=100, progress=progress
    )

    assert slices["entered"] == 1 + 3  # the communities, then three batches of persons
    assert slices["progress_inside"] == 0
    assert _people() == one_transaction
    assert result.persons == 250 and result.certificates == Certificate.objects.count()
    ranges = [
        (a.changes["first_id"], a.changes["last_id"], a.changes["persons"])
        for a in AuditLog.objects.filter(action="demo.load").order_by("pk")[1:]
    ]
    assert [n for _, _, n in ranges] == [100, 100, 50]
    assert (ranges[0][0], ranges[-1][1]) == (result.first_id, result.last_id)


def test_a_load_stopped_midway_keeps_its_batches_and_reset_removes_them(settings, db, monkeypatch):
    settings.CANLIAN_SLICED_WRITES = True
    system = system_user()
    real = demo._demo_batch_write
    calls = {"n": 0}

    def stop_at_the_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(demo, "_demo_batch_write", stop_at_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        demo.demo_load(persons=250, seed=7, acting_user=system, today=TODAY, batch_size=100)

    assert Person.objects.count() == 200
    assert AuditLog.objects.filter(action="demo.load").count() == 2
    removed = demo.demo_persons_delete(acting_user=system)
    assert removed.persons == 200
    assert (Person.objects.count(), Certificate.objects.count(), EconomicStatusPeriod.objects.count()) == (
        0,
        0,
        0,
    )
