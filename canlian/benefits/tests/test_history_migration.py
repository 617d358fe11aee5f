"""Migrations benefits 0005/0006: the application moves recorded in ``ApplicationTransition`` and the payroll
moves recorded only in the audit log become ``WorkflowHistory`` rows (times, users and notes kept), so the
detail page shows every move and maker ≠ checker holds across the release; reversing copies them back."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from canlian.benefits.models import Payroll
from canlian.benefits.services.applications import application_create
from canlian.benefits.services.payroll import payroll_transition
from canlian.common.audit import audit_record
from canlian.common.exceptions import PermissionDenied
from canlian.common.models import WorkflowHistory
from canlian.common.workflow import history_of

from . import test_views_pages as shared

staff_fixture = shared.staff_fixture
living_fixture = shared.living_fixture
dibao_person_fixture = shared.dibao_person_fixture

BEFORE = [("benefits", "0004_application_approval_posting")]
pytestmark = pytest.mark.usefixtures("example_standards_2023")


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes("benefits")


@pytest.mark.django_db(transaction=True)
def test_old_history_is_carried_into_the_workflow_history_and_back(staff, dibao_person, living):
    app = application_create(
        acting_user=staff["town_luzhi"], person=dibao_person, programme=living, applied_on=date(2023, 5, 10)
    )
    payroll = Payroll.objects.create(
        programme=living,
        month=date(2023, 6, 1),
        status="reviewed",
        line_count=1,
        created_by=staff["district"],
    )
    # the payroll was reviewed before the release: only its audit row says by whom
    audit_record(
        acting_user=staff["district"],
        action="payroll.transition",
        obj=payroll,
        changes={"status": ["draft", "reviewed"]},
    )
    try:
        old = _migrate(BEFORE)
        Transition = old.get_model("benefits", "ApplicationTransition")
        at1, at2 = datetime(2023, 5, 10, 2, 0, tzinfo=UTC), datetime(2023, 5, 11, 3, 0, tzinfo=UTC)
        Transition.objects.create(
            application_id=app.pk, from_status="draft", to_status="submitted", by_id=staff["town_luzhi"].pk
        )
        Transition.objects.create(
            application_id=app.pk,
            from_status="submitted",
            to_status="town_reviewed",
            by_id=staff["luzhi2"].pk,
            note="材料齐全",
        )
        first, second = Transition.objects.order_by("id")
        Transition.objects.filter(pk=first.pk).update(at=at1)
        Transition.objects.filter(pk=second.pk).update(at=at2)
        Application = old.get_model("benefits", "Application")
        Application.objects.filter(pk=app.pk).update(status="town_reviewed", version=2)

        _migrate([("benefits", leaf[1]) for leaf in _latest()])
        moves = [
            (h.move, h.move_label, h.from_state, h.to_state, h.by_id, h.at, h.note) for h in history_of(app)
        ]
        assert moves == [
            ("submit", "提交", "draft", "submitted", staff["town_luzhi"].pk, at1, ""),
            (
                "town_review",
                "镇(街道)初审通过",
                "submitted",
                "town_reviewed",
                staff["luzhi2"].pk,
                at2,
                "材料齐全",
            ),
        ]
        assert [(h.move, h.by_id) for h in history_of(payroll)] == [("review", staff["district"].pk)]
        # maker ≠ checker holds for the batch reviewed before the release
        payroll.refresh_from_db()
        with pytest.raises(PermissionDenied, match="经办与审核须由不同人员办理"):
            payroll_transition(acting_user=staff["district"], payroll=payroll, to_status="approved")
        assert payroll_transition(
            acting_user=staff["district2"], payroll=payroll, to_status="approved"
        ).status == ("approved")

        # reversed: the old table has the application's moves again; applied again: nothing is copied twice
        old = _migrate(BEFORE)
        assert list(
            old.get_model("benefits", "ApplicationTransition")
            .objects.order_by("at")
            .values_list("to_status", "by_id", "note")
        ) == [("submitted", staff["town_luzhi"].pk, ""), ("town_reviewed", staff["luzhi2"].pk, "材料齐全")]
    finally:
        _migrate([("benefits", leaf[1]) for leaf in _latest()])
    assert WorkflowHistory.objects.filter(workflow="application").count() == 2
    assert WorkflowHistory.objects.filter(workflow="payroll").count() == 2  # review (copied) + approve
