"""Fetch: walk the provider page by page, mirror each page, hand each page to a reconcile task.

The page token is committed with each page, so a redelivered fetch resumes where the dead one stopped. The
watermark moves only in the transaction that records the last page: a failed walk never advances it.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.orm import Session

from contactsync import db, metrics
from contactsync.logs import get_logger
from contactsync.models import Connection, QuarantinedRecord, SyncRun
from contactsync.models.base import utcnow
from contactsync.providers.base import KnownRecords, Page, PageToken, Provider, Window
from contactsync.providers.errors import NotFound
from contactsync.providers.pool import CallMeter
from contactsync.providers.registry import dialect_of, options_of
from contactsync.providers.window import advance_watermark, next_window
from contactsync.states import ConnectionStatus, RunStatus
from contactsync.store.absences import mark_deleted, unseen_remote_ids
from contactsync.store.lost_creates import clock_margin, reach_back, visibility_lag
from contactsync.store.mirror import (
    Known,
    holds_records,
    known_records,
    mark_unseen_deleted,
    upsert_remote_contacts,
)
from contactsync.store.reconcile import settle_linked
from contactsync.store.runs import count_into, cursor_of, get_run, lock_run, record_page, transition_run
from contactsync.store.tenants import owned_connection, provider_for
from contactsync.store.walk_notes import PageNotes, forget_earlier_walks, forget_walk
from contactsync.store.walk_notes import keep as keep_notes
from contactsync.sync.walks import Deletions, deletions_after_walk, infers_deletions, unseen_judged_from
from contactsync.tasks.failures import Attempt
from contactsync.tasks.failures import handle as handle_failure
from contactsync.tasks.reconcile import advance, reconcile, reconcile_page
from contactsync.worker.app import INFRA_ERRORS, INFRA_RETRY, bound_celery_task
from contactsync.worker.routing import enqueue

log = get_logger(__name__)

# A page with at most this many contacts to reconcile (an incremental walk's page: one or two edits among
# contacts as mirrored) is reconciled by the fetch itself, right after the page's commit. Its own task would cost
# more than matching a few contacts: a message, a session, and a wait behind the walk, since the tenant's queue
# is served by the worker processes that walk it. A page of a first walk (a hundred new contacts) still gets its
# own task, so that pages are matched in parallel while the walk goes on.
INLINE_RECONCILE_MAX = 10


@bound_celery_task("contactsync.fetch", **{**INFRA_RETRY, "max_retries": None})
def fetch(self: Task[Any, Any], tenant_id: str, run_id: int) -> None:
    with db.session() as s:
        run = get_run(s, tenant_id, run_id)
        if run is None or run.status != RunStatus.FETCHING:
            return
        conn = owned_connection(s, tenant_id, run.connection_id)
        if conn.status != ConnectionStatus.ACTIVE:
            transition_run(s, run, RunStatus.PAUSED, f"connection is {conn.status}")
            return
        s.expunge(conn)
    calls = CallMeter()  # none made yet: the provider's own meter counts from when it is open
    try:
        provider, calls = provider_for(conn)
        window = _window(tenant_id, run_id, conn, provider)
        with db.session() as s:
            run = get_run(s, tenant_id, run_id)
            if run is None or run.status != RunStatus.FETCHING:
                return
            token, page_no = run.page_token, run.pages_fetched
            # A mirror that holds no record yet (a connection's first walk) is not asked about every page.
            asks = holds_records(s, conn.id)
        ahead: Future[tuple[Page, dict[str, set[str]]]] | None = None
        # One thread, for the page fetched ahead. Leaving the block waits for its request: a walk that stopped (a
        # duplicate, a failure) counts that request with its calls, and the pooled provider is never used by two
        # tasks at once. The page it got is then dropped, as a page fetched but never recorded always was: the
        # run's token names the page to fetch next.
        with (
            _KnownRows(conn.id) as known,
            PageNotes(run_id) as notes,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch-ahead") as pool,
        ):
            ask = known if asks else None
            while True:
                page, noted = ahead.result() if ahead is not None else _fetch_page(provider, window, token, ask, notes)
                # The next page is asked for while this one is recorded: the walk waits on the platform and on the
                # database at once instead of in turn (most of an incremental walk is such waiting). Only one
                # thread uses the provider at a time: the walk takes the page before it uses the provider again
                # (a last page's absentees are asked for after it, and a last page has nothing to fetch ahead).
                # The thread gets its own copy of the token, which the walk records meanwhile.
                ahead = (
                    pool.submit(_fetch_page, provider, window, copy.deepcopy(page.next_token), ask, notes)
                    if page.next_token is not None
                    else None
                )
                gone = _confirmed_absences(tenant_id, run_id, conn, provider, page)
                with db.session() as s:
                    # The run is read here, locked, once a page: a duplicate of this task, or a run paused or failed
                    # meanwhile, is seen before anything is recorded (at the cost of the pages fetched since: this
                    # one and the one being fetched ahead, which is dropped).
                    run = lock_run(s, tenant_id, run_id)
                    if run is None or run.status != RunStatus.FETCHING or run.pages_fetched != page_no:
                        return  # a duplicate of this task got there first
                    pending = _record_page(s, run, conn, page_no, page, calls, gone, known.take(page.unchanged), noted)
                    recorded, token, page_no = page_no, run.page_token, run.pages_fetched
                notes.recorded(noted)
                if pending > INLINE_RECONCILE_MAX:
                    enqueue(reconcile, tenant_id, run_id, recorded)
                elif pending:
                    _reconcile_here(tenant_id, run_id, recorded)
                if page.next_token is None:
                    break
        enqueue(advance, tenant_id, run_id)
    except Exception as exc:
        handle_failure(self, exc, Attempt("fetch", tenant_id, run_id, conn.id, calls))


def _fetch_page(
    provider: Provider, window: Window, token: PageToken | None, ask: KnownRecords | None, notes: PageNotes
) -> tuple[Page, dict[str, set[str]]]:
    """A page, and what its walk noted for its later pages (kept in the page's transaction)."""
    page = provider.fetch_page(window, token, ask, notes)
    return page, notes.fetched()


class _KnownRows(db.ReadsAside):
    """The mirror's answer to "which of these records do you hold as they are" (`providers.base.KnownRecords`),
    read aside (`db.ReadsAside`). The rows it found are kept until their page is recorded, which then need not
    read them again."""

    def __init__(self, connection_id: int) -> None:
        super().__init__()
        self.connection_id = connection_id
        self.found: dict[str, Known] = {}

    def __call__(self, digests: Mapping[str, str]) -> set[str]:
        found = self.read(lambda conn: known_records(conn, self.connection_id, digests))
        self.found.update(found)
        return set(found)

    def take(self, remote_ids: list[str]) -> dict[str, Known]:
        missing = [remote_id for remote_id in remote_ids if remote_id not in self.found]
        if missing:  # the provider left a record unmapped that the mirror was not asked about: never dropped
            raise LookupError(f"{len(missing)} records left unmapped unasked, e.g. {missing[0]!r}")
        return {remote_id: self.found.pop(remote_id) for remote_id in remote_ids}


def _reconcile_here(tenant_id: str, run_id: int, page_no: int) -> None:
    """Reconcile a small page in this task. Whatever stops it hands the page to its own reconcile task, which
    retries an outage and fails the run (as the reconcile stage) on anything else, as for any page. The walk goes
    on meanwhile, unless it must stop itself: an outage, or its time limit, is the fetch's to retry too.

    A worker killed between the page's commit and this leaves the page unreconciled: the run waits for the
    stale-run re-drive, which sends every unreconciled page's task, as after a crash between any commit and the
    message it was to send."""
    try:
        reconcile_page(tenant_id, run_id, page_no)
    except Exception as exc:
        log.warning("reconciling a page in its walk failed; handed to its own task", run_id=run_id, page=page_no,
                    exc_info=True)  # fmt: skip
        enqueue(reconcile, tenant_id, run_id, page_no)
        if isinstance(exc, (*INFRA_ERRORS, SoftTimeLimitExceeded)):
            raise


def _infers_deletions(conn: Connection) -> bool:
    asked = options_of(conn.dialect, conn.options).infer_deletions
    return infers_deletions(asked, dialect_flags_deletions=dialect_of(conn.dialect).flags_deletions)


def _deletions(run: SyncRun, conn: Connection, platform_was_still: bool) -> Deletions:
    return deletions_after_walk(
        full_walk=run.kind == "full", infers=_infers_deletions(conn), platform_was_still=platform_was_still
    )


def _confirmed_absences(tenant_id: str, run_id: int, conn: Connection, provider: Provider, page: Page) -> list[str]:
    """After the last page of a full walk that saw the platform change (so absence proves nothing): ask the
    platform for each mirrored contact the walk did not return, and keep those it says do not exist. Skipped
    when there are more absentees than `verify_absences_max` (default 50): then no deletion is inferred at all."""
    if page.next_token is not None:
        return []
    with db.session() as s:
        run = get_run(s, tenant_id, run_id)
        if run is None or _deletions(run, conn, page.infer_deletions) is not Deletions.CONFIRMED:
            return []
        asked = options_of(conn.dialect, conn.options).verify_absences_max
        limit = 50 if asked is None else asked
        seen = [*(c.remote_id for c in page.contacts if c.remote_id), *page.unchanged]
        absent = unseen_remote_ids(s, tenant_id, conn.id, run_id, seen, limit=limit)
    if absent is None:
        log.info("too many contacts missing from a changing walk to verify; no deletions inferred", run_id=run_id)
        return []
    gone = []
    for remote_id in absent:
        try:
            provider.get(remote_id)
        except NotFound:
            gone.append(remote_id)
    return gone


def _record_page(
    s: Session,
    run: SyncRun,
    conn: Connection,
    page_no: int,
    page: Page,
    calls: CallMeter,
    gone: list[str],
    unchanged: dict[str, Known],
    noted: Mapping[str, Collection[str]],
) -> int:
    """Mirror the page, quarantine its broken records, and move the run's token on, in one transaction.

    Returns how many of the page's contacts wait to be reconciled. A page of contacts all as mirrored (an incremental
    walk's overlap, or the contacts our own writes created) is recorded as reconciled already, so no task is
    sent for it; a contact still waiting from an earlier run counts as something to reconcile. So does a changed
    one, unless it is linked already (and not deleted): the matcher has nothing to decide for it, and it is
    settled here (`store.reconcile.settle_linked`), so a page of edits to linked pairs is reconciled with it."""
    mirrored = upsert_remote_contacts(s, run.tenant_id, conn.id, page.contacts, unchanged)
    ids, pending = mirrored.ids, mirrored.pending
    if pending:
        pending -= settle_linked(s, ids)
    for q in page.quarantined:
        s.add(
            QuarantinedRecord(
                tenant_id=run.tenant_id,
                connection_id=conn.id,
                run_id=run.id,
                remote_id=q.remote_id,
                reason=q.reason[:2000],
                excerpt=q.excerpt[:2000],
            )
        )
    record_page(s, run, page_no, ids, reconciled=not pending)
    if page_no == 0:
        forget_earlier_walks(s, conn.id, run.id)
    keep_notes(s, run, noted)
    run.page_token = page.next_token
    run.pages_fetched = page_no + 1
    run.max_modified_at = advance_watermark(run.max_modified_at, page.max_modified_at)
    fetched = len(page.contacts) + len(page.unchanged)
    count_into(
        s,
        run,
        fetched=fetched,
        mirrored=mirrored.written,
        quarantined=len(page.quarantined),
        api_calls=calls.take(),
        walk_restarts=int(page.restarted),
    )
    if page.restarted:
        dialect = conn.dialect
        db.on_commit(s, lambda: metrics.count_walk_restart(dialect))
    if page.next_token is None:
        _complete_walk(s, run, conn, infer_deletions=page.infer_deletions, confirmed_gone=gone)
    return pending


def _window(tenant_id: str, run_id: int, conn: Connection, provider: Provider) -> Window:
    """The run's window, fixed when its first page is fetched and kept for every later page and resumption."""
    with db.session() as s:
        run = lock_run(s, tenant_id, run_id)
        assert run is not None
        if run.kind == "full":
            return Window(modified_after=None, modified_before=run.window_before)
        if run.pages_fetched == 0 and run.window_after is None:
            cursor = cursor_of(s, conn)
            lookback = clock_margin(conn)
            window = next_window(cursor.watermark, lookback, provider.sync_finished_at())
            # Reach back to before the first send of any create whose answer was lost: this walk may then prove it
            # absent (or find its echo), whatever the watermark did meanwhile.
            run.window_after = reach_back(s, conn, window.modified_after)
            run.window_before = window.modified_before
        return Window(modified_after=run.window_after, modified_before=run.window_before)


def _complete_walk(
    s: Session, run: SyncRun, conn: Connection, *, infer_deletions: bool, confirmed_gone: list[str]
) -> None:
    """The walk's last page is being recorded: only now may the watermark move (and absences mean anything, if
    the provider says the walk saw a still platform: a row it may have missed is never taken for a deletion;
    after a changing walk only the absentees the platform answered "not found" for are)."""
    forget_walk(s, run.id)
    cursor = cursor_of(s, conn)
    cursor.watermark = advance_watermark(cursor.watermark, run.max_modified_at)
    if run.kind == "full":
        cursor.last_full_at = utcnow()
    deletions = _deletions(run, conn, infer_deletions)
    if deletions is Deletions.CONFIRMED:
        gone = mark_deleted(s, run.tenant_id, conn.id, confirmed_gone)
        log.info("full walk saw the platform change; only confirmed absences marked deleted", run_id=run.id, count=gone)
    elif deletions is Deletions.UNSEEN:
        judged_from = unseen_judged_from(run.started_at, visibility_lag(conn))
        gone = mark_unseen_deleted(s, run.tenant_id, conn.id, run.id, created_since=judged_from)
        if gone:
            log.info("contacts missing from a complete full walk marked deleted", run_id=run.id, count=gone)
    cursor.updated_at = utcnow()
    transition_run(s, run, RunStatus.RECONCILING)
