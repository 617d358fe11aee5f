"""Request context for audit rows, set by RequestContextMiddleware: the client IP, and whether a refusal
of this request has already been audited (so the middleware does not record it twice)."""

from contextvars import ContextVar

client_ip: ContextVar[str | None] = ContextVar("client_ip", default=None)
refusal_audited: ContextVar[bool] = ContextVar("refusal_audited", default=False)
