"""Payroll generation on SQLite commits in slices (``payroll._generate_sliced``): SQLite's write lock is free
between slices, the batch is the same as one generated in one transaction, a failed generation leaves
nothing behind, and a batch left "生成中" by a process that died is generated again later.

王芳 (甪直镇) and 李强 (木渎镇) are both on the living allowance from May 2023 (328.50 a month): June's
batch has 4 lines, written here one line per slice."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection  # noqa: F401  (the skipif conditions name it)
from django.utils import timezone

from canlian.benefits.models import Payroll, PayrollLine
from canlian.benefits.services import payroll as payroll_module
from canlian.benefits.services.payroll import payroll_generate
from canlian.common.models import AuditLog

from . import test_views_pages as shared
from . import test_views_payroll as views_shared

staff_fixture = shared.staff_fixture
living_fixture = shared.living_fixture
dibao_person_fixture = shared.dibao_person_fixture
two_towns = views_shared.two_towns

pytestmark = [pytest.mark.usefixtures("example_standards_2023"), pytest.mark.django_db(transaction=True)]
JUNE = date(2023, 6, 1)


@pytest.fixture(autouse=True)
def sliced(settings, monkeypatch):
    """Sliced writes (the SQLite default; forced on PostgreSQL too), one line per slice, June 2023."""
    settings.CANLIAN_SLICED_WRITES = True
    monkeypatch.setattr(payroll_module, "SLICE_LINES", 1)
    real = payroll_module.timezone
    monkeypatch.setattr(
        payroll_module, "timezone", SimpleNamespace(localdate=lambda: date(2023, 6, 15), now=real.now)
    )


def lines_of(payroll) -> list[tuple]:
    return list(
        PayrollLine.objects.filter(payroll=payroll)
        .order_by("id")
        .values_list("person__name", "kind", "for_month", "amount_fen", "status")
    )


def test_sliced_generation_writes_the_whole_batch_in_order(staff, two_towns, living):
    payroll = payroll_generate(acting_user=staff["district"], programme=living, month=JUNE)
    assert (payroll.status, payroll.line_count, payroll.total_fen) == ("draft", 4, 131400)
    assert lines_of(payroll) == [
        ("王芳", "arrears", date(2023, 5, 1), 32850, "pending"),
        ("王芳", "regular", JUNE, 32850, "pending"),
        ("李强", "arrears", date(2023, 5, 1), 32850, "pending"),
        ("李强", "regular", JUNE, 32850, "pending"),
    ]
    (audit,) = AuditLog.objects.filter(action="payroll.generate")
    assert (audit.object_id, audit.changes["lines"], audit.changes["total"]) == (
        str(payroll.pk),
        [None, 4],
        [None, "1314.00"],
    )


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_the_write_lock_is_free_between_slices(staff, two_towns, living, other_writer_can_write):
    """Before: one transaction held the lock for the whole generation; a sign-in waited, then failed.
    Now after each slice (the progress report) another connection can write at once."""
    seen = []

    def progress(done, total, message=""):
        seen.append((done, total, message, other_writer_can_write()))

    payroll_generate(acting_user=staff["district"], programme=living, month=JUNE, progress=progress)
    assert [s for s in seen if s[2] == "正在写入发放明细"] == [
        (n, 4, "正在写入发放明细", True) for n in (1, 2, 3, 4)
    ]
    assert all(s[3] for s in seen)


def test_a_failed_generation_leaves_no_batch_and_can_be_run_again(staff, two_towns, living, monkeypatch):
    real, calls = payroll_module._bulk_create_lines, []

    def third_slice_fails(rows):
        calls.append(rows.height)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        real(rows)

    monkeypatch.setattr(payroll_module, "_bulk_create_lines", third_slice_fails)
    with pytest.raises(RuntimeError, match="disk full"):
        payroll_generate(acting_user=staff["district"], programme=living, month=JUNE)
    assert (Payroll.objects.count(), PayrollLine.objects.count()) == (0, 0)
    assert not AuditLog.objects.filter(action="payroll.generate").exists()
    monkeypatch.setattr(payroll_module, "_bulk_create_lines", real)
    payroll = payroll_generate(acting_user=staff["district"], programme=living, month=JUNE)
    assert (payroll.line_count, PayrollLine.objects.filter(payroll=payroll).count()) == (4, 4)


def test_a_batch_left_generating_by_a_dead_process_is_generated_again_once_stale(staff, two_towns, living):
    """A process killed between slices leaves a "生成中" batch with some lines: no workflow move starts from
    it, the next generation returns it while it may still be running, and replaces it once stale."""
    dead = Payroll.objects.create(
        programme=living, month=JUNE, status="generating", created_by=staff["district"]
    )
    PayrollLine.objects.create(
        payroll=dead,
        enrolment=two_towns["luzhi"].enrolments.get(),
        person=two_towns["luzhi"],
        town=two_towns["luzhi"].town,
        kind="arrears",
        for_month=date(2023, 5, 1),
        amount_fen=32850,
    )
    assert payroll_generate(acting_user=staff["district"], programme=living, month=JUNE).pk == dead.pk
    Payroll.objects.filter(pk=dead.pk).update(
        created_at=timezone.now() - payroll_module.GENERATING_STALE - timedelta(seconds=1)
    )
    payroll = payroll_generate(acting_user=staff["district"], programme=living, month=JUNE)
    assert payroll.pk != dead.pk
    assert (payroll.status, payroll.line_count) == ("draft", 4)
    assert list(Payroll.objects.values_list("pk", flat=True)) == [payroll.pk]
    assert PayrollLine.objects.count() == 4
