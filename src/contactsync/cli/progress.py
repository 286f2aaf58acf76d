"""Live progress of runs for a terminal: one bar per tenant through fetch, reconcile and write.

Read from the database the workers write to (runs, their pages, the write ledger), so it shows what really
happened, whichever worker did it. The bar is weighted by stage — fetching fills the first 40 %, reconciling the
next 30 %, writing the rest — because a run's total work is only known once its walk has ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import case, func, select

from contactsync import db
from contactsync.models import RunPage, SyncRun, WriteOp
from contactsync.states import SETTLED_WRITE_STATES, RunStatus


@dataclass(frozen=True)
class RunProgress:
    status: str
    fetched: int
    pages: int
    reconciled: int
    writes: int
    writes_done: int
    finished: bool

    def fraction(self, expected_contacts: int) -> float:
        if self.finished:
            return 1.0
        if self.status == RunStatus.FETCHING:
            return 0.4 * min(1.0, self.fetched / max(1, expected_contacts))
        if self.status == RunStatus.RECONCILING:
            return 0.4 + 0.3 * self.reconciled / max(1, self.pages)
        return 0.7 + 0.3 * self.writes_done / max(1, self.writes)

    def detail(self) -> str:
        return (
            f"{self.status:<11} {self.fetched:>5} fetched  {self.reconciled:>3}/{self.pages:<3} pages reconciled  "
            f"{self.writes_done:>4}/{self.writes:<4} writes"
        )


def latest_runs(tenant_ids: Sequence[str], since: datetime) -> dict[str, SyncRun]:
    with db.session() as s:
        return {
            run.tenant_id: run
            for run in s.scalars(
                select(SyncRun)
                .where(SyncRun.tenant_id.in_(tenant_ids), SyncRun.started_at >= since)
                .order_by(SyncRun.id)
            )
        }


def progress_of(run: SyncRun) -> RunProgress:
    with db.session() as s:
        pages, reconciled = s.execute(
            select(func.count(), func.count().filter(RunPage.reconciled)).where(RunPage.run_id == run.id)
        ).one()
        writes, done = s.execute(
            select(func.count(), func.sum(case((WriteOp.status.in_(SETTLED_WRITE_STATES), 1), else_=0))).where(
                WriteOp.run_id == run.id
            )
        ).one()
    return RunProgress(run.status, run.fetched, pages, reconciled, writes, int(done or 0), run.finished_at is not None)


def follow_runs(
    console: Console,
    expected: dict[str, int],
    since: datetime,
    timeout: float,
    stop_early: Callable[[], bool] = lambda: False,
) -> dict[str, SyncRun | None]:
    """Show the tenants' runs started since `since` until all have finished (or `timeout` passes)."""
    columns = (TextColumn("{task.description:<16}"), BarColumn(bar_width=24), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())  # fmt: skip
    deadline = time.monotonic() + timeout
    with Progress(*columns, console=console, transient=False) as bars:
        tasks = {tid: bars.add_task(tid, total=1.0, detail="waiting for the beat to start it") for tid in expected}
        while True:
            runs = latest_runs(list(expected), since)
            for tid, task in tasks.items():
                run = runs.get(tid)
                if run is not None:
                    state = progress_of(run)
                    bars.update(task, completed=state.fraction(expected[tid]), detail=state.detail())
            done = len(runs) == len(expected) and all(r.finished_at is not None for r in runs.values())
            if done or time.monotonic() > deadline or stop_early():
                return {tid: runs.get(tid) for tid in expected}
            time.sleep(0.5)
