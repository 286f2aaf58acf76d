"""The pipeline's entry point for blocking keys (the key design lives in `blocking`)."""

from __future__ import annotations

from contactsync.matching.blocking import prepared_keys
from contactsync.matching.prepared import Prepared
from contactsync.matching.record import MatchRecord


def blocking_keys(record: MatchRecord | Prepared) -> frozenset[str]:
    """The keys to persist for an app contact, and to look up for a remote one (see `blocking`)."""
    return frozenset(prepared_keys(record if isinstance(record, Prepared) else Prepared(record)))
