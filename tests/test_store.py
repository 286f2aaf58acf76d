"""The persistence layer against a real PostgreSQL: mirror upserts, the tenant lease, reconcile and the ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from contactsync import db
from contactsync.contact import Address, CanonicalContact
from contactsync.models import AppContact, ContactKey, Link, RemoteContact, ReviewItem, SyncRun, WriteOp
from contactsync.providers.records import raw_digest
from contactsync.store.absences import mark_deleted
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.ledger import plan_into_ledger
from contactsync.store.mirror import holds_records, known_records, upsert_remote_contacts
from contactsync.store.reconcile import reconcile_remote, settle_linked
from contactsync.store.runs import add_counters, count_into, cursor_of, lock_run, start_run
from contactsync.store.tenants import connection_config, connection_of, upsert_tenant


def company(
    name: str,
    tax: str | None = None,
    email: str | None = None,
    remote_id: str | None = None,
    currency: str | None = None,
) -> CanonicalContact:
    return CanonicalContact(
        remote_id=remote_id,
        name=name,
        is_customer=True,
        tax_number=tax,
        currency=currency,
        emails=(email,) if email else (),
        addresses=(Address(city="Berlin", country="DE"),),
    )


def make_tenant(tenant_id: str = "t1") -> int:
    with db.session() as s:
        upsert_tenant(
            s,
            tenant_id,
            name="T",
            dialect="merge",
            base_url="http://127.0.0.1:9/api/accounting/v1",
            api_key="key",
            account_token="tok",
        )
        conn = connection_of(s, tenant_id)
        assert conn is not None
        return conn.id


def run_after_full_walk(s: Session, tenant_id: str = "t1") -> SyncRun:
    """A new run of the tenant, its connection's full walk dated to the run's start: planning may create."""
    conn = connection_of(s, tenant_id)
    assert conn is not None
    run = start_run(s, conn)
    assert run is not None
    cursor_of(s, conn).last_full_at = run.started_at
    return run


def test_credentials_are_encrypted_at_rest(env: dict[str, str]) -> None:
    make_tenant()
    with db.session() as s:
        conn = connection_of(s, "t1")
        assert conn is not None
        assert b"tok" not in conn.credentials
        config = connection_config(conn)
        assert (config.api_key, config.account_token) == ("key", "tok")


def test_remote_upsert_compares_content(env: dict[str, str]) -> None:
    conn_id = make_tenant()
    page = [company("Alpha GmbH", remote_id="r1"), company("Beta AG", remote_id="r2")]
    with db.session() as s:
        ids, changed, _ = upsert_remote_contacts(s, "t1", conn_id, page)
        assert changed == 2 and len(ids) == 2
        s.execute(RemoteContact.__table__.update().values(needs_reconcile=False))
    with db.session() as s:
        ids2, changed2, _ = upsert_remote_contacts(s, "t1", conn_id, page)
        assert ids2 == ids and changed2 == 0
        ids3, changed3, _ = upsert_remote_contacts(s, "t1", conn_id, [company("Alpha GmbH & Co", remote_id="r1")])
        assert ids3 == ids[:1] and changed3 == 1
        assert s.scalar(select(func.count()).select_from(RemoteContact)) == 2
    # A record fetched again as mirrored is not written at all (its row version stays); any difference is.
    version = select(RemoteContact.remote_id, literal_column("remote_contacts.xmin::text"))
    with db.session() as s:
        before = {r: v for r, v in s.execute(version)}
    later = datetime(2030, 1, 1, tzinfo=UTC)
    with db.session() as s:
        upsert_remote_contacts(s, "t1", conn_id, [company("Alpha GmbH & Co", remote_id="r1"), page[1]])
        upsert_remote_contacts(s, "t1", conn_id, [page[1].model_copy(update={"remote_updated_at": later})])
    with db.session() as s:
        after = {r: v for r, v in s.execute(version)}
        assert after["r1"] == before["r1"] and after["r2"] != before["r2"]
        assert s.scalar(select(RemoteContact.remote_updated_at).where(RemoteContact.remote_id == "r2")) == later


def test_reread_page_as_mirrored_is_only_read(env: dict[str, str]) -> None:
    """A page whose contacts are all as mirrored (the first incremental run after a full sync re-reads every
    contact that sync created) is one read: no row is written or even locked (xmin and xmax stay, as does
    `last_seen_at`), and a row still waiting for a reconcile is counted. In a mixed page only the record that
    differs is written, a later modification time included, and the ids come back in page order."""
    conn_id = make_tenant()
    stamp = datetime(2030, 1, 1, tzinfo=UTC)
    page = [company(f"Firma {i} GmbH", remote_id=f"r{i}").model_copy(update={"modified_at": stamp}) for i in range(4)]
    with db.session() as s:
        ids, _, written = upsert_remote_contacts(s, "t1", conn_id, page)
        assert written == 4
        s.execute(RemoteContact.__table__.update().values(needs_reconcile=False))
        s.execute(RemoteContact.__table__.update().where(RemoteContact.remote_id == "r3").values(needs_reconcile=True))
    state = select(
        RemoteContact.remote_id,
        literal_column("remote_contacts.xmin::text"),
        literal_column("remote_contacts.xmax::text"),
        RemoteContact.last_seen_at,
    )
    with db.session() as s:
        before = {r[0]: tuple(r[1:]) for r in s.execute(state)}
    with db.session() as s:
        again, pending, written = upsert_remote_contacts(s, "t1", conn_id, list(reversed(page)))
    assert again == list(reversed(ids)) and pending == 1  # r3 still waits for its reconcile
    assert written == 0  # what the run's statistics hint counts (`tasks.reconcile.advance`)
    with db.session() as s:
        assert {r[0]: tuple(r[1:]) for r in s.execute(state)} == before
    edited = page[1].model_copy(update={"emails": ("neu@example.org",)})
    touched = page[2].model_copy(update={"modified_at": datetime(2030, 1, 2, tzinfo=UTC)})
    with db.session() as s:
        mixed, pending, written = upsert_remote_contacts(s, "t1", conn_id, [page[0], edited, touched])
    assert mixed == ids[:3] and pending == 1  # the edit; a later modification time alone needs no reconcile
    assert written == 2
    with db.session() as s:
        after = {r[0]: tuple(r[1:]) for r in s.execute(state)}
        assert after["r0"] == before["r0"] and after["r3"] == before["r3"]
        assert after["r1"][0] != before["r1"][0] and after["r2"][0] != before["r2"][0]
        row = s.scalar(select(RemoteContact).where(RemoteContact.remote_id == "r1"))
        assert row is not None and row.data["emails"] == ["neu@example.org"] and row.needs_reconcile
        assert s.scalar(select(RemoteContact.modified_at).where(RemoteContact.remote_id == "r2")) == touched.modified_at


def test_a_record_the_mirror_was_mapped_from_is_known_until_anything_else_changes_its_row(
    env: dict[str, str],
) -> None:
    """The mirror keeps the digest of the record each row was mapped from: the same record is known (and is
    taken as mirrored without being mapped: its row's id comes back, waiting reconciles counted); another
    record, a row without a record, and a row marked deleted by a walk's absences (its content changed, its record
    did not) are not. A record that differs from the row's only outside the synced fields still rewrites the
    row's digest, so the next walk knows it."""
    conn_id = make_tenant()
    records = {
        f"r{i}": {"id": f"r{i}", "name": f"Firma {i} GmbH", "modified_at": "2030-01-01T00:00:00Z"} for i in range(3)
    }
    page = [
        company(f"Firma {i} GmbH", remote_id=f"r{i}").model_copy(update={"raw": records[f"r{i}"]}) for i in range(3)
    ]
    bare = company("Ohne Rohdaten AG", remote_id="r9")
    with db.session() as s:
        upsert_remote_contacts(s, "t1", conn_id, [bare])
        assert not holds_records(s, conn_id)  # a walk then does not ask about its pages
        ids, _, _ = upsert_remote_contacts(s, "t1", conn_id, [*page, bare])
        assert holds_records(s, conn_id)
        s.execute(RemoteContact.__table__.update().values(needs_reconcile=False))
    digests = {remote_id: raw_digest(record) for remote_id, record in records.items()}
    asked = {**digests, "r1": raw_digest({**records["r1"], "name": "Firma 1 AG"}), "r9": digests["r0"], "nope": "x"}
    with db.session() as s:
        assert set(known_records(s, conn_id, asked)) == {"r0", "r2"}
        s.execute(RemoteContact.__table__.update().where(RemoteContact.remote_id == "r2").values(needs_reconcile=True))
    with db.session() as s:
        known = known_records(s, conn_id, asked)
        assert {r: k.id for r, k in known.items()} == {"r0": ids[0], "r2": ids[2]} and known["r2"].needs_reconcile
    with db.session() as s:
        again, pending, _ = upsert_remote_contacts(s, "t1", conn_id, [page[1]], unchanged=known)
    assert again == [ids[1], ids[0], ids[2]] and pending == 1  # r2 still waits for its reconcile
    with db.session() as s:
        assert mark_deleted(s, "t1", conn_id, ["r0"]) == 1
    with db.session() as s:
        assert set(known_records(s, conn_id, digests)) == {"r1", "r2"}
    # The platform adds a field contactsync does not carry: same content, new record, new digest.
    extra = {**records["r1"], "remote_data": None}
    with db.session() as s:
        upsert_remote_contacts(s, "t1", conn_id, [page[1].model_copy(update={"raw": extra})])
        assert set(known_records(s, conn_id, {"r1": raw_digest(extra)})) == {"r1"}
        assert not s.scalar(select(RemoteContact.needs_reconcile).where(RemoteContact.remote_id == "r1"))


