"""The baselines planning sets on a chunk of linked pairs, and the platform values it takes into app contacts,
each written in one statement.

Most pairs of a first sync are in sync once planned: each gets its two hashes and a baseline of field digests
(`store.ledger.mark_synced`). Left to the ORM, the chunk's flush was one UPDATE and its bookkeeping per link,
about a sixth of planning's CPU in a profile of a 300-tenant fleet. As `store.write_states.save_writes` does
for ledger entries, the values stay on the loaded objects and go out as one `UPDATE … FROM` a JSON parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from contactsync.models import AppContact, Link
from contactsync.models.base import table_of
from contactsync.store.arrays import save_loaded

# What `mark_synced` sets on a link.
_SAVED = ("app_synced_hash", "remote_synced_hash", "baseline", "updated_at")
# What `store.contacts.update_app_content` sets on an app contact.
_TAKEN_IN = ("data", "content_hash", "name", "version", "updated_at", "taken_in")


def save_synced(s: Session, links: Sequence[Link]) -> None:
    """Write the synced hashes and baselines of loaded links in one UPDATE, in the caller's transaction (see
    `store.arrays.save_loaded`)."""
    save_loaded(s, links, _SAVED, table_of(Link))


def save_taken_in(s: Session, rows: Sequence[AppContact]) -> None:
    """Write the app contacts that took platform values in (a first sync: a fifth of a tenant) in one UPDATE. Left
    to the ORM, the next statement's autoflush wrote them one UPDATE each: in a profile of a 5,000-contact tenant's
    planning, a second of its five went to the flush of its 982 taken-in contacts."""
    save_loaded(s, rows, _TAKEN_IN, table_of(AppContact))
