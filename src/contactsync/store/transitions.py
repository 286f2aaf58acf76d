"""The one checked move every state machine's row makes: the machine's own function (`transition_run`,
`move_write`, `transition_review`) names its machine and its error, and adds its own bookkeeping around it."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol, TypeVar

S = TypeVar("S", bound=StrEnum)


class StatusRow(Protocol):
    @property
    def id(self) -> int: ...

    status: str


def checked_move(
    row: StatusRow,
    to: S,
    allowed: Mapping[S, frozenset[S]],
    refused: type[Exception],
    *,
    what: str,
    stay: bool = False,
) -> None:
    """Set `row.status` to `to` if `allowed` has that move from its current state (with `stay`, staying where it
    is counts as one); else raise `refused` and leave the row as it was. Refusing is the point: an impossible move
    is a bug, and one caught here never reaches the database."""
    current = type(to)(row.status)
    if not (stay and to == current) and to not in allowed.get(current, frozenset()):
        raise refused(f"{what} {row.id} cannot go from {current} to {to}")
    row.status = to
