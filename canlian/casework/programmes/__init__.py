"""Every service programme declared on the case engine; importing this package registers them."""

from . import custodial_care  # noqa: F401
