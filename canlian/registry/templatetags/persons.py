"""Template filters for persons: masked pages show a person's age, never the birth date (the birth date and
the masked ID number together rebuild the full number; see ``common/masking.py``)."""

from datetime import date

from django import template
from django.utils import timezone

from canlian.registry import identity

register = template.Library()


@register.filter
def age(born: date | None, on: date | None = None) -> int | str:
    """``{{ person.birth_date|age }}`` → completed years today (or on ``on``); "" when the date is unknown."""
    if not born:
        return ""
    return identity.age_on(born, on or timezone.localdate())