def test_one_active_run_per_tenant(env: dict[str, str]) -> None:
    make_tenant()
    with db.session() as s:
        conn = connection_of(s, "t1")
        assert conn is not None
        first = start_run(s, conn)
        assert first is not None and first.kind == "full"
        assert start_run(s, conn) is None
        first.status = "succeeded"
        s.flush()
        assert start_run(s, conn) is not None


def test_app_contacts_write_keys_and_replay_is_noop(env: dict[str, str]) -> None:
    make_tenant()
    rows = [("a1", company("Alpha GmbH", tax="DE123456789")), ("a2", company("Beta AG", email="info@beta.de"))]
    with db.session() as s:
        assert upsert_app_contacts(s, "t1", rows) == (2, 0)
        assert s.scalar(select(func.count()).select_from(ContactKey)) >= 2
    with db.session() as s:
        assert upsert_app_contacts(s, "t1", rows) == (0, 0)
        assert s.scalar(select(AppContact.version).where(AppContact.app_id == "a1")) == 1


def test_reconcile_links_and_plans_each_create_once(env: dict[str, str]) -> None:
    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(
            s,
            "t1",
            [
                ("a1", company("Alpha GmbH", tax="DE123456789")),
                ("a2", company("Gamma Ltd", email="hi@gamma.co.uk")),
            ],
        )
        ids, _, _ = upsert_remote_contacts(
            s,
            "t1",
            conn_id,
            [company("ALPHA GMBH", tax="DE 123 456 789", remote_id="r1"), company("Zeta", remote_id="r9")],
        )
        outcome = reconcile_remote(s, "t1", ids)
        assert outcome.linked == 1
        link = s.scalar(select(Link))
        assert link is not None
        alpha = s.scalar(select(AppContact).where(AppContact.app_id == "a1"))
        assert alpha is not None and link.app_contact_id == alpha.id
        run = run_after_full_walk(s)
        first = plan_into_ledger(s, "t1", conn_id, run.id, allow_creates=True)
        second = plan_into_ledger(s, "t1", conn_id, run.id, allow_creates=True)
        assert first.creates == 1 and second.creates == 0
        creates = s.scalars(select(WriteOp).where(WriteOp.kind == "create")).all()
        assert [op.op_key for op in creates] == [
            f"create:{s.scalar(select(AppContact.id).where(AppContact.app_id == 'a2'))}"
        ]
        # The linked pair differs only in the name's spelling: one side's value is taken, the other is queued.
        assert first.remote_updates + first.app_updates == 1


