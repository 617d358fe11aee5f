"""Who sees and manages institutions, built on the primitives of ``accounts.access``."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from canlian.accounts.access import _active
from canlian.accounts.models import Role

INSTITUTION_READERS = {Role.DISTRICT_STAFF, Role.TOWN_STAFF, Role.LEADER, Role.INSTITUTION_STAFF}


def can_read_institutions(user) -> bool:
    return _active(user) and user.role in INSTITUTION_READERS


def can_manage_institutions(user) -> bool:
    return _active(user) and user.role == Role.DISTRICT_STAFF


def institutions_visible(user) -> QuerySet:
    """The directory: district roles and town staff see every institution (their towns' people are served
    anywhere in the district); institution staff see only their own."""
    from .models import Institution

    if not can_read_institutions(user):
        return Institution.objects.none()
    if user.role == Role.INSTITUTION_STAFF:
        return (
            Institution.objects.filter(pk=user.institution_id)
            if user.institution_id
            else Institution.objects.none()
        )
    return Institution.objects.all()


def institutions_manageable(user) -> QuerySet:
    from .models import Institution

    if not can_manage_institutions(user):
        return Institution.objects.none()
    return Institution.objects.all()


def institution_get(user, pk):
    qs = institutions_visible(user)
    try:
        return qs.select_related("town").get(pk=pk)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise Http404("未找到该机构，或您无权查看。") from None
