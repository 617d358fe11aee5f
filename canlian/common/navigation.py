"""The grouped side navigation: apps register their entries, the context processor builds the menu.

Each app registers its own entries in its ``AppConfig.ready`` (``common`` imports no app), each with a
``visible(user)`` predicate that asks the same ``access`` function as the page it links to, so the menu never
offers a page that would answer 403/404. Groups are fixed and shown in this order; an empty group is hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.urls import NoReverseMatch, reverse

GROUPS: tuple[tuple[str, str, str], ...] = (
    ("registry", "档案", "bi-people"),
    ("benefits", "待遇", "bi-cash-coin"),
    ("verification", "数据比对", "bi-search"),
    ("services", "服务", "bi-heart"),
    ("workplan", "工作要点", "bi-flag"),
    ("system", "系统", "bi-gear"),
)
_GROUP_CODES = {code for code, _, _ in GROUPS}


@dataclass(frozen=True)
class NavEntry:
    group: str
    label: str
    icon: str
    url_name: str
    visible: Callable[[object], bool]
    # the page is "current" when the resolved URL is in one of these namespaces and its name starts with one
    # of the prefixes (empty prefixes: any page of the namespace)
    namespace: str = ""
    prefixes: tuple[str, ...] = field(default=())
    order: int = 100
    # URL name of a small fragment (a count badge) loaded after the page, so no page pays for the count
    badge_url: str = ""

    def matches(self, match) -> bool:
        if match is None:
            return False
        if self.namespace and match.namespace != self.namespace:
            return False
        if not self.prefixes:
            return bool(self.namespace) or match.view_name == self.url_name
        return (match.url_name or "").startswith(self.prefixes)


_ENTRIES: dict[str, NavEntry] = {}


def nav_register(*entries: NavEntry) -> None:
    """Add entries (idempotent by URL name, so a re-run of ``ready`` changes nothing)."""
    for entry in entries:
        if entry.group not in _GROUP_CODES:
            raise ValueError(f"unknown navigation group: {entry.group}")
        _ENTRIES[entry.url_name] = entry


def nav_entries() -> list[NavEntry]:
    return sorted(_ENTRIES.values(), key=lambda e: (e.order, e.label))


def menu_for(user, match) -> list[dict]:
    """The groups and entries ``user`` may open, with the current one marked (at most one)."""
    if not user or not user.is_authenticated or not user.is_active:
        return []
    visible = [e for e in nav_entries() if e.visible(user)]
    current = next((e for e in visible if e.prefixes and e.matches(match)), None) or next(
        (e for e in visible if e.matches(match)), None
    )
    groups = []
    for code, label, icon in GROUPS:
        items = []
        for entry in visible:
            if entry.group != code:
                continue
            try:
                url = reverse(entry.url_name)
            except NoReverseMatch:
                continue
            items.append(
                {
                    "label": entry.label,
                    "icon": entry.icon,
                    "url": url,
                    "current": entry is current,
                    "badge_url": reverse(entry.badge_url) if entry.badge_url else "",
                }
            )
        if items:
            groups.append(
                {
                    "code": code,
                    "label": label,
                    "icon": icon,
                    "items": items,
                    "current": any(i["current"] for i in items),
                }
            )
    return groups