def test_a_changed_linked_contact_is_settled_without_the_matcher_and_nothing_else_is(env: dict[str, str]) -> None:
    """A page's edit to a linked pair needs no reconcile; a new contact, and a linked one deleted on the platform
    (the feed must say so), still wait for theirs, and what reconcile then decides is what it decided before."""
    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(
            s, "t1", [("a1", company("Alpha GmbH", tax="DE123456789")), ("a2", company("Beta AG", tax="DE234567891"))]
        )
        ids, _, _ = upsert_remote_contacts(
            s,
            "t1",
            conn_id,
            [company("Alpha GmbH", tax="DE123456789", remote_id="r1"), company("Beta AG", tax="DE234567891",
                                                                              remote_id="r2")],
        )  # fmt: skip
        assert reconcile_remote(s, "t1", ids).linked == 2
    page = [
        company("Alpha GmbH", tax="DE123456789", email="neu@alpha.de", remote_id="r1"),
        company("Beta AG", tax="DE234567891", remote_id="r2").model_copy(update={"deleted": True}),
        company("Gamma Ltd", remote_id="r3"),
    ]
    with db.session() as s:
        ids, pending, _ = upsert_remote_contacts(s, "t1", conn_id, page)
        assert pending == 3
        assert settle_linked(s, ids) == 1
        assert settle_linked(s, ids) == 0  # once
    with db.session() as s:
        waiting = set(s.scalars(select(RemoteContact.remote_id).where(RemoteContact.needs_reconcile)))
        assert waiting == {"r2", "r3"}
        outcome = reconcile_remote(s, "t1", ids)
        assert (outcome.linked, outcome.unmatched) == (0, 1)
        assert not s.scalar(select(func.count()).select_from(RemoteContact).where(RemoteContact.needs_reconcile))
        assert s.scalar(select(func.count()).select_from(Link)) == 2


