"""A small hierarchy of errors, each with the HTTP status it is rendered as.

The CLI prints ``str(error)`` and exits non-zero; the API renders ``{"error": code, "detail": ...}``
with ``status``. A bad input is always one of these, never an unhandled exception.
"""

from __future__ import annotations


class AuditdError(Exception):
    """Base of every error a person can act on."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, hint: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.headers = headers  # sent with the HTTP answer (e.g. WWW-Authenticate on a 401)

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class ConfigError(AuditdError):
    """The configuration (environment, settings, key files) is unusable."""

    status = 500
    code = "config_error"


class ValidationFailed(AuditdError):
    """An input (a file, a profile, a request body) does not have the expected shape."""

    status = 422
    code = "validation_failed"


class NotFound(AuditdError):
    status = 404
    code = "not_found"


class Conflict(AuditdError):
    status = 409
    code = "conflict"


class AuthenticationRequired(AuditdError):
    status = 401
    code = "authentication_required"

    def __init__(self, message: str, *, hint: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, hint=hint, headers=headers or {"WWW-Authenticate": 'Bearer realm="auditd"'})


class Forbidden(AuditdError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(AuditdError):
    """A body over a size limit: refused before anything is stored, so the sender can split and retry."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(AuditdError):
    """A body that is not raw records (a form upload) or names a charset Python does not know."""

    status = 415
    code = "unsupported_media_type"


class StoreUnavailable(AuditdError):
    """The database cannot be reached or is not migrated."""

    status = 503
    code = "store_unavailable"
