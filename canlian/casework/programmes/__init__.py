"""Every service programme declared on the case engine; importing this package registers them."""

from . import (  # noqa: F401
    child_rehab,
    custodial_care,
    devices,
    employment,
    employment_cases,
    employment_records,
    employment_roster,
    renovation,
)