def test_review_candidates_are_not_created(env: dict[str, str]) -> None:
    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [("a1", company("Alpha GmbH"))])
        ids, _, _ = upsert_remote_contacts(s, "t1", conn_id, [company("Alpha GmbH", remote_id="r1")])
        alpha_id = s.scalar(select(AppContact.id))
        remote = s.get(RemoteContact, ids[0])
        assert remote is not None and alpha_id is not None
        s.add(
            ReviewItem(
                tenant_id="t1", remote_contact_id=remote.id, candidates=[{"app_contact_id": alpha_id, "score": 0.8}]
            )
        )
        remote.needs_reconcile = False
        conn = connection_of(s, "t1")
        assert conn is not None
        run = start_run(s, conn)
        assert run is not None
        out = plan_into_ledger(s, "t1", conn_id, run.id, allow_creates=True)
        assert out.creates == 0


def test_full_walk_recurs_after_the_interval(env: dict[str, str]) -> None:
    from datetime import timedelta

    from contactsync.models.base import utcnow

    make_tenant()
    with db.session() as s:
        conn = connection_of(s, "t1")
        assert conn is not None
        cursor = cursor_of(s, conn)
        cursor.watermark = cursor.last_full_at = utcnow() - timedelta(hours=1)
        run = start_run(s, conn)
        assert run is not None and run.kind == "incremental"
        run.status = "succeeded"
        cursor.last_full_at = utcnow() - timedelta(days=2)
        s.flush()
        again = start_run(s, conn)
        assert again is not None and again.kind == "full"


def test_review_link_and_reject(env: dict[str, str]) -> None:
    import pytest

    from contactsync.store.review import ReviewError, link, open_items, reject

    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [("a1", company("Alpha GmbH")), ("a2", company("Alpha AG"))])
        ids, _, _ = upsert_remote_contacts(
            s, "t1", conn_id, [company("Alpha", remote_id="r1"), company("Beta", remote_id="r2")]
        )
        a1, a2 = s.scalars(select(AppContact.id).order_by(AppContact.app_id)).all()
        for rid in ids:
            s.add(
                ReviewItem(
                    tenant_id="t1",
                    remote_contact_id=rid,
                    candidates=[{"app_contact_id": a1, "score": 0.7}, {"app_contact_id": a2, "score": 0.6}],
                )
            )
    with db.session() as s:
        items = open_items(s, "t1")
        assert [c["app_id"] for c in items[0]["candidates"]] == ["a1", "a2"]
        link(s, "t1", items[0]["item"], "a1", "alice")
        with pytest.raises(ReviewError):
            link(s, "t1", items[0]["item"], "a2", "bob")  # already decided
        with pytest.raises(ReviewError):
            link(s, "other-tenant", items[1]["item"], "a2", "bob")  # another tenant's item
        reject(s, "t1", items[1]["item"], "bob")
    with db.session() as s:
        link_row = s.scalar(select(Link))
        assert link_row is not None and link_row.decided_by == "person" and link_row.app_contact_id == a1
        assert open_items(s, "t1") == []
        # A decision stands: a linked item is never turned into a create, only a rejected one is.
        from contactsync.states import ReviewStatus
        from contactsync.store.review import transition_review

        linked, rejected = (s.get(ReviewItem, items[0]["item"]), s.get(ReviewItem, items[1]["item"]))
        assert linked is not None and rejected is not None
        with pytest.raises(ReviewError):
            transition_review(linked, ReviewStatus.CREATED, "carol")
        assert (linked.status, linked.resolved_by) == (ReviewStatus.LINKED, "alice")
        transition_review(rejected, ReviewStatus.CREATED, "bob")
        assert rejected.status == ReviewStatus.CREATED


