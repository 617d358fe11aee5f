"""The person's service timeline: every service case, benefit application / enrolment / payroll line and
data-comparison finding for one person, newest first, each linking to its record.

The registry imports none of the later apps: each app registers a provider in its ``AppConfig.ready``
(``timeline_register("casework", provider)``); a provider is ``f(user, person) -> list[TimelineEntry]`` and
reads through its own app's scoped selectors, so it returns only what ``user`` may see (an empty list when
the user may not read that app at all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class TimelineEntry:
    on: date  # the date the entry is sorted by (start of the service, application, month paid …)
    area: str  # 服务 / 待遇 / 数据比对
    title: str
    state: str
    url: str = ""
    detail: str = ""


Provider = Callable[[object, object], list[TimelineEntry]]
_PROVIDERS: dict[str, Provider] = {}


def timeline_register(code: str, provider: Provider) -> None:
    """Idempotent by code (a re-run of ``ready`` replaces, never duplicates)."""
    _PROVIDERS[code] = provider


def person_timeline(user, person, *, limit: int = 200) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for code in sorted(_PROVIDERS):
        entries.extend(_PROVIDERS[code](user, person))
    entries.sort(key=lambda e: (e.on, e.area, e.title), reverse=True)
    return entries[:limit]
