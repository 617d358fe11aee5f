"""Domain exceptions: each carries a message in Chinese that can be shown to the user as it is."""


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(DomainError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("；".join(f"{v}" for v in errors.values()))
        self.errors = errors


class PermissionDenied(DomainError):
    pass


class NotFound(DomainError):
    pass