def test_failed_writes_can_be_reopened(env: dict[str, str]) -> None:
    from contactsync.store.refused_writes import failed_ops, reopen_failed

    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [("a1", company("Alpha GmbH"))])
        run = run_after_full_walk(s)
        plan_into_ledger(s, "t1", conn_id, run.id, allow_creates=True)
        op = s.scalar(select(WriteOp))
        assert op is not None
        op.status, op.last_error = "failed", "400 Duplicate Name Exists Error"
    with db.session() as s:
        assert [o.last_error for o in failed_ops(s, "t1")] == ["400 Duplicate Name Exists Error"]
        assert failed_ops(s, "other") == []
        assert reopen_failed(s, "t1") == (1, 0)
        assert failed_ops(s, "t1") == []
        op = s.scalar(select(WriteOp))
        assert op is not None and op.status == "uncertain"  # a reopened create looks before it sends


def test_second_platform_copy_of_a_linked_contact_goes_to_review(env: dict[str, str]) -> None:
    conn_id = make_tenant()
    alpha = company("Alpha Maschinenbau GmbH", tax="DE811907980", email="info@alpha-maschinen.de")
    with db.session() as s:
        upsert_app_contacts(s, "t1", [("a1", alpha)])
        first, _, _ = upsert_remote_contacts(s, "t1", conn_id, [alpha.model_copy(update={"remote_id": "r1"})])
        assert reconcile_remote(s, "t1", first).linked == 1
        # The books hold the same company twice (a duplicate someone made on the platform).
        second, _, _ = upsert_remote_contacts(s, "t1", conn_id, [alpha.model_copy(update={"remote_id": "r2"})])
        outcome = reconcile_remote(s, "t1", second)
        assert (outcome.linked, outcome.reviewed) == (0, 1)
        assert s.scalar(select(func.count()).select_from(Link)) == 1
        item = s.scalar(select(ReviewItem))
        before = list(item.candidates) if item is not None else []
        assert item is not None and item.remote_contact_id == second[0]
        # The copy changes on the platform and is reconciled again: its one open item gets the new candidates.
        edited = alpha.model_copy(update={"remote_id": "r2", "name": "Alpha Maschinenbau GmbH Werk 2"})
        upsert_remote_contacts(s, "t1", conn_id, [edited])
        again = reconcile_remote(s, "t1", second)
        assert (again.linked, again.reviewed) == (0, 1)
        items = s.scalars(select(ReviewItem).execution_options(populate_existing=True)).all()
        assert len(items) == 1 and items[0].id == item.id and items[0].status == "open"
        assert items[0].candidates != before and items[0].candidates[0]["app_contact_id"] == before[0]["app_contact_id"]


def test_a_page_links_in_one_go_and_a_taken_app_contact_sends_its_remote_to_review(env: dict[str, str]) -> None:
    conn_id = make_tenant()
    firms = [company(f"Firma {w} GmbH", tax=None, email=f"info@firma-{w}.de") for w in ("eins", "zwei", "drei")]
    with db.session() as s:
        upsert_app_contacts(s, "t1", [(f"a{i}", c) for i, c in enumerate(firms)])
        # The third app contact was linked by another page already (its remote copy came first).
        taken, _, _ = upsert_remote_contacts(s, "t1", conn_id, [firms[2].model_copy(update={"remote_id": "r-old"})])
        assert reconcile_remote(s, "t1", taken).linked == 1
        page = [c.model_copy(update={"remote_id": f"r{i}"}) for i, c in enumerate(firms)]
        page.append(company("Niemand KG", remote_id="r-new"))
        ids, pending, _ = upsert_remote_contacts(s, "t1", conn_id, page)
        assert pending == 4
        outcome = reconcile_remote(s, "t1", ids)
        assert (outcome.linked, outcome.reviewed, outcome.unmatched) == (2, 1, 1)
        pairs = {(r, a) for r, a in s.execute(select(Link.remote_contact_id, Link.app_contact_id))}
        apps = {a.app_id: a.id for a in s.scalars(select(AppContact))}
        assert {(ids[0], apps["a0"]), (ids[1], apps["a1"])} <= pairs and len(pairs) == 3
        assert s.scalar(select(ReviewItem.remote_contact_id).where(ReviewItem.status == "open")) == ids[2]
        assert not s.scalar(select(func.count()).where(RemoteContact.needs_reconcile.is_(True)))


