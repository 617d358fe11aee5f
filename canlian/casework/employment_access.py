"""Who sees and records employment (issue 11 §1), on ``accounts.access.scoped``: district staff and leaders
everything, town staff their town (a person's periods by the person's town; events, classes and projects by
their town); district and town staff record; a 残疾人之家's staff read the auxiliary-employment projects run
through their institution. Out-of-scope rows are not in the querysets: a URL to one is a 404."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from canlian.accounts.access import _active, scoped
from canlian.accounts.models import Role

READERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF, Role.LEADER}
WRITERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF}
PROJECT_READERS = READERS | {Role.INSTITUTION_STAFF}


def can_read(user) -> bool:
    return _active(user) and user.role in READERS


def can_write(user) -> bool:
    return _active(user) and user.role in WRITERS


def can_read_projects(user) -> bool:
    return _active(user) and user.role in PROJECT_READERS


def periods_visible(user) -> QuerySet:
    from canlian.registry.models import EmploymentPeriod

    return scoped(EmploymentPeriod.objects.all(), user, readers=READERS, town="person__town_id")


def job_fairs_visible(user) -> QuerySet:
    from .models import JobFair

    return scoped(JobFair.objects.all(), user, readers=READERS, town="town_id")


def job_fairs_workable(user) -> QuerySet:
    from .models import JobFair

    return scoped(JobFair.objects.all(), user, readers=WRITERS, town="town_id")


def training_visible(user) -> QuerySet:
    from .models import TrainingClass

    return scoped(TrainingClass.objects.all(), user, readers=READERS, town="town_id")


def training_workable(user) -> QuerySet:
    from .models import TrainingClass

    return scoped(TrainingClass.objects.all(), user, readers=WRITERS, town="town_id")


def projects_visible(user) -> QuerySet:
    from .models import AuxProject

    return scoped(
        AuxProject.objects.all(), user, readers=PROJECT_READERS, town="town_id", institution="institution_id"
    )


def projects_workable(user) -> QuerySet:
    from .models import AuxProject

    return scoped(AuxProject.objects.all(), user, readers=WRITERS, town="town_id")


def practitioners_visible(user) -> QuerySet:
    from .models import MassagePractitioner

    return scoped(MassagePractitioner.objects.all(), user, readers=READERS, town="person__town_id")


def get_or_404(qs: QuerySet, pk, what: str):
    try:
        return qs.get(pk=pk)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"未找到该{what}，或您无权查看。") from None
