"""Template filters for persons: masked pages show a person's age, never the birth date (the birth date and
the masked ID number together rebuild the full number; see ``common/masking.py``)."""

from datetime import date

from django import template
from django.utils import timezone
from django.utils.html import format_html

from canlian.registry import identity

register = template.Library()


@register.filter
def age(born: date | None, on: date | None = None) -> int | str:
    """``{{ person.birth_date|age }}`` → completed years today (or on ``on``); "" when the date is unknown."""
    if not born:
        return ""
    return identity.age_on(born, on or timezone.localdate())


_STATUS_BADGE = {"active": "text-bg-success", "deceased": "text-bg-dark"}


@register.simple_tag
def person_status_badge(person) -> str:
    """``{% person_status_badge person %}``: the person's status as a coloured badge. A tag rather than an
    included template: the list renders it on each of its 50 rows, where an include costs a context push
    and a template lookup per row."""
    return format_html(
        '<span class="badge {}">{}</span>',
        _STATUS_BADGE.get(person.status, "text-bg-secondary"),
        person.get_status_display(),
    )
