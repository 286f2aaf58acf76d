"""Planning rewrites an app contact's blocking keys only when the platform's values moved them."""

from __future__ import annotations

from sqlalchemy import delete, event, literal_column, select
from sqlalchemy.orm import Session

from contactsync import db
from contactsync.matching import blocking_keys
from contactsync.matchinput import match_record
from contactsync.models import AppContact, ContactKey, Link, RemoteContact, ReviewItem, SyncRun
from contactsync.providers.registry import carried_content
from contactsync.store import review
from contactsync.store.contacts import rewrite_changed_keys, upsert_app_contacts
from contactsync.store.ledger import PlanOutcome, plan_into_ledger
from contactsync.store.mirror import upsert_remote_contacts
from contactsync.store.reconcile import reconcile_remote
from contactsync.sync.planning import baseline_of
from tests.test_store import company, make_tenant, run_after_full_walk


def _key_rows(s: Session, app_contact_id: int) -> dict[str, str]:
    """Each stored key of the contact with the transaction that wrote its row (`xmin`)."""
    rows = s.execute(
        select(ContactKey.key, literal_column("contact_keys.xmin::text")).where(
            ContactKey.app_contact_id == app_contact_id
        )
    )
    return {k: x for k, x in rows}


def test_platform_values_that_leave_the_keys_as_they_are_do_not_rewrite_them_and_others_do(
    env: dict[str, str],
) -> None:
    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(
            s, "t1", [("a1", company("Alpha GmbH", "DE123456789")), ("a2", company("Beta AG", "DE234567891"))]
        )
        # The platform knows a currency for Alpha (no key depends on it) and an email for Beta (a key does).
        ids, _, _ = upsert_remote_contacts(
            s,
            "t1",
            conn_id,
            [
                company("Alpha GmbH", "DE123456789", currency="EUR", remote_id="r1"),
                company("Beta AG", "DE234567891", email="info@beta-ag.de", remote_id="r2"),
            ],
        )
        assert reconcile_remote(s, "t1", ids).linked == 2
    with db.session() as s:
        apps = {a.app_id: a.id for a in s.scalars(select(AppContact))}
        before = {app_id: _key_rows(s, i) for app_id, i in apps.items()}
    with db.session() as s:
        run = run_after_full_walk(s)
        out = plan_into_ledger(s, "t1", conn_id, run.id, allow_creates=True)
        assert out.app_updates == 2
    with db.session() as s:
        after = {app_id: _key_rows(s, i) for app_id, i in apps.items()}
        beta = s.get(AppContact, apps["a2"])
        assert beta is not None and beta.data["emails"] == ["info@beta-ag.de"]
        assert set(after["a2"]) == set(blocking_keys(match_record(str(beta.id), beta.data)))
    assert after["a1"] == before["a1"]  # the same rows: not deleted and inserted again
    assert set(after["a2"]) != set(before["a2"])


def test_stored_keys_are_what_decides_a_rewrite(env: dict[str, str]) -> None:
    """A contact whose stored keys are not those of its content (keys written by an older rule) gets the new
    ones; one whose stored keys are already those given is left alone."""
    make_tenant()
    with db.session() as s:
        upsert_app_contacts(
            s, "t1", [("a1", company("Alpha GmbH", "DE123456789")), ("a2", company("Beta AG", "DE234567891"))]
        )
        apps = {a.app_id: a for a in s.scalars(select(AppContact))}
        s.execute(delete(ContactKey).where(ContactKey.app_contact_id == apps["a1"].id))
        s.add(ContactKey(tenant_id="t1", app_contact_id=apps["a1"].id, key="old:rule"))
    with db.session() as s:
        kept = _key_rows(s, apps["a2"].id)
        wanted = {a.id: blocking_keys(match_record(str(a.id), a.data)) for a in apps.values()}
        rewrite_changed_keys(s, "t1", wanted)
    with db.session() as s:
        assert set(_key_rows(s, apps["a1"].id)) == set(wanted[apps["a1"].id])
        assert _key_rows(s, apps["a2"].id) == kept


def test_only_the_keys_that_moved_are_deleted_and_inserted(env: dict[str, str]) -> None:
    """A contact some of whose keys move keeps the rows of the others (the same rows, not written again), loses the
    rows of the keys it no longer has and gains rows for its new ones; another contact's keys are not touched."""
    make_tenant()
    with db.session() as s:
        upsert_app_contacts(
            s, "t1", [("a1", company("Alpha GmbH", "DE123456789")), ("a2", company("Beta AG", "DE234567891"))]
        )
        apps = {a.app_id: a.id for a in s.scalars(select(AppContact))}
    with db.session() as s:
        before = {app_id: _key_rows(s, i) for app_id, i in apps.items()}
    kept, dropped = sorted(before["a1"])[1:], sorted(before["a1"])[0]
    assert kept and dropped not in kept
    wanted = frozenset([*kept, "test:new-key"])
    with db.session() as s:
        rewrite_changed_keys(s, "t1", {apps["a1"]: wanted})
    with db.session() as s:
        after = _key_rows(s, apps["a1"])
        assert set(after) == wanted
        assert {k: after[k] for k in kept} == {k: before["a1"][k] for k in kept}  # the same rows
        assert after["test:new-key"] != before["a1"][kept[0]]  # a row of this transaction
        assert _key_rows(s, apps["a2"]) == before["a2"]


