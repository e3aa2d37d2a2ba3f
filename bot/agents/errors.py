"""Typed errors of the agent runtime: what a provider refused, and why a run stopped."""

from __future__ import annotations


class LLMError(Exception):
    """A model call failed; `message` keeps the provider's own words (already redacted)."""

    retryable = False
    """Whether the same call may succeed if tried again after a pause."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.provider = provider
        self.model = model
        self.status = status
        self.retry_after = retry_after
        where = f"{provider}:{model}" if model else provider
        code = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{where}{code}: {message}" if where else message)


class RateLimitedError(LLMError):
    """The provider asks us to slow down (HTTP 429 that is not a spend limit)."""

    retryable = True


class OverloadedError(LLMError):
    """The provider is overloaded or unreachable (HTTP 529, 5xx, connection failures)."""

    retryable = True


class BadRequestError(LLMError):
    """The provider rejected the request itself (HTTP 400, 404, 413, 422): a bug or a limit."""


class AuthError(LLMError):
    """The key is missing, wrong or lacks permission (HTTP 401, 403)."""


class SpendLimitError(LLMError):
    """The provider account is out of credit or over its spend limit: never retried."""


class AllModelsFailedError(LLMError):
    """Every model of the fallback chain stayed unavailable; `errors` holds the last of each."""

    retryable = True

    def __init__(self, message: str, errors: list[LLMError]) -> None:
        super().__init__(message)
        self.errors = errors


class ModelsUnavailableError(AllModelsFailedError):
    """Every model of the chain stayed rate limited, overloaded or circuit-open past the
    caller's patience. Not the run's fault: its job should run again in `retry_in_s`."""

    def __init__(self, message: str, errors: list[LLMError], *, retry_in_s: float) -> None:
        super().__init__(message, errors)
        self.retry_in_s = retry_in_s
