"""Send a group of a batch's requests at once, from a few threads of the write task's process.

A write is mostly waiting: for the platform's answer and, between requests, for the database. Sent one after
the other, a tenant's write phase moves at one request per round trip; sent a few at a time, the waits overlap.
Only the provider call runs in a thread. Everything that touches the ledger, the run or the task's retry stays
in the task's own thread, in the order of the batch, so the ledger's rules are the same as for one entry.
Each request takes its slot from the connection's shared rate-limit bucket in its own thread, so a group never
sends faster than the platform allows; the request's deadline and the task's log context go with it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Result(Generic[T]):
    """What one call gave: its answer, or the exception it raised."""

    value: T | None = None
    error: Exception | None = None


class Sender:
    """Runs groups of calls; a group of one runs in the caller's thread (a rate-limited batch, a lone entry)."""

    def __init__(self, width: int) -> None:
        self.width = max(1, width)
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._pool is not None:
            # Requests already on the wire finish (each within its deadline); their answers are not recorded, so
            # their entries stay `in_flight` and the lost-create path resolves them.
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, calls: Sequence[Callable[[], T]]) -> list[Result[T]]:
        """Every call's result, in the order of `calls`; exceptions are returned, not raised."""
        if len(calls) <= 1 or self.width == 1:
            return [_result(call) for call in calls]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.width, thread_name_prefix="write")
        futures: list[Future[Result[T]]] = [
            self._pool.submit(contextvars.copy_context().run, _result, call) for call in calls
        ]
        return [f.result() for f in futures]


def _result(call: Callable[[], T]) -> Result[T]:
    try:
        return Result(value=call())
    except Exception as exc:
        return Result(error=exc)
