"""The plain record the matcher sees; built from canonical contacts, app contacts or CSV rows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """One contact as the matcher sees it. Every field may be missing.

    `email` and `phone` hold the primary value; `emails` and `phones` may carry further ones (a contact often
    has an accounts@ and an info@ address), and all of them take part in matching.
    """

    id: str
    name: str | None = None
    email: str | None = None
    tax_number: str | None = None
    phone: str | None = None
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
