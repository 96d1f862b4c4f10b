"""The errors Corral's own code raises, one hierarchy for every layer.

    CorralError
    ├── NotFound            the object does not exist, or belongs to someone else
    ├── Conflict            the object exists already, or is in the wrong state
    ├── InvalidInput        the request is well-formed but its values are not acceptable
    ├── Unauthenticated     no credentials, or credentials that are wrong, expired or revoked
    ├── PermissionDenied    authenticated, but the role does not allow the action
    ├── RateLimited         too many attempts; retry after `retry_after_seconds`
    └── ProviderError       an outside system (git, a cloud, a node) failed
        ├── RetryableProviderError
        └── TerminalProviderError

Services raise these; the API maps each class to one status code and the one error shape, and the
CLI prints `message` on one line. `reason` is a short machine-readable word for clients, and
`message` is written for the user: it never carries a secret value.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Conflict",
    "CorralError",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "ProviderError",
    "RateLimited",
    "RetryableProviderError",
    "TerminalProviderError",
    "Unauthenticated",
]


class CorralError(Exception):
    """Base class: a failure with a message fit to show the user."""

    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.details = details


class NotFound(CorralError):
    reason = "not_found"


class Conflict(CorralError):
    reason = "conflict"


class InvalidInput(CorralError):
    reason = "invalid_input"


class Unauthenticated(CorralError):
    reason = "unauthenticated"


class PermissionDenied(CorralError):
    reason = "permission_denied"


class RateLimited(CorralError):
    reason = "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message, details={"retry_after_seconds": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class ProviderError(CorralError):
    """An outside system failed; `retryable` says whether trying again later may help (a
    timeout, a 5xx, a rate limit) or not (a refused token, an unknown size)."""

    reason = "provider_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        details: Any = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message, reason=reason, details=details)
        if retryable is not None:
            self.retryable = retryable


class RetryableProviderError(ProviderError):
    reason = "provider_unavailable"
    retryable = True


class TerminalProviderError(ProviderError):
    reason = "provider_failed"
