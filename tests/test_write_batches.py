"""Write tasks carry batches of ledger entries; the write-safety promise holds per entry.

A batch sends its entries a group at a time (`CONTACTSYNC_WRITE_CONCURRENCY` requests at once), the whole group
marked `in_flight` before any of its requests leaves. A worker SIGKILLed in the middle of a batch leaves the
groups before the one it was sending recorded, that group `in_flight` (the sign that each of its entries may have
reached the platform) and the entries after it `pending`, never sent; the redelivered or re-driven batch resolves
the group through the lost-create path, sends the rest and never sends a done entry again.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from typing import Any

import psutil
import pytest
from sqlalchemy import func, select

from contactsync import db
from contactsync.models import Link, SyncRun, WriteOp
from contactsync.tasks.plan import batches, whole_groups
from contactsync.tasks.schedule import trigger_sync
from contactsync.tasks.write import write_batch
from tests.conftest import Workers
from tests.pipeline import (
    assert_each_app_contact_once,
    platform_contacts,
    setup_tenant,
    sync_until_settled,
)
from tests.test_lost_creates import _platform, _tenant, _writing_run

BATCH = 12
GROUP = 4  # a batch of 12 is sent as groups of 4, 4 and 4


def test_a_batch_is_a_whole_number_of_groups() -> None:
    """A batch of more than one group is cut to whole groups: a trailing group of one would be a transaction of
    its own. One group or less stays as it is (a rate-limited batch is cut by its budget, not by this)."""
    assert whole_groups(25, 8) == 24
    assert whole_groups(10, 4) == 8
    assert whole_groups(16, 8) == 16
    assert whole_groups(5, 8) == 5
    assert whole_groups(8, 8) == 8
    assert whole_groups(7, 1) == 7


def test_a_tail_of_one_group_goes_with_the_batch_before_it() -> None:
    """50 entries at 24 a batch are two batches, not three with a last one of two entries. A tail of more than a
    group keeps its batch; a batch paced to one second of requests is never lengthened; nor is a batch of less
    than one group (its size is then the setting's, which a folded tail would exceed)."""

    def sizes(n: int, batch_size: int = 25, width: int = 8, per_minute: int = 100_000) -> list[int]:
        cut = batches(list(range(n)), batch_size, width, per_minute)
        assert [i for batch in cut for i in batch] == list(range(n))  # every entry once, in order
        return [len(batch) for batch in cut]

    assert sizes(50) == [24, 26]
    assert sizes(48) == [24, 24]
    assert sizes(57) == [24, 24, 9]
    assert sizes(32) == [32]
    assert sizes(2) == [2]
    assert sizes(0) == []
    assert sizes(50, per_minute=600) == [10] * 5
    assert sizes(21, per_minute=600) == [10, 10, 1]
    assert sizes(12, batch_size=5) == [5, 5, 2]


def _ledger() -> list[tuple[int, str, int]]:
    with db.session() as s:
        rows = s.execute(select(WriteOp.id, WriteOp.status, WriteOp.attempts).order_by(WriteOp.id)).all()
    return [(int(i), str(st), int(a)) for i, st, a in rows]


def _kill_mid_batch(victim: Any, timeout: float = 120) -> None:
    """SIGKILL the worker (and its pool) while it sends the second group of a batch after the first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = Counter(status for _id, status, _attempts in _ledger())
        if states["in_flight"] == GROUP and states["done"] > BATCH and states["done"] % BATCH == GROUP:
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the writes did not reach the middle of a batch")
    for child in psutil.Process(victim.pid).children(recursive=True):
        child.send_signal(signal.SIGKILL)
    victim.send_signal(signal.SIGKILL)
    victim.wait()


@pytest.mark.pipeline
def test_a_batch_killed_mid_way_leaves_one_group_in_flight_and_the_rest_pending(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    workers.env["CONTACTSYNC_STALE_RUN_SECONDS"] = "5"
    workers.env["CONTACTSYNC_WRITE_BATCH_SIZE"] = str(BATCH)
    workers.env["CONTACTSYNC_WRITE_CONCURRENCY"] = str(GROUP)
    split, token = setup_tenant(
        sandbox, size=240, seed=53, faults={"latency_ms": 120}, options={"visibility_lag_seconds": 1}
    )
    (victim,) = workers.start(1, concurrency=1)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    _kill_mid_batch(victim)

    ledger = _ledger()
    in_flight = [i for i, (_id, status, _a) in enumerate(ledger) if status == "in_flight"]
    assert len(in_flight) == GROUP, ledger  # the group being sent: none of the batch's others was marked
    at = in_flight[0]
    assert in_flight == list(range(at, at + GROUP))  # one group, in ledger order
    batch = range(at - at % BATCH, min(at - at % BATCH + BATCH, len(ledger)))
    assert at % BATCH == GROUP  # killed in the middle of its batch, on its second group
    for i in batch:
        _id, status, attempts = ledger[i]
        if i < at:
            assert (status, attempts) == ("done", 1), ledger[i]  # recorded before the next group went out
        elif i >= at + GROUP:
            assert (status, attempts) == ("pending", 0), ledger[i]  # never sent
        else:
            assert attempts == 1, ledger[i]
    # Nothing anywhere was sent and left unrecorded but the one group.
    assert all(st in ("done", "pending") for _id, st, _a in ledger[:at] + ledger[at + GROUP :])
    done_before = {op_id for op_id, status, _a in ledger if status == "done"}
    with db.session() as s:
        linked = s.scalar(select(func.count()).select_from(Link).where(Link.method == "created"))
        done_creates = s.scalar(
            select(func.count()).select_from(WriteOp).where(WriteOp.kind == "create", WriteOp.status == "done")
        )
    assert linked == done_creates  # a done create is recorded with its link, in one transaction

    workers.start(1, concurrency=2)
    runs = sync_until_settled(run_id, workers, redrive=True)
    assert runs[-1].status == "succeeded", [(r.id, r.status, r.error) for r in runs]
    after = {op_id: (status, attempts) for op_id, status, attempts in _ledger()}
    assert all(after[op_id] == ("done", 1) for op_id in done_before)  # no done entry was sent again
    assert all(status == "done" for status, _a in after.values())
    rows = platform_contacts(sandbox, token)
    assert_each_app_contact_once(split, rows)
    assert len(rows) == len(split.remote) + len(split.app) - split.both


def test_a_redelivered_batch_sends_nothing_again_and_ends_the_run_once(env: dict[str, str], sandbox: Any) -> None:
    """The same batch delivered twice (a broker redelivery after the work was done): the second delivery finds
    every entry done, sends nothing and leaves the ended run as it was."""
    token = _tenant(sandbox, {})
    run_id, op_id = _writing_run()
    write_batch.apply(args=["t1", [op_id]])
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None and (run.status, run.created_remote, run.api_calls) == ("succeeded", 1, 1)
        finished = run.finished_at
    write_batch.apply(args=["t1", [op_id]])
    assert len(_platform(sandbox, token)) == 2  # the namesake and our one create
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        run = s.get(SyncRun, run_id)
        assert op is not None and (op.status, op.attempts) == ("done", 1)
        assert run is not None and (run.created_remote, run.finished_at) == (1, finished)
