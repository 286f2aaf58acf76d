"""Provider failures as types, so that tasks decide retry/pause/fail by class and never by parsing messages.

The split matters operationally: retrying a permanent 4xx wastes quota and, on Merge, more than 20 failed
requests from one IP in 10 s trips an IP-wide block, so only `RateLimited` and `Transient` are ever retried.
"""

from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """Base of every error a provider call can raise."""

    def __init__(self, message: str, *, status: int | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


class RateLimited(ProviderError):
    """The platform or the unified API said 429; `retry_after` is how long to wait, in seconds."""

    def __init__(self, message: str, *, retry_after: float, status: int | None = 429, details: Any = None) -> None:
        super().__init__(message, status=status, details=details)
        self.retry_after = retry_after


class Transient(ProviderError):
    """5xx, timeouts, resets: the same call may succeed later. A write may or may not have been committed.

    `retry_after` is the wait the server asked for (a 503 with Retry-After on a write), when it named one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, details: Any = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, details=details)
        self.retry_after = retry_after


class Permanent(ProviderError):
    """4xx other than auth and rate limits: the request is wrong and will stay wrong. Never retried."""


class AuthLost(ProviderError):
    """401/403: the tenant must re-authorise; its syncs pause until then instead of failing forever."""


class LookupIncomplete(ProviderError):
    """A look-up could not read every page of its answer: what it did not read is unknown, never absent."""


class NotFound(Permanent):
    """The remote contact does not exist (any more)."""


class WalkIncomplete(ProviderError):
    """A walk that cannot finish (its list kept moving under it through every allowed pass). Not retried: the run
    ends with this reason, the watermark stays, and the next scheduled run walks again from the start."""


class RecordError(ValueError):
    """One record of a page breaks the contract; it is quarantined and the rest of the page goes on."""

    def __init__(self, reason: str, *, remote_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remote_id = remote_id
