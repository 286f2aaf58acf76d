"""Every state machine of contactsync, as types: the one module where a status is spelled as a string.

The values are what the database stores (and the API and CLI show), so they never change; a new state is a new
member. Each family that moves from state to state also says here which moves are allowed, so the store's one
transition function per machine (`store.runs.transition_run`, ...) can refuse an impossible one instead of
writing it. This module imports nothing of contactsync: the models, the pure core and the providers all use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class RunStatus(StrEnum):
    FETCHING = "fetching"
    RECONCILING = "reconciling"
    WRITING = "writing"
    SUCCEEDED = "succeeded"  # every write went through
    PARTIAL = "partial"  # the run ended, but writes failed or creates wait parked for evidence (see counters)
    FAILED = "failed"
    PAUSED = "paused"


# A run in one of these holds its tenant's lease (the partial unique index on `sync_runs`).
ACTIVE_RUN_STATES = (RunStatus.FETCHING, RunStatus.RECONCILING, RunStatus.WRITING)
# Any active run may be stopped (a provider failure, lost authorisation); only a run that wrote may succeed.
_RUN_STOPS = frozenset({RunStatus.FAILED, RunStatus.PAUSED})
RUN_TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    RunStatus.FETCHING: frozenset({RunStatus.RECONCILING, *_RUN_STOPS}),
    RunStatus.RECONCILING: frozenset({RunStatus.WRITING, *_RUN_STOPS}),
    RunStatus.WRITING: frozenset({RunStatus.SUCCEEDED, RunStatus.PARTIAL, *_RUN_STOPS}),
}


class WriteState(StrEnum):
    """Where a ledger entry stands. Only `pending` and `in_flight` hold a run open; a parked create waits for
    evidence (its echo in a walk or a look-up, or a walk of its whole window after the visibility lag) across
    runs, so one lost answer never keeps a run going for the length of a platform's lag."""

    PENDING = "pending"  # not sent yet, or known not to have arrived
    IN_FLIGHT = "in_flight"  # being sent, or sent and the worker died
    UNCERTAIN = "uncertain"  # sent, the answer was lost; being looked up now
    PARKED = "parked"  # sent, the answer was lost, not found yet: later runs look again
    DONE = "done"
    FAILED = "failed"  # the platform refused it; kept for a person
    CANCELLED = "cancelled"  # not sent: the platform contact it was for was deleted meanwhile


# States that keep the run writing (the work is in the run's hands).
ACTIVE_WRITE_STATES = (WriteState.PENDING, WriteState.IN_FLIGHT, WriteState.UNCERTAIN)
# States of an entry not finished yet (a parked create is open but waits outside any run).
OPEN_WRITE_STATES = (*ACTIVE_WRITE_STATES, WriteState.PARKED)
# A create in these states may have reached the platform: a fetched contact may be its echo.
MAYBE_SENT_STATES = (WriteState.IN_FLIGHT, WriteState.UNCERTAIN, WriteState.PARKED)
# Entries the engine has nothing more to do with.
SETTLED_WRITE_STATES = (WriteState.DONE, WriteState.FAILED)
# Writes still queued for a contact the platform deleted are dropped; one already sent is left to its evidence.
CANCELLABLE_WRITE_STATES = (WriteState.PENDING, WriteState.UNCERTAIN)


# The ledger's one-way doors. A done or cancelled entry never moves again (a second send of a done create is a
# duplicate in the books); a refused one moves only when a person reopens it (`writes retry`) or its contact goes.
# Between the open states the evidence decides (sent, answer lost, looked up, parked, proven absent, sent again),
# which the callers hold: the table keeps only what no evidence may override.
WRITE_TRANSITIONS: Mapping[WriteState, frozenset[WriteState]] = {
    **{state: frozenset(WriteState) for state in OPEN_WRITE_STATES},
    WriteState.FAILED: frozenset({WriteState.PENDING, WriteState.UNCERTAIN, WriteState.CANCELLED}),
    WriteState.DONE: frozenset(),
    WriteState.CANCELLED: frozenset(),
}


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"  # the platform refused our credentials: paused until reconnected
    DISABLED = "disabled"  # switched off by an operator: no run starts, nothing is written


class ReviewStatus(StrEnum):
    """A review item is open until a person (or the engine, on new evidence) closes it one of these ways."""

    OPEN = "open"
    LINKED = "linked"  # linked to one of its candidates
    REJECTED = "rejected"  # none of the candidates: kept apart
    CREATED = "created"  # none of the candidates: the app contact is created on the platform instead


# A decided item stays decided; "create" is a rejection of the candidates followed by the create.
REVIEW_TRANSITIONS: Mapping[ReviewStatus, frozenset[ReviewStatus]] = {
    ReviewStatus.OPEN: frozenset({ReviewStatus.LINKED, ReviewStatus.REJECTED}),
    ReviewStatus.REJECTED: frozenset({ReviewStatus.CREATED}),
}


class ContactStatus(StrEnum):
    """A contact's standing on the platform, in the canonical model every dialect maps to."""

    ACTIVE = "active"
    ARCHIVED = "archived"


class AppContactStatus(StrEnum):
    """Where the contact stands from the platform's side: archived or deleted there reaches the app here."""

    ACTIVE = "active"
    ARCHIVED = "archived"
    DELETED_ON_PLATFORM = "deleted_on_platform"


class PlatformState(StrEnum):
    """What became of a linked contact on the platform, as far as the app contact is concerned."""

    ACTIVE = "active"
    ARCHIVED = "archived"
    DELETED = "deleted"


class TenantState(StrEnum):
    """A tenant's sync at a glance (the API's tenant detail): its connection's status, or what overrides it."""

    UNCONNECTED = "unconnected"
    PAUSED = "paused"
    ACTIVE = ConnectionStatus.ACTIVE.value
    NEEDS_REAUTH = ConnectionStatus.NEEDS_REAUTH.value
    DISABLED = ConnectionStatus.DISABLED.value
    SYNCING = "syncing"


def sql_in(column: str, states: Iterable[StrEnum]) -> str:
    """`column IN ('a', 'b')` (or `column = 'a'`) for a partial index's predicate, spelled from the enum so the
    index and the code agree on the states. The values are enum members: no quoting of outside input happens."""
    values = [f"'{state.value}'" for state in states]
    if len(values) == 1:
        return f"{column} = {values[0]}"
    return f"{column} IN ({', '.join(values)})"
