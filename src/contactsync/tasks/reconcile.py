"""Reconcile one fetched page, and move the run on once every page is done."""

from __future__ import annotations

from contactsync import db
from contactsync.logs import get_logger
from contactsync.models import RunPage
from contactsync.states import RunStatus
from contactsync.store.reconcile import reconcile_remote
from contactsync.store.refit import refit_and_rereconcile
from contactsync.store.runs import add_counters, get_run, lock_run, transition_run, unreconciled_pages
from contactsync.store.statistics import refresh_stale_statistics
from contactsync.tasks.plan import plan_writes
from contactsync.worker.app import INFRA_RETRY, celery_task
from contactsync.worker.routing import enqueue

log = get_logger(__name__)


@celery_task("contactsync.reconcile", **INFRA_RETRY)
def reconcile(tenant_id: str, run_id: int, page_no: int) -> None:
    """Reconcile one page; the task that finds every page of a finished walk reconciled sends the run's advance.

    The advance (with the model's refit, which reads both whole sides) is a task of its own rather than the tail
    of whichever page happens to finish last: a page task costs what its page costs, and the refit is retried on
    its own. The check runs after the page's commit, so of two last pages finishing together at least the one
    committing second sees both; the walk sends the advance too when it ends (the pages reconciled before it),
    and the advance itself checks again under the run's lock, so a second message does nothing."""
    reconcile_page(tenant_id, run_id, page_no)
    with db.session() as s:
        run = get_run(s, tenant_id, run_id)
        due = run is not None and run.status == RunStatus.RECONCILING and not unreconciled_pages(s, run_id)
    if due:
        enqueue(advance, tenant_id, run_id)


def reconcile_page(tenant_id: str, run_id: int, page_no: int) -> None:
    """Reconcile a recorded page once, in one transaction: the page row is locked and marked with the links and
    reviews it made, so a second reconcile of it (a redelivered task) does nothing. The reconcile task runs it, and
    so does the fetch itself for a page with little to reconcile (`tasks.fetch`)."""
    with db.session() as s:
        run = get_run(s, tenant_id, run_id)
        page = s.get(RunPage, (run_id, page_no), with_for_update=True)
        if page is None or run is None or page.tenant_id != tenant_id:
            return
        if not page.reconciled:
            outcome = reconcile_remote(s, tenant_id, [int(i) for i in page.remote_contact_ids])
            page.reconciled = True
            add_counters(s, run_id, linked=outcome.linked, reviewed=outcome.reviewed)


@celery_task("contactsync.advance", **INFRA_RETRY)
def advance(tenant_id: str, run_id: int) -> None:
    """Reconciling -> writing, exactly once: the run row is locked while the pages are counted. The tenant's
    model is fitted again first if its books changed enough (`store.refit`)."""
    with db.session() as s:
        run = lock_run(s, tenant_id, run_id)
        if run is None or run.status != RunStatus.RECONCILING or unreconciled_pages(s, run_id):
            return
        again = refit_and_rereconcile(s, tenant_id, run_id)
        if again.linked:  # net: links decided again are not counted twice
            add_counters(s, run_id, linked=again.linked)
        transition_run(s, run, RunStatus.WRITING)
        log.info("run reconciled", tenant_id=tenant_id, run_id=run_id, connection_id=run.connection_id)
        # The rows its walk wrote to the mirror (a re-read contact as mirrored is not rewritten), and its links.
        written = {"remote_contacts": run.mirrored, "links": run.linked + again.linked}
    refresh_stale_statistics(written)  # the walk's mirror and links, before planning reads them
    enqueue(plan_writes, tenant_id, run_id)