def test_review_decisions_are_kept_as_labels_and_refit_the_tenant_model(env: dict[str, str]) -> None:
    from contactsync.matching.model import kind
    from contactsync.models import MatchLabel
    from contactsync.store.review import link, open_items, reject, tenant_model

    conn_id = make_tenant()
    same = ["city:same", "given:missing", "postal:same", "street:same", "surname:close"]
    other = ["city:same", "given:initial", "postal:different", "surname:exact"]
    with db.session() as s:
        upsert_app_contacts(s, "t1", [(f"a{i}", company(f"Person {i}")) for i in range(6)])
        ids, _, _ = upsert_remote_contacts(s, "t1", conn_id, [company(f"P {i}", remote_id=f"r{i}") for i in range(6)])
        apps = s.scalars(select(AppContact.id).order_by(AppContact.app_id)).all()
        for rid in ids:
            s.add(
                ReviewItem(
                    tenant_id="t1",
                    remote_contact_id=rid,
                    candidates=[
                        {"app_contact_id": app, "score": 0.7, "explanation": {"weight": 10.5, "levels": levels}}
                        for app, levels in ((apps[ids.index(rid)], same), (apps[(ids.index(rid) + 1) % 6], other))
                    ],
                )
            )
    with db.session() as s:
        assert tenant_model(s, "t1").learned == {}
        items = open_items(s, "t1")
        for item, app_id in zip(items[:2], ("a0", "a1"), strict=True):
            link(s, "t1", item["item"], app_id, "alice")
        for item in items[2:]:
            reject(s, "t1", item["item"], "bob")
    with db.session() as s:
        labels = s.execute(select(MatchLabel.same, MatchLabel.levels).order_by(MatchLabel.id)).all()
        assert [lab.same for lab in labels] == [True, False, True, False] + [False] * 8
        model = tenant_model(s, "t1")
        # "other" was decided apart six times; "same" was linked twice and rejected four times: not consistent.
        assert model.learned == {kind(other): "apart"}


def test_a_run_moves_only_along_its_state_machine(env: dict[str, str]) -> None:
    """`transition_run` refuses a move the machine does not have (the run is left as it was), and an end does the
    bookkeeping: finished, its error kept, the tenant's lease free for the next run."""
    import pytest

    from contactsync.models import RunStatus, Tenant
    from contactsync.store.runs import RunTransitionError, transition_run

    make_tenant()
    with db.session() as s:
        conn = connection_of(s, "t1")
        assert conn is not None
        run = start_run(s, conn)
        assert run is not None and run.status == RunStatus.FETCHING
        with pytest.raises(RunTransitionError):
            transition_run(s, run, RunStatus.SUCCEEDED)  # nothing was written yet
        assert run.status == RunStatus.FETCHING and run.finished_at is None
        transition_run(s, run, RunStatus.RECONCILING)
        transition_run(s, run, RunStatus.WRITING)
        assert start_run(s, conn) is None  # still the tenant's lease
        transition_run(s, run, RunStatus.PARTIAL, "1 write(s) failed")
        assert run.finished_at is not None and run.error == "1 write(s) failed"
        tenant = s.get(Tenant, "t1")
        assert tenant is not None and tenant.next_sync_at is not None and tenant.next_sync_at > run.finished_at
        with pytest.raises(RunTransitionError):
            transition_run(s, run, RunStatus.FAILED)  # an ended run stays ended
        assert run.status == RunStatus.PARTIAL
        s.flush()
        assert start_run(s, conn) is not None


def _plan_tenant(tenant_id: str, chunk: int, monkeypatch: pytest.MonkeyPatch) -> tuple[object, dict[str, object]]:
    """Seven linked pairs the platform knows more about (an email the app lacks) and five app-only contacts,
    planned with `chunk` rows at a time; returns the outcome and what planning left in the app and ledger."""
    from contactsync.matching import blocking_keys
    from contactsync.matchinput import match_record
    from contactsync.models import Change
    from contactsync.store import ledger

    monkeypatch.setattr(ledger, "PLAN_CHUNK", chunk)
    conn_id = make_tenant(tenant_id)
    taxes = [f"DE1234567{n:02d}" for n in range(7)]
    with db.session() as s:
        upsert_app_contacts(s, tenant_id, [(f"a{n}", company(f"Firm {n} GmbH", tax=t)) for n, t in enumerate(taxes)])
        upsert_app_contacts(s, tenant_id, [(f"only{n}", company(f"Solo {n} AG")) for n in range(5)])
        ids, _, _ = upsert_remote_contacts(
            s,
            tenant_id,
            conn_id,
            [company(f"Firm {n} GmbH", tax=t, email=f"x{n}@firm.de", remote_id=f"r{n}") for n, t in enumerate(taxes)],
        )
        assert reconcile_remote(s, tenant_id, ids).linked == 7
        run = run_after_full_walk(s, tenant_id)
        out = plan_into_ledger(s, tenant_id, conn_id, run.id, allow_creates=True)
        s.flush()
        apps = s.scalars(select(AppContact).where(AppContact.tenant_id == tenant_id).order_by(AppContact.app_id)).all()
        keys = {
            a.app_id: sorted(s.scalars(select(ContactKey.key).where(ContactKey.app_contact_id == a.id))) for a in apps
        }
        for a in apps:  # every rewritten key set is the one the contact's content gives now
            assert keys[a.app_id] == sorted(blocking_keys(match_record(str(a.id), a.data)))
        ops = sorted(op.op_key.split(":")[0] for op in s.scalars(select(WriteOp).where(WriteOp.tenant_id == tenant_id)))
        state: dict[str, object] = {"emails": {a.app_id: a.data.get("emails") for a in apps}, "keys": keys, "ops": ops}
    with db.session() as s:  # the feed is written at commit: each taken email is a change naming its platform id
        state["feed"] = sorted(
            (c.app_id or "", c.remote_id or "")
            for c in s.scalars(select(Change).where(Change.tenant_id == tenant_id, Change.kind == "fields_changed"))
        )
    return out, state


