"""Every service programme declared on the case engine; importing this package registers them."""
