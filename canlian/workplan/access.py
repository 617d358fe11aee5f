"""Who may do what with the work plan: district staff import, review and publish; leaders, district staff and
town staff read it (town staff see the whole plan: the district's targets are public inside the federation)."""

from __future__ import annotations

from canlian.accounts.models import Role

READERS = {Role.DISTRICT_STAFF, Role.DISTRICT_ADMIN, Role.LEADER, Role.TOWN_STAFF}


def _active(user) -> bool:
    return bool(user and getattr(user, "is_authenticated", False) and user.is_active)


def can_manage_plans(user) -> bool:
    return _active(user) and user.role == Role.DISTRICT_STAFF


def can_read_plans(user) -> bool:
    return _active(user) and user.role in READERS
