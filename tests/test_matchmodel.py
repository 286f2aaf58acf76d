"""The tenant's stored matching model: fitted once its books are mirrored, used by reconcile, refitted on change."""

from __future__ import annotations

from pathlib import Path

from benchmarks.generate_people import generate_people
from sqlalchemy import select

from contactsync import db
from contactsync.contact import Address, CanonicalContact
from contactsync.matching import DEFAULT_MODEL, MatchRecord, Model, match_all
from contactsync.matching.csvio import read_records
from contactsync.matching.tenantfit import person_share
from contactsync.matchinput import match_record
from contactsync.models import AppContact, Link, MatchModel, RemoteContact, RunPage
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.matchmodel import _sizes, base_model, refit_if_stale
from contactsync.store.mirror import upsert_remote_contacts
from contactsync.store.reconcile import reconcile_remote
from contactsync.store.refit import refit_and_rereconcile
from contactsync.store.review import tenant_model
from contactsync.store.runs import start_run
from contactsync.store.tenants import connection_of
from tests.test_store import company, make_tenant


def _contact(r: MatchRecord, remote: bool) -> CanonicalContact:
    address = Address(street_1=r.street, postal_code=r.postal_code, city=r.city, country=r.country)
    return CanonicalContact(
        remote_id=r.id if remote else None, name=r.name or "", is_customer=True, addresses=(address,)
    )


def test_a_person_heavy_tenant_gets_a_calibrated_model_and_its_run_is_decided_again_as_the_batch_does(
    env: dict[str, str], tmp_path: Path
) -> None:
    # Generated people (typos, households, namesakes), just large enough for EM to fit (`calibrate.MIN_PAIRS`).
    generate_people(3000, 5, tmp_path)
    left, right = read_records(tmp_path / "left.csv"), read_records(tmp_path / "right.csv")
    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [(r.id, _contact(r, False)) for r in right])
        ids, _, _ = upsert_remote_contacts(s, "t1", conn_id, [_contact(r, True) for r in left])
        first = reconcile_remote(s, "t1", ids)  # as the pages of a first sync are: no model stored yet
        conn = connection_of(s, "t1")
        assert conn is not None
        run = start_run(s, conn)
        assert run is not None
        s.add(RunPage(tenant_id="t1", run_id=run.id, page_no=0, remote_contact_ids=list(ids), reconciled=True))
        s.flush()
        again = refit_and_rereconcile(s, "t1", run.id)
        stored = s.get(MatchModel, "t1")
        assert stored is not None and stored.calibrated and stored.person_share > 0.5
        assert stored.app_records == len(right) and stored.remote_records == len(left)
        model = base_model(s, "t1")
        assert model != DEFAULT_MODEL and model.records == len(right)
        assert tenant_model(s, "t1") == model  # no review decisions yet: the stored fit as it is
        assert again.linked > 0  # the fitted model links people the defaults only sent to review
        # With the fitted model, the pipeline's links are the batch's links on the same data.
        remotes = {r.id: r.remote_id for r in s.scalars(select(RemoteContact))}
        apps = {a.id: a.app_id for a in s.scalars(select(AppContact))}
        pipeline = {(remotes[r], apps[a]) for r, a in s.execute(select(Link.remote_contact_id, Link.app_contact_id))}
        assert len(pipeline) == first.linked + again.linked
        # The batch matcher decides by the same policy (calibrated: most names here are people's).
        # Not stale: nothing to fit or reconcile again.
        assert not refit_if_stale(s, "t1")
        assert refit_and_rereconcile(s, "t1", run.id).linked == 0
    batch = match_all(left, right, workers=1, calibrate=None)
    assert pipeline == {(d.left_id, d.right_id) for d in batch if d.decision == "link"}


