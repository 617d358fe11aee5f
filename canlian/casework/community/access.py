"""Who sees and enters community-service records, built on ``accounts.access.scoped``.

Open records (visits, 实事 projects, special education, legal aid, activities): district staff and leaders
see all, town staff their town; district and town staff enter them. Counselling records (hotline calls,
individual and group sessions) are the most sensitive in the platform: their content is read only by the
counselling role (``counsellor``), and an individual session's notes only by the person's own counsellor
(a counsellor who has held a session with them); district staff, leaders and town staff see counts only.
"""

from __future__ import annotations

from django.db.models import QuerySet

from canlian.accounts.access import _active, scoped
from canlian.accounts.models import Role

READERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF, Role.LEADER}
WRITERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF}
COUNSELLORS = {Role.COUNSELLOR}


def can_read(user) -> bool:
    return _active(user) and user.role in READERS


def can_write(user) -> bool:
    return _active(user) and user.role in WRITERS


def is_counsellor(user) -> bool:
    return _active(user) and user.role == Role.COUNSELLOR


def can_read_counts(user) -> bool:
    """The hotline's numbers by town and month (no content): the open readers."""
    return can_read(user)


def visible(user, model, *, write: bool = False) -> QuerySet:
    """An open kind's rows the user may see (or enter and change, ``write``)."""
    return scoped(model.objects.all(), user, readers=WRITERS if write else READERS, town="town_id")


def counts_visible(user, model) -> QuerySet:
    """Counselling rows to be *counted* (never shown) for the open readers: their scope, content untouched."""
    return scoped(model.objects.all(), user, readers=READERS, town="town_id")


def content_visible(user, model) -> QuerySet:
    """Counselling rows whose content ``user`` may read: calls and group sessions for every counsellor;
    individual sessions only of the persons the counsellor has counselled. Nothing for any other role."""
    from canlian.casework.models import CounsellingSession

    if not is_counsellor(user):
        return model.objects.none()
    qs = model.objects.all()
    if model is CounsellingSession:
        mine = CounsellingSession.objects.filter(counsellor=user).values("person_id")
        qs = qs.filter(person_id__in=mine)
    return qs


def towns_for(user) -> QuerySet:
    """The towns a user may choose when entering a record (town staff: their own)."""
    from canlian.accounts.access import towns_visible

    if is_counsellor(user):
        from canlian.registry.models import Region

        return Region.objects.filter(level=Region.Level.TOWN)
    return towns_visible(user)
