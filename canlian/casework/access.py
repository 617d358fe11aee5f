"""Who sees which cases, built on ``accounts.access.scoped``: district staff and leaders every case, town
staff the cases of their town, institution staff exactly the cases their institution serves."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from canlian.accounts.access import _active, scoped
from canlian.accounts.models import Role

CASE_READERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF, Role.LEADER, Role.INSTITUTION_STAFF}
CASE_WRITERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF, Role.INSTITUTION_STAFF}


def can_read_cases(user) -> bool:
    return _active(user) and user.role in CASE_READERS


def cases_visible(user) -> QuerySet:
    from .models import Case

    return scoped(
        Case.objects.all(), user, readers=CASE_READERS, town="town_id", institution="institution_id"
    )


def cases_workable(user) -> QuerySet:
    """Cases the user may act on (moves, visits, attachments): readers minus leaders."""
    from .models import Case

    return scoped(
        Case.objects.all(), user, readers=CASE_WRITERS, town="town_id", institution="institution_id"
    )


def case_get(user, pk):
    qs = cases_visible(user)
    try:
        return qs.select_related("person", "town", "institution").get(pk=pk)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise Http404("未找到该个案，或您无权查看。") from None


def due_items_visible(user) -> QuerySet:
    from .models import DueItem

    return scoped(
        DueItem.objects.all(),
        user,
        readers=CASE_READERS,
        town="case__town_id",
        institution="case__institution_id",
    )


def due_items_workable(user) -> QuerySet:
    """Due items of the cases the user may act on (``cases_workable``): one scope, no subquery of cases."""
    from .models import DueItem

    return scoped(
        DueItem.objects.all(),
        user,
        readers=CASE_WRITERS,
        town="case__town_id",
        institution="case__institution_id",
    )


def attachments_visible(user) -> QuerySet:
    from .models import Attachment

    return scoped(
        Attachment.objects.all(),
        user,
        readers=CASE_WRITERS,  # leaders read the case, not its documents
        town="case__town_id",
        institution="case__institution_id",
    )


def settlements_visible(user) -> QuerySet:
    """District staff and leaders: all; institution staff: their own institution's; town staff: none (the
    district settles with providers)."""
    from .models import Settlement

    if not _active(user):
        return Settlement.objects.none()
    if user.role == Role.INSTITUTION_STAFF:
        return (
            Settlement.objects.filter(institution_id=user.institution_id)
            if user.institution_id
            else Settlement.objects.none()
        )
    if user.role in {Role.DISTRICT_STAFF, Role.LEADER}:
        return Settlement.objects.all()
    return Settlement.objects.none()


def settlements_workable(user) -> QuerySet:
    from .models import Settlement

    if not _active(user) or user.role not in {Role.DISTRICT_STAFF, Role.INSTITUTION_STAFF}:
        return Settlement.objects.none()
    return settlements_visible(user)


def can_import_roster(user) -> bool:
    return _active(user) and user.role in {Role.DISTRICT_STAFF, Role.TOWN_STAFF}


# ---- custodial care: contracts and inspections -----------------------------------------------------------
# Towns buy custodial care from providers (SERVICES.md §4): town staff record and end their own town's
# contracts, district staff any town's; leaders read them all; a provider's staff read the contracts their
# institution signed. The district inspects quality: district staff record inspections and their follow-up;
# town staff and leaders read every provider's results (the towns choose providers by them); a provider's
# staff read their own institution's.

CONTRACT_READERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF, Role.LEADER, Role.INSTITUTION_STAFF}
CONTRACT_WRITERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF}


def can_read_contracts(user) -> bool:
    return _active(user) and user.role in CONTRACT_READERS


def can_manage_contracts(user) -> bool:
    return _active(user) and user.role in CONTRACT_WRITERS


def can_inspect(user) -> bool:
    return _active(user) and user.role == Role.DISTRICT_STAFF


def contracts_visible(user) -> QuerySet:
    from .models import CustodialContract

    return scoped(
        CustodialContract.objects.all(),
        user,
        readers=CONTRACT_READERS,
        town="town_id",
        institution="institution_id",
    )


def contracts_workable(user) -> QuerySet:
    from .models import CustodialContract

    return scoped(CustodialContract.objects.all(), user, readers=CONTRACT_WRITERS, town="town_id")


def inspections_visible(user) -> QuerySet:
    from .models import Inspection

    if not can_read_contracts(user):
        return Inspection.objects.none()
    if user.role == Role.INSTITUTION_STAFF:
        return (
            Inspection.objects.filter(institution_id=user.institution_id)
            if user.institution_id
            else (Inspection.objects.none())
        )
    return Inspection.objects.all()
