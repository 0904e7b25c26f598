"""Errors of the REST API, each with the HTTP status and the machine-readable code it answers
with. Every 4xx/5xx body has one shape::

    {"error": {"code": "forbidden", "message": "...", "details": ...}}
"""

from __future__ import annotations

from typing import Any

from core.errors import BrightError


class ApiError(BrightError):
    """Root of the API's errors: an HTTP status, a stable code, a message, optional details."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequestError(ApiError, ValueError):
    """The query is well-formed but does not make sense (e.g. a time range that ends first)."""

    status_code = 422
    code = "invalid_query"


class AuthenticationError(ApiError):
    """No token, or one that is expired, tampered with or otherwise invalid."""

    status_code = 401
    code = "not_authenticated"

    def __init__(self, message: str, code: str | None = None, details: Any = None) -> None:
        super().__init__(message, details)
        if code is not None:
            self.code = code


class LoginError(AuthenticationError, ValueError):
    """A Sign-In with Ethereum message or signature was refused; the message says why."""

    def __init__(self, reason: str, details: Any = None) -> None:
        super().__init__(f"login refused: {reason}", code="login_refused", details=details)


class SiweFormatError(LoginError):
    """The text is not an EIP-4361 message; the message says which line is wrong."""


class ForbiddenError(ApiError):
    """Logged in, but this data belongs to someone else or needs another role."""

    status_code = 403
    code = "forbidden"


class DeactivatedError(ForbiddenError):
    """The caller's account is deactivated in the ParticipantRegistry: no access at all."""

    code = "account_deactivated"

    def __init__(self, address: str, since_block: int) -> None:
        super().__init__(
            f"the account {address} is deactivated in the ParticipantRegistry (since block "
            f"{since_block}): the API refuses it until it is reactivated on-chain",
            details={"since_block": since_block},
        )


class NotFoundError(ApiError):
    """The thing asked for does not exist in the read models."""

    status_code = 404
    code = "not_found"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class UnavailableError(ApiError):
    """A dependency (read-model database, chain node) cannot answer now."""

    status_code = 503
    code = "unavailable"