def _plan_recording_statements(conn_id: int) -> tuple[PlanOutcome, list[tuple[str, bool]]]:
    """Plan a run after a full walk; each statement's text, and whether it was run once per row (executemany)."""
    statements: list[tuple[str, bool]] = []
    with db.session() as s:
        run = run_after_full_walk(s)
        event.listen(s.connection(), "before_cursor_execute", lambda *a: statements.append((a[2], a[5])))
        out = plan_into_ledger(s, "t1", conn_id, run.id, allow_creates=True)
    return out, statements


def _updates_of(table: str, statements: list[tuple[str, bool]]) -> list[bool]:
    return [many for q, many in statements if q.lstrip().upper().startswith(f"UPDATE {table.upper()}")]


def test_a_chunk_of_pairs_in_sync_is_written_by_one_update_with_what_mark_synced_sets(env: dict[str, str]) -> None:
    """Planning's in-sync pairs get their hashes and baselines in one statement (`store.synced_links`), the same
    values the ORM would have written one link at a time, and nothing is written twice at commit."""
    conn_id = make_tenant()
    names = [("Alpha GmbH", "DE123456789"), ("Beta AG", "DE234567891"), ("Gamma KG", "DE345678912")]
    with db.session() as s:
        upsert_app_contacts(s, "t1", [(f"a{i}", company(n, v)) for i, (n, v) in enumerate(names)])
        ids, _, _ = upsert_remote_contacts(
            s, "t1", conn_id, [company(n, v, remote_id=f"r{i}") for i, (n, v) in enumerate(names)]
        )
        assert reconcile_remote(s, "t1", ids).linked == 3
    out, statements = _plan_recording_statements(conn_id)
    assert out.app_updates == 0 and out.remote_updates == 0
    assert _updates_of("links", statements) == [False], statements
    with db.session() as s:
        pairs = s.execute(
            select(Link, AppContact, RemoteContact)
            .join(AppContact, AppContact.id == Link.app_contact_id)
            .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
        ).all()
        assert len(pairs) == 3
        for link, app, remote in pairs:
            assert (link.app_synced_hash, link.remote_synced_hash) == (app.content_hash, remote.content_hash)
            assert link.baseline == baseline_of(carried_content("merge", app.data), remote.data, app.version).to_json()


def test_a_person_accepting_two_tax_ids_is_read_from_the_link_by_planning(env: dict[str, str]) -> None:
    """Planning reads the link's accepted tax ids on their own (not the whole explanation): a pair whose valid tax
    ids differ goes to review once, and after a person confirms the link it is planned and synced."""
    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [("a1", company("Alpha GmbH", "DE136695976", email="info@alpha.de"))])
        (remote_id,), _, _ = upsert_remote_contacts(
            s, "t1", conn_id, [company("Alpha GmbH", "DE811569869", email="info@alpha.de", remote_id="r1")]
        )
        app_id = s.scalars(select(AppContact.id)).one()
        s.add(Link(tenant_id="t1", app_contact_id=app_id, remote_contact_id=remote_id, method="fuzzy", score=0.9,
                   explanation={"reason": "by the score"}, decided_by="engine"))  # fmt: skip
    with db.session() as s:
        assert plan_into_ledger(s, "t1", conn_id, run_after_full_walk(s).id, allow_creates=True).reviews == 1
    with db.session() as s:
        item = s.scalars(select(ReviewItem)).one()
        review.link(s, "t1", item.id, "a1", "person")
    with db.session() as s:
        run_id = s.scalars(select(SyncRun.id).order_by(SyncRun.id.desc())).first()
        out = plan_into_ledger(s, "t1", conn_id, run_id, allow_creates=True)
        assert out.reviews == 0
    with db.session() as s:
        link = s.scalars(select(Link)).one()
        assert link.explanation["accepted_tax_ids"] == ["DE136695976", "DE811569869"]
        assert link.app_synced_hash is not None and link.baseline is not None  # planned and synced, not held


def test_a_chunk_of_contacts_taking_platform_values_in_is_written_by_one_update(env: dict[str, str]) -> None:
    """The app contacts planning takes platform values into go out in one statement (`save_taken_in`), with every
    column `update_app_content` sets, and their blocking keys follow the new values."""
    conn_id = make_tenant()
    names = [("Alpha GmbH", "DE123456789"), ("Beta AG", "DE234567891"), ("Gamma KG", "DE345678912")]
    with db.session() as s:
        upsert_app_contacts(s, "t1", [(f"a{i}", company(n, v)) for i, (n, v) in enumerate(names)])
        ids, _, _ = upsert_remote_contacts(
            s,
            "t1",
            conn_id,
            [
                company(n, v, email=f"info{i}@example.de", currency="CHF", remote_id=f"r{i}")
                for i, (n, v) in enumerate(names)
            ],
        )
        assert reconcile_remote(s, "t1", ids).linked == 3
    out, statements = _plan_recording_statements(conn_id)
    assert out.app_updates == 3 and out.remote_updates == 0
    assert _updates_of("app_contacts", statements) == [False], statements
    with db.session() as s:
        for i in range(3):
            app = s.scalars(select(AppContact).where(AppContact.app_id == f"a{i}")).one()
            assert app.data["emails"] == [f"info{i}@example.de"] and app.data["currency"] == "CHF"
            assert app.version == 2 and set(app.taken_in) == {"emails", "currency"}
            assert app.taken_in["emails"]["v"] == 2 and app.updated_at.isoformat() == app.taken_in["emails"]["at"]
            stored = set(s.scalars(select(ContactKey.key).where(ContactKey.app_contact_id == app.id)))
            assert stored == set(blocking_keys(match_record(str(app.id), app.data)))
            link = s.scalars(select(Link).where(Link.app_contact_id == app.id)).one()
            assert link.app_synced_hash == app.content_hash