def test_a_company_tenant_keeps_the_defaults_and_a_grown_tenant_is_fitted_again(env: dict[str, str]) -> None:
    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [(f"a{i}", company(f"Firma {i} GmbH")) for i in range(10)])
        upsert_remote_contacts(s, "t1", conn_id, [company(f"Firma {i} GmbH", remote_id=f"r{i}") for i in range(10)])
        assert not refit_if_stale(s, "t1")  # fitted (to the defaults): nothing a reconcile decided can change
        stored = s.get(MatchModel, "t1")
        assert stored is not None and not stored.calibrated and stored.person_share < 0.5
        assert Model.from_json(stored.model) == DEFAULT_MODEL and base_model(s, "t1") == DEFAULT_MODEL
        fitted_at = stored.fitted_at
        assert not refit_if_stale(s, "t1")
        upsert_remote_contacts(s, "t1", conn_id, [company(f"Neu {i} AG", remote_id=f"n{i}") for i in range(3)])
        refit_if_stale(s, "t1")
        s.refresh(stored)
        assert stored.remote_records == 13 and stored.fitted_at > fitted_at


def test_the_copies_our_creates_made_do_not_make_the_model_stale_but_the_platforms_own_records_do(
    env: dict[str, str],
) -> None:
    """A first sync creates on the platform what only the app had: copies of app contacts the fit already read.
    They would grow the platform's side by half here; the next run must not fit again for them."""
    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [(f"a{i}", company(f"Firma {i} GmbH")) for i in range(15)])
        upsert_remote_contacts(s, "t1", conn_id, [company(f"Firma {i} GmbH", remote_id=f"r{i}") for i in range(10)])
        refit_if_stale(s, "t1")
        stored = s.get(MatchModel, "t1")
        assert stored is not None and (stored.app_records, stored.remote_records) == (15, 10)
        fitted_at = stored.fitted_at
        copies, _, _ = upsert_remote_contacts(
            s, "t1", conn_id, [company(f"Firma {i} GmbH", remote_id=f"c{i}") for i in range(10, 15)]
        )
        apps = {app_id: i for app_id, i in s.execute(select(AppContact.app_id, AppContact.id))}
        for n, remote_id in enumerate(copies):
            app_id = apps[f"a{10 + n}"]
            s.add(Link(tenant_id="t1", app_contact_id=app_id, remote_contact_id=remote_id, method="created",
                       score=1.0, decided_by="writer"))  # fmt: skip
        s.flush()
        # The platform holds 15 now, 10 of its own: a fit would sample all 15, staleness looks at the 10.
        assert _sizes(s, "t1") == (15, 15, 10)
        assert not refit_if_stale(s, "t1")
        s.refresh(stored)
        assert stored.fitted_at == fitted_at and stored.remote_records == 10
        # The platform's own new records (not ours) still count: 13 against 10 is more than REFIT_CHANGE.
        upsert_remote_contacts(s, "t1", conn_id, [company(f"Neu {i} AG", remote_id=f"n{i}") for i in range(3)])
        refit_if_stale(s, "t1")
        s.refresh(stored)
        assert stored.remote_records == 13 and stored.fitted_at > fitted_at


def test_the_stored_person_share_counts_every_live_record_of_both_sides_once(env: dict[str, str]) -> None:
    """The share is read from distinct names with their counts: a name on both sides, or twice on one, counts
    once per record; a deleted record not at all. The figure is `tenantfit.person_share` over the live records."""
    conn_id = make_tenant()
    app = [("a1", "Anna Keller"), ("a2", "Hans Brandt"), ("a3", "Firma Eins GmbH"), ("a4", "Anna Keller")]
    remote = [("r1", "Anna Keller"), ("r2", "Firma Eins GmbH"), ("r3", "Firma Zwei AG"), ("r4", "Peter Hahn")]
    with db.session() as s:
        upsert_app_contacts(s, "t1", [(i, company(n)) for i, n in app])
        upsert_remote_contacts(s, "t1", conn_id, [company(n, remote_id=i) for i, n in remote])
        gone = company("Peter Hahn", remote_id="r4").model_copy(update={"deleted": True})
        upsert_remote_contacts(s, "t1", conn_id, [gone])
        refit_if_stale(s, "t1")
        stored = s.get(MatchModel, "t1")
        live = [match_record(i, {"name": n}) for i, n in [*app, *remote[:3]]]
        assert stored is not None and stored.person_share == person_share(live) == 4 / 7
