"""Eligibility and amounts as pure functions over columns (Polars). No ORM here.

Conventions for a month M (documented in every reason a clerk sees):
- ages are completed years on the first day of M;
- a dated status (低保, certificate validity, being alive) counts for M when it holds on at least one day
  of M: someone who dies in M is paid for M and not after; 低保 ending mid-month still counts for M;
- parameters take the value in force on the first day of M.
"""

from .base import PROGRAMMES, evaluate, explain_person, month_bounds  # noqa: F401
from .programmes import STOPS, programmes_stopped_by  # noqa: F401