def test_planning_in_chunks_plans_what_planning_at_once_does(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big tenant is planned a chunk at a time (bounded memory); the plan, the app's new content, its
    blocking keys and the ledger are the same as when every row fits in one chunk."""
    chunked, chunked_state = _plan_tenant("t1", 3, monkeypatch)
    whole, whole_state = _plan_tenant("t2", 1000, monkeypatch)
    assert chunked == whole
    assert chunked.creates == 5 and chunked.app_updates == 7  # type: ignore[attr-defined]
    assert chunked_state == whole_state
    assert chunked_state["feed"] == [(f"a{n}", f"r{n}") for n in range(7)]


def test_entries_are_saved_in_one_statement_and_left_clean(env: dict[str, str]) -> None:
    """`save_writes` writes every moved entry's state, attempts, times, error and remote id with one UPDATE; the
    ORM, which would send one UPDATE per entry, finds nothing left to write at commit."""
    from sqlalchemy import event

    from contactsync.states import WriteState
    from contactsync.store.write_states import move_write, save_writes

    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [("a1", company("Acme")), ("a2", company("Beta"))])
    with db.session() as s:
        app_ids = s.scalars(select(AppContact.id).order_by(AppContact.id)).all()
        for n, app_id in enumerate(app_ids):
            s.add(WriteOp(tenant_id="t1", connection_id=conn_id, op_key=f"create:{n}", kind="create",
                          app_contact_id=app_id, payload={}, idempotency_key=f"k{n}"))  # fmt: skip
    sent_at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    statements: list[str] = []
    with db.session() as s:
        ops = s.scalars(select(WriteOp).order_by(WriteOp.id)).all()
        first, second = ops
        for op in ops:
            move_write(op, WriteState.IN_FLIGHT)
            op.attempts, op.first_sent_at = 1, sent_at
        move_write(second, WriteState.DONE)
        second.remote_id, second.last_error = "r-2", None
        first.last_error = "timed out"
        conn = s.connection()
        event.listen(conn, "before_cursor_execute", lambda *a: statements.append(a[2]))
        save_writes(s, [first, second, second])
        s.flush()
    assert len([q for q in statements if q.lstrip().upper().startswith("UPDATE WRITE_OPS")]) == 1, statements
    with db.session() as s:
        rows = s.execute(
            select(
                WriteOp.status, WriteOp.attempts, WriteOp.first_sent_at, WriteOp.remote_id, WriteOp.last_error
            ).order_by(WriteOp.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        (WriteState.IN_FLIGHT, 1, sent_at, None, "timed out"),
        (WriteState.DONE, 1, sent_at, "r-2", None),
    ]


def test_counts_written_with_the_run_rows_other_changes_add_to_the_row_as_it_is(env: dict[str, str]) -> None:
    """A page's counters go into the UPDATE that moves the run's token (`count_into`): each adds to the row as
    committed, including what another task counted meanwhile, and a counter read back is the row's."""
    make_tenant()
    with db.session() as s:
        run_id = run_after_full_walk(s).id
    with db.session() as s:
        run = lock_run(s, "t1", run_id)
        assert run is not None
        add_counters(s, run_id, fetched=2)  # another task's count, committed before ours in the same row
        run.pages_fetched = 1
        count_into(s, run, fetched=100, quarantined=1, api_calls=0)
        s.flush()
        assert run.fetched == 102 and run.quarantined == 1 and run.api_calls == 0
        count_into(s, run, fetched=50)
    with db.session() as s:
        row = s.get(SyncRun, run_id)
        assert row is not None and (row.fetched, row.quarantined, row.pages_fetched) == (152, 1, 1)
        with pytest.raises(ValueError):
            count_into(s, row, nonsense=1)


def test_a_batch_counting_after_another_task_ended_the_run_from_the_ledger_counts_nothing_twice(
    env: dict[str, str],
) -> None:
    """A write batch commits a refused entry's state, then adds its counters in a later transaction; the run may
    end in between (another batch, the pairs' planning), taking its write counts from the ledger. The batch's
    late counts must not add to them (a refused write was counted twice), while the calls it made still count."""
    from contactsync.states import RunStatus, WriteState
    from contactsync.store.runs import finish_writing, transition_run

    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [("a1", company("Acme")), ("a2", company("Beta"))])
    with db.session() as s:
        run = run_after_full_walk(s)
        transition_run(s, run, RunStatus.RECONCILING)
        transition_run(s, run, RunStatus.WRITING)
        run_id = run.id
        app_ids = s.scalars(select(AppContact.id).order_by(AppContact.id)).all()
        for n, (app_id, status) in enumerate(zip(app_ids, (WriteState.FAILED, WriteState.DONE), strict=True)):
            s.add(WriteOp(tenant_id="t1", connection_id=conn_id, run_id=run_id, op_key=f"create:{n}", kind="create",
                          app_contact_id=app_id, payload={}, idempotency_key=f"k{n}", status=status))  # fmt: skip
    with db.session() as s:
        run = lock_run(s, "t1", run_id)
        assert run is not None
        finish_writing(s, run)  # the ledger: one refused, one created
    with db.session() as s:
        add_counters(s, run_id, write_errors=1, created_remote=1, api_calls=2)  # the batch's counts, late
    with db.session() as s:
        row = s.get(SyncRun, run_id)
        assert row is not None and row.status == RunStatus.PARTIAL
        assert (row.write_errors, row.created_remote, row.api_calls) == (1, 1, 2)
        add_counters(s, run_id, fetched=3)  # counters the ledger does not give still add
    with db.session() as s:
        assert s.get(SyncRun, run_id).fetched == 3  # type: ignore[union-attr]


