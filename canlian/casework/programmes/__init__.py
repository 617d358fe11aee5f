"""Every service programme declared on the case engine; importing this package registers them."""

from . import child_rehab, custodial_care, devices, employment, renovation  # noqa: F401
