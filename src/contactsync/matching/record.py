"""The plain record the matcher sees; built from canonical contacts, app contacts or CSV rows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MatchRecord:
    id: str
    name: str | None = None
    email: str | None = None
    tax_number: str | None = None
    phone: str | None = None
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