def test_recording_create_answers_reads_no_app_contact_the_writer_loaded_without_its_data(
    env: dict[str, str],
) -> None:
    """A write batch loads its entries' app contacts with their ids only; recording a group's create answers
    reads nothing more of them (an argument that read `app.data` loaded it row by row: a SELECT per create)."""
    from sqlalchemy import event
    from sqlalchemy.orm import load_only

    from contactsync.states import WriteState
    from contactsync.store.answers import Answer, record_answers
    from contactsync.store.write_states import move_write

    conn_id = make_tenant()
    names = ["Acme GmbH", "Beta AG", "Gamma Ltd"]
    with db.session() as s:
        upsert_app_contacts(s, "t1", [(f"a{n}", company(name)) for n, name in enumerate(names)])
        app_rows = s.execute(select(AppContact.id, AppContact.data, AppContact.version).order_by(AppContact.id))
        for n, (app_id, data, version) in enumerate(app_rows):
            op = WriteOp(tenant_id="t1", connection_id=conn_id, op_key=f"create:{app_id}", kind="create",
                         app_contact_id=app_id, payload=data, app_version=version, idempotency_key=f"k{n}")  # fmt: skip
            s.add(op)
    statements: list[str] = []
    with db.session() as s:
        loaded = s.execute(
            select(WriteOp, AppContact)
            .join(AppContact, AppContact.id == WriteOp.app_contact_id)
            .options(load_only(AppContact.id, AppContact.tenant_id, AppContact.app_id))
            .order_by(WriteOp.id)
        ).all()
        answers = []
        for n, (op, _app) in enumerate(loaded):
            move_write(op, WriteState.IN_FLIGHT)
            answers.append(Answer(op, company(names[n], remote_id=f"r{n}")))
        event.listen(s.connection(), "before_cursor_execute", lambda *a: statements.append(a[2]))
        record_answers(s, answers)
        s.flush()
    reads = [q for q in statements if q.lstrip().upper().startswith("SELECT") and "app_contacts" in q]
    assert reads == [], reads
    with db.session() as s:
        baselines = s.scalars(select(Link.baseline).order_by(Link.id)).all()
    assert len(baselines) == 3 and all(b["app_version"] == 1 for b in baselines)
