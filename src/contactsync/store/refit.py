"""After a run's pages are reconciled: fit the tenant's model if stale, and reconcile again what it may change.

Pages are reconciled while the walk is still fetching, so the model cannot be fitted to the tenant's data
before the first page is decided; on a first sync there is no remote side to fit to at all. Once every page
is done, the whole of both sides is mirrored: `refit_if_stale` fits the model (`store.matchmodel`) when it is
missing or the books changed enough, and the run's remote contacts are reconciled again with it, all in one
call, so that the decisions are those `contactsync match` takes with the same model. What the engine linked
is undone first only while nothing was written through the link yet (no synced hash, no baseline): the
writer has not run for this run, so no platform or app saw those links. A person's link is never revisited.

Only a calibrated model (a tenant of mostly people) needs this second pass; it holds the run's unlinked remote
contacts and their candidates in memory at once, so for a very big person tenant it is the part of a run whose
memory still grows with the tenant (chunking it would change which candidates compete).
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from contactsync.models import Link, RemoteContact, RunPage
from contactsync.store import changes as feed
from contactsync.store.matchmodel import refit_if_stale
from contactsync.store.reconcile import ReconcileOutcome, reconcile_remote


def refit_and_rereconcile(s: Session, tenant_id: str, run_id: int) -> ReconcileOutcome:
    """The second pass's outcome (empty when the model did not need fitting); `linked` is the net change in
    the run's engine links (links decided again are not counted twice)."""
    if not refit_if_stale(s, tenant_id):
        return ReconcileOutcome()
    ids: set[int] = set()
    for page_ids in s.scalars(select(RunPage.remote_contact_ids).where(RunPage.run_id == run_id)):
        ids.update(int(i) for i in page_ids)
    # This run's engine links that nothing was synced through yet are decided again with the new model.
    undone = s.execute(
        delete(Link)
        .where(
            Link.tenant_id == tenant_id,
            Link.remote_contact_id.in_(sorted(ids)),
            Link.decided_by == "engine",
            Link.app_synced_hash.is_(None),
            Link.remote_synced_hash.is_(None),
            Link.baseline.is_(None),
        )
        .returning(Link.app_contact_id, Link.remote_contact_id)
    ).all()
    feed.unlinked(s, tenant_id, [(a, r) for a, r in undone], "engine")
    kept = set(s.scalars(select(Link.remote_contact_id).where(Link.remote_contact_id.in_(sorted(ids)))))
    todo = sorted(ids - kept)
    s.execute(update(RemoteContact).where(RemoteContact.id.in_(todo)).values(needs_reconcile=True))
    # One call over all of them: a page-sized call would not see the competing candidates the batch sees.
    outcome = reconcile_remote(s, tenant_id, todo)
    outcome.linked -= len(undone)
    return outcome
