"""The comparison run with sliced writes (the SQLite default, ``common.bulk.sliced_writes``): the same
findings as in one transaction; a run stopped midway keeps what it wrote, is marked failed, and running
again completes it without a duplicate finding; one sliced run at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from canlian.common.exceptions import DomainError
from canlian.common.models import AuditLog
from canlian.verification import engine
from canlian.verification.models import Finding, Match, OutsideList, VerificationRun
from canlian.verification.services import RUN_INTERRUPTED, verification_run

from . import test_findings, world

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_per_slice(settings, monkeypatch):
    settings.CANLIAN_SLICED_WRITES = True
    monkeypatch.setattr(engine, "WRITE_SLICE", 1)


@pytest.fixture
def lists(staff, make_person):
    w = world.build(make_person)
    w["imports"] = world.import_lists(staff["district"], w["persons"])
    return w


@pytest.mark.parametrize("sliced", [True, False], ids=["sliced", "one-transaction"])
def test_the_findings_are_the_same_sliced_or_in_one_transaction(sliced, settings, monkeypatch, staff, lists):
    settings.CANLIAN_SLICED_WRITES = sliced
    monkeypatch.setattr(engine, "WRITE_SLICE", 1)  # every match and finding its own slice
    lists["run"] = verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    assert lists["run"].status == "done"
    test_findings.test_every_kind_of_finding_once(lists)
    assert OutsideList.objects.filter(processed_at__isnull=True).count() == 0


def test_a_run_stopped_midway_keeps_what_it_wrote_and_a_rerun_completes_it_without_duplicates(
    one_per_slice, staff, lists, monkeypatch
):
    real = engine.audit_record_many
    calls = {"n": 0}

    def failing_third_slice(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(**kwargs)

    monkeypatch.setattr(engine, "audit_record_many", failing_third_slice)
    with pytest.raises(RuntimeError):
        verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    monkeypatch.setattr(engine, "audit_record_many", real)

    stopped = VerificationRun.objects.get()
    assert (stopped.status, stopped.stats, stopped.finished_at is not None) == (
        "failed",
        {"error": RUN_INTERRUPTED},
        True,
    )
    # two slices of findings were written with their audit rows; nothing of the third
    assert Finding.objects.filter(run=stopped).count() == 2
    assert AuditLog.objects.filter(action="finding.create").count() == 2
    assert not AuditLog.objects.filter(action="verification.run").exists()
    # the matches are kept but not marked used; the lists are still to be processed
    assert Match.objects.exists() and not Match.objects.filter(applied=True).exists()
    assert OutsideList.objects.filter(processed_at__isnull=True).count() == OutsideList.objects.count()

    again = verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    assert again.status == "done"
    assert sum(again.stats["findings"].values()) == 11  # the 13 of the world, less the 2 already written
    keys = list(Finding.objects.values_list("kind", "person_id", "enrolment_id"))
    assert len(keys) == len(set(keys)) == 13
    assert AuditLog.objects.filter(action="finding.create").count() == 13
    assert not Match.objects.filter(applied=False, status__in=["auto", "confirmed"]).exists()
    assert OutsideList.objects.filter(processed_at__isnull=True).count() == 0


def test_one_sliced_run_at_a_time_and_a_stale_one_is_marked_failed(one_per_slice, staff, lists):
    other = VerificationRun.objects.create(started_by=staff["district2"], month=world.RUN_MONTH)
    with pytest.raises(DomainError) as refused:
        verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    assert refused.value.message.startswith(f"另一次数据比对（#{other.pk}，")
    assert refused.value.message.endswith("开始）正在进行，请等它完成后再运行")
    assert VerificationRun.objects.count() == 1 and not Finding.objects.exists()

    # its process died two hours ago: marked failed, and the new run goes ahead
    VerificationRun.objects.filter(pk=other.pk).update(started_at=timezone.now() - timedelta(hours=2))
    run = verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    other.refresh_from_db()
    assert (other.status, other.stats) == ("failed", {"error": RUN_INTERRUPTED})
    assert run.status == "done" and Finding.objects.filter(run=run).count() == 13
