"""A contact as the application states it: its content, its own edit time, and which fields it stated.

Kept apart from the contact model because these are facts about one statement by the app (a CSV row, an API
call), not about the contact: the same contact stated without a column is still the same contact, but the
missing column is unknown and must never reach the platform as `false` or blank.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contactsync.contact import SYNCED_FIELDS, CanonicalContact


@dataclass(frozen=True)
class AppInput:
    """One contact as the app states it.

    `updated_at` is the app's own edit time (None: unknown). `known` names the synced fields the app stated; the
    default is the fields the contact was built with (pydantic's `model_fields_set`), so a field the app did not
    send is unknown, never false or blank.

    `base_version` is the contact `version` the app's record was based on (from the changes feed or a read), when
    the app says so. It tells an edit back to a value the app once stated (the user chose EUR again after the
    platform's GBP reached the app) from a stale copy that never took the platform's value in: see
    `store.contacts.upsert_app_contacts`.
    """

    app_id: str
    contact: CanonicalContact
    updated_at: datetime | None = None
    known: frozenset[str] | None = None
    base_version: int | None = None

    def known_fields(self) -> frozenset[str]:
        fields = self.known if self.known is not None else frozenset(self.contact.model_fields_set)
        return fields & frozenset(SYNCED_FIELDS)
