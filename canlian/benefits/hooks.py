"""Payroll checks: warnings the payroll pages show before a payroll is generated, reviewed or approved.

Apps that depend on benefits (verification today) know things a payroll should take into account, but benefits
must not import them (dependencies point one way: accounts ← registry ← benefits ← verification). So benefits
keeps this small registry and the other app registers a check from its ``AppConfig.ready()``:

    payroll_check_register("verification.open_findings", open_findings_check)

A check is called with keyword arguments ``user``, ``programme`` and ``month`` (the first day of the payroll
month) and returns a ``PayrollWarning`` scoped to what that user may see, or ``None`` when there is nothing
to say. The pages only warn: no check blocks generation, review or approval (the reviewer decides)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

__all__ = [
    "FactsProvider",
    "PayrollCheck",
    "PayrollWarning",
    "facts_provider_register",
    "facts_provider_unregister",
    "facts_providers_registered",
    "payroll_check_register",
    "payroll_check_unregister",
    "payroll_checks_registered",
    "payroll_warnings",
    "provided_facts",
]


@dataclass(frozen=True)
class PayrollWarning:
    """One thing to look at before this payroll goes on: ``count`` items, a Chinese ``message`` for the page,
    and where to handle them (``url`` with ``link_text``), already scoped to the user who asked."""

    source: str
    count: int
    message: str
    url: str = ""
    link_text: str = ""


PayrollCheck = Callable[..., PayrollWarning | None]

_CHECKS: dict[str, PayrollCheck] = {}


def payroll_check_register(name: str, check: PayrollCheck) -> None:
    """Add (or replace) the check called ``name``; registering the same name again replaces it, so an
    ``AppConfig.ready()`` that runs twice does not warn twice."""
    if not callable(check):
        raise TypeError(f"payroll check {name!r} is not callable")
    _CHECKS[name] = check


def payroll_check_unregister(name: str) -> None:
    _CHECKS.pop(name, None)


def payroll_checks_registered() -> tuple[str, ...]:
    return tuple(_CHECKS)


def payroll_warnings(*, user, programme, month: date) -> list[PayrollWarning]:
    """Every registered check's warning for ``programme`` in ``month`` as ``user`` may see it; checks with
    nothing to report (``None`` or a count of zero) are left out. With no check registered: an empty list."""
    first = month.replace(day=1)
    out: list[PayrollWarning] = []
    for check in list(_CHECKS.values()):
        warning = check(user=user, programme=programme, month=first)
        if warning is not None and warning.count > 0:
            out.append(warning)
    return out


# ---- facts providers ---------------------------------------------------------------------------------------
#
# Facts that another app knows better than the registry (an assessed rehabilitation need from the child-rehab
# module, a care need from assessments, survey results) reach the rules through the same kind of registry:
# the app registers a provider from its ``AppConfig.ready()`` and benefits imports nothing from it:
#
#     facts_provider_register("casework.rehab_need", rehab_need_facts)
#
# A provider is called with keyword arguments ``month`` (the first day of the month) and ``person_ids`` (a
# Polars Series of the persons being evaluated) and returns a Polars DataFrame with ``person_id`` and any of
# the fact columns of ``benefits.rules.facts.SCHEMA`` (e.g. ``rehab_need``, ``care_need``,
# ``care_need_since``), one row per person it knows about, or ``None``. A non-null value it provides wins
# over the registry's for that person and month (``rules.facts.with_provided``).

FactsProvider = Callable[..., Any]

_FACTS_PROVIDERS: dict[str, FactsProvider] = {}


def facts_provider_register(name: str, provider: FactsProvider) -> None:
    """Add (or replace) the provider called ``name``; registering the same name again replaces it."""
    if not callable(provider):
        raise TypeError(f"facts provider {name!r} is not callable")
    _FACTS_PROVIDERS[name] = provider


def facts_provider_unregister(name: str) -> None:
    _FACTS_PROVIDERS.pop(name, None)


def facts_providers_registered() -> tuple[str, ...]:
    return tuple(_FACTS_PROVIDERS)


def provided_facts(*, month: date, person_ids) -> list:
    """Every registered provider's frame for ``month`` (providers returning ``None`` are left out)."""
    first = month.replace(day=1)
    out = []
    for provider in list(_FACTS_PROVIDERS.values()):
        frame = provider(month=first, person_ids=person_ids)
        if frame is not None:
            out.append(frame)
    return out
