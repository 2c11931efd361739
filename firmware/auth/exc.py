"""Errors of :mod:`firmware.auth`. Each inherits :class:`firmware.exc.MrigError` and the built-in it
resembles; ``firmware/api/errors.py`` maps them to status codes (401, 403, 409, 429)."""

from __future__ import annotations

from firmware.exc import MrigError


class AuthError(MrigError):
    """Root of the authentication and cross-site defence errors."""


class NotAuthenticated(AuthError, PermissionError):
    """No valid session, or a wrong password (401)."""


class CsrfRejected(AuthError, PermissionError):
    """A state-changing request without the session's ``X-CSRF-Token``, or a foreign Origin (403)."""


class WrongPassword(AuthError, PermissionError):
    """The current password given to change it is wrong (403; the session stays valid)."""


class SetupRejected(AuthError, PermissionError):
    """A wrong or used setup code, or a shutter-button claim that was not confirmed (403)."""


class PasswordNotSet(AuthError, LookupError):
    """No password yet: only the setup endpoints work (409)."""


class PasswordAlreadySet(AuthError):
    """Setup is over once a password exists; log in or change the password instead (409)."""


class SetupBusy(AuthError, RuntimeError):
    """Another device is already waiting for the shutter button (409)."""


class TooManyAttempts(AuthError):
    """Too many failed attempts from this client; ``retry_after_s`` says when to try again (429)."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = max(1, int(retry_after_s + 0.999))
        super().__init__(f"too many failed attempts; try again in {self.retry_after_s} s")

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}
