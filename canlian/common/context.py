"""Request context (client IP) for audit rows, set by RequestContextMiddleware."""

from contextvars import ContextVar

client_ip: ContextVar[str | None] = ContextVar("client_ip", default=None)
