from . import child_rehab, custodial_care, renovation  # noqa: F401
