"""Writes of the benefits app, one module per sub-domain."""
