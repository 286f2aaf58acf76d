"""The baselines planning sets on a chunk of linked pairs, written in one statement.

Most pairs of a first sync are in sync once planned: each gets its two hashes and a baseline of field digests
(`store.ledger.mark_synced`). Left to the ORM, the chunk's flush was one UPDATE and its bookkeeping per link,
about a sixth of planning's CPU in a profile of a 300-tenant fleet. As `store.write_states.save_writes` does
for ledger entries, the values stay on the loaded objects and go out as one `UPDATE … FROM` a JSON parameter.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from contactsync.models import Link
from contactsync.models.base import table_of
from contactsync.store.arrays import row_params, rows_subquery

# What `mark_synced` sets on a link.
_SAVED = ("app_synced_hash", "remote_synced_hash", "baseline", "updated_at")


def save_synced(s: Session, links: Sequence[Link]) -> None:
    """Write the synced hashes and baselines of loaded links in one UPDATE, in the caller's transaction.
    Afterwards those columns are clean in the session, so a later flush writes only what else changed."""
    unique = list({link.id: link for link in links}.values())
    if not unique:
        return
    rows = [{"id": link.id, **{name: getattr(link, name) for name in _SAVED}} for link in unique]
    with s.no_autoflush:  # else the ORM would write the same links first, one UPDATE each
        s.execute(_synced_update(), row_params(rows))
    for link in unique:
        for name in _SAVED:
            set_committed_value(link, name, getattr(link, name))


@functools.cache
def _synced_update() -> Any:
    """`UPDATE links … FROM` the rows of one JSON parameter (`store.arrays`), built once per process."""
    table = table_of(Link)
    rows = rows_subquery(table, ("id", *_SAVED))
    return update(table).where(table.c.id == rows.c.id).values({name: rows.c[name] for name in _SAVED})
