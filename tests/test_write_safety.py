"""Write safety on a real database: what planning queues (and does not) for linked pairs.

The app's contacts come in through the CSV reader, the platform's through the mirror, links through the real
matcher; the assertion is always about the write ledger, i.e. what would be sent to the platform.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from contactsync import db
from contactsync.appimport import RowError, read_app_contacts
from contactsync.appinput import AppInput
from contactsync.contact import Address, CanonicalContact
from contactsync.models import AppContact, Connection, Link, RemoteContact, ReviewItem, WriteOp
from contactsync.states import ContactStatus
from contactsync.store import changes
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.ledger import plan_into_ledger
from contactsync.store.mirror import upsert_remote_contacts
from contactsync.store.reconcile import reconcile_remote
from contactsync.store.review import link as review_link
from contactsync.store.review import reject as review_reject
from contactsync.store.runs import start_run
from contactsync.sync.planning import LinkBasis
from tests.test_store import make_tenant

DE_A, DE_B = "DE136695976", "DE811907980"


def platform(rid: str, name: str, tax: str | None, email: str, supplier: bool = True) -> CanonicalContact:
    return CanonicalContact(
        remote_id=rid,
        name=name,
        is_customer=True,
        is_supplier=supplier,
        tax_number=tax,
        emails=(email,),
        addresses=(Address(street_1="Hauptstr. 1", city="Berlin", postal_code="10115", country="DE"),),
    )


HEADER = "id,name,tax_number,email,street,city,postal_code,country"


def import_csv(tmp_path: Path, rows: list[str], header: str = HEADER) -> int:
    path = tmp_path / "app.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    items = list(read_app_contacts(path))
    assert not [i for i in items if isinstance(i, RowError)]
    with db.session() as s:
        _created, changed = upsert_app_contacts(s, "t1", [i for i in items if isinstance(i, AppInput)])
    return changed


def mirror(conn_id: int, contacts: list[CanonicalContact]) -> None:
    with db.session() as s:
        ids, _, _ = upsert_remote_contacts(s, "t1", conn_id, contacts)
        reconcile_remote(s, "t1", ids)


def plan(conn_id: int) -> Any:
    with db.session() as s:
        run = s.scalar(select(func.max(WriteOp.run_id)))
        conn = s.get(Connection, conn_id)
        assert conn is not None
        live = start_run(s, conn)
        run_id = live.id if live is not None else run
        out = plan_into_ledger(s, "t1", conn_id, run_id, allow_creates=True)
        if live is not None:
            live.status = "succeeded"
        return out


def updates() -> list[dict[str, Any]]:
    with db.session() as s:
        return [dict(op.payload["changes"]) for op in s.scalars(select(WriteOp).where(WriteOp.kind == "update"))]


def creates() -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(WriteOp).where(WriteOp.kind == "create")) or 0)


def app_row(app_id: str) -> AppContact:
    with db.session() as s:
        row = s.scalar(select(AppContact).where(AppContact.app_id == app_id))
        assert row is not None
        s.expunge(row)
        return row


ROWS = [
    # The same companies, spelled as the app spells them; no is_supplier column, no updated_at.
    "a1,MUELLER BAU GMBH,DE 136 695 976,info@mueller-bau.de,Hauptstr. 1,Berlin,10115,DE",
    "a2,schmidt logistik gmbh,,kontakt@schmidt-logistik.de,Hauptstr. 1,Berlin,10115,DE",
]
PLATFORM = [
    platform("r1", "Müller Bau GmbH", DE_A, "info@mueller-bau.de"),
    platform("r2", "Schmidt Logistik GmbH", None, "kontakt@schmidt-logistik.de"),
]


def test_first_sync_after_import_without_clock_sends_nothing(env: dict[str, str], tmp_path: Path) -> None:
    conn_id = make_tenant()
    import_csv(tmp_path, ROWS)
    mirror(conn_id, PLATFORM)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Link)) == 2
        bases = {row[0]: row[1] for row in s.execute(select(Link.app_contact_id, Link.basis))}
    out = plan(conn_id)
    assert updates() == [] and creates() == 0
    assert out.app_updates == 2
    # The platform's values won: its spelling, and its is_supplier (which the CSV did not state).
    a1, a2 = app_row("a1"), app_row("a2")
    assert a1.data["name"] == "Müller Bau GmbH" and a1.data["is_supplier"] is True
    assert a2.data["name"] == "Schmidt Logistik GmbH" and a2.data["is_supplier"] is True
    assert bases[a1.id] == LinkBasis.IDENTIFIER and bases[a2.id] == LinkBasis.SCORE
    # Replaying the same import changes nothing, and the next plan sends nothing.
    assert import_csv(tmp_path, ROWS) == 0
    plan(conn_id)
    assert updates() == []


def test_missing_and_blank_boolean_columns_never_send_false(env: dict[str, str], tmp_path: Path) -> None:
    conn_id = make_tenant()
    header = "id,name,tax_number,email,street,city,postal_code,country,is_supplier,updated_at"
    rows = [r + ",,2099-01-01T00:00:00Z" for r in ROWS]  # blank is_supplier, an app clock newer than anything
    import_csv(tmp_path, rows, header)
    mirror(conn_id, PLATFORM)
    plan(conn_id)
    sent = updates()
    assert all("is_supplier" not in u and "is_customer" not in u for u in sent)
    assert app_row("a1").data["is_supplier"] is True


def test_later_app_edit_goes_out_identity_only_on_confirmed_links(env: dict[str, str], tmp_path: Path) -> None:
    conn_id = make_tenant()
    import_csv(tmp_path, ROWS)
    mirror(conn_id, PLATFORM)
    plan(conn_id)
    header = "id,name,tax_number,email,street,city,postal_code,country,updated_at"
    later = [
        "a1,Mueller Bau Holding GmbH,DE 136 695 976,buchhaltung@mueller-bau.de,Hauptstr. 1,Berlin,10115,DE,2099-01-01",
        "a2,Schmidt Logistik Süd GmbH,DE 811 907 980,buero@schmidt-logistik.de,Hauptstr. 1,Berlin,10115,DE,2099-01-01",
    ]
    assert import_csv(tmp_path, later, header) == 2
    plan(conn_id)
    by_email = {u["emails"][0]: u for u in updates()}
    # a1 is linked by the same valid tax id: its rename goes out with the email.
    assert by_email["buchhaltung@mueller-bau.de"]["name"] == "Mueller Bau Holding GmbH"
    # a2 was linked by score alone: the email goes out, the new name and tax id are held.
    assert set(by_email["buero@schmidt-logistik.de"]) == {"emails"}


def test_differing_valid_tax_ids_go_to_review_not_to_the_platform(env: dict[str, str], tmp_path: Path) -> None:
    conn_id = make_tenant()
    import_csv(tmp_path, ["a1,Müller Bau GmbH,DE 811 907 980,info@mueller-bau.de,Hauptstr. 1,Berlin,10115,DE"])
    with db.session() as s:
        a1 = s.scalar(select(AppContact.id))
        ids, _, _ = upsert_remote_contacts(
            s, "t1", conn_id, [platform("r1", "Müller Bau GmbH", DE_A, "x@mueller-bau.de")]
        )
        # A link as a sister-company mix-up leaves it (the matcher itself keeps such pairs apart).
        s.add(Link(tenant_id="t1", app_contact_id=a1, remote_contact_id=ids[0], method="fuzzy", score=0.95,
                   decided_by="engine", basis=LinkBasis.SCORE))  # fmt: skip
    out = plan(conn_id)
    assert out.reviews == 1 and updates() == [] and out.app_updates == 0
    with db.session() as s:
        item = s.scalar(select(ReviewItem))
        assert item is not None and item.reason == "tax_id_conflict" and item.status == "open"
        item_id = item.id
    plan(conn_id)  # still undecided: still nothing, and no second item
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ReviewItem)) == 1
        review_reject(s, "t1", item_id, "alice")
    with db.session() as s:  # the app learns that the pair is no longer linked
        undone = [c for c in changes.read(s, "t1", 0, 100) if c.kind == "unlinked"]
        assert [(c.app_id, c.remote_id) for c in undone] == [("a1", "r1")]
    plan(conn_id)  # two companies: the link is gone and the app's one is created
    assert updates() == [] and creates() == 1


def test_person_confirms_a_tax_id_conflict(env: dict[str, str], tmp_path: Path) -> None:
    conn_id = make_tenant()
    import_csv(tmp_path, ["a1,Müller Bau GmbH,DE 811 907 980,info@mueller-bau.de,Hauptstr. 1,Berlin,10115,DE"])
    with db.session() as s:
        a1 = s.scalar(select(AppContact.id))
        ids, _, _ = upsert_remote_contacts(
            s, "t1", conn_id, [platform("r1", "Müller Bau GmbH", DE_A, "x@mueller-bau.de")]
        )
        s.add(Link(tenant_id="t1", app_contact_id=a1, remote_contact_id=ids[0], method="fuzzy", score=0.95,
                   decided_by="engine", basis=LinkBasis.SCORE))  # fmt: skip
    plan(conn_id)
    with db.session() as s:
        item = s.scalar(select(ReviewItem))
        assert item is not None
        review_link(s, "t1", item.id, "a1", "alice")
    plan(conn_id)
    with db.session() as s:
        link = s.scalar(select(Link))
        assert link is not None and link.basis == LinkBasis.PERSON and link.baseline is not None
    assert updates() == []  # the app's clock is unknown: the platform's values stand


def test_platform_deletion_reaches_the_app_and_nothing_recreates_it(env: dict[str, str], tmp_path: Path) -> None:
    conn_id = make_tenant()
    import_csv(tmp_path, ROWS)
    mirror(conn_id, PLATFORM)
    plan(conn_id)
    gone = PLATFORM[0].model_copy(update={"deleted": True})
    archived = PLATFORM[1].model_copy(update={"status": ContactStatus.ARCHIVED})
    mirror(conn_id, [gone, archived])
    out = plan(conn_id)
    assert out.removals == 2
    a1, a2 = app_row("a1"), app_row("a2")
    assert a1.status == "deleted_on_platform" and a2.status == "archived"
    with db.session() as s:
        ended = s.scalar(select(Link).where(Link.app_contact_id == a1.id))
        assert ended is not None and ended.ended_at is not None
        assert s.scalar(select(RemoteContact.deleted).where(RemoteContact.remote_id == "r1"))
    # A later app edit of the deleted one goes nowhere; nothing is created again.
    header = "id,name,tax_number,email,street,city,postal_code,country,updated_at"
    import_csv(tmp_path, [ROWS[0].replace("info@", "neu@") + ",2099-01-01"], header)
    plan(conn_id)
    assert creates() == 0 and updates() == []


def test_an_older_statement_arriving_late_changes_nothing(env: dict[str, str]) -> None:
    make_tenant()
    new, old = datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    with db.session() as s:
        upsert_app_contacts(s, "t1", [AppInput("a1", CanonicalContact(name="Alpha GmbH", emails=("new@a.de",)), new)])
        stale = AppInput("a1", CanonicalContact(name="Alpha GmbH", emails=("old@a.de",)), old)
        assert upsert_app_contacts(s, "t1", [stale]) == (0, 0)
        replayed = ("a1", CanonicalContact(name="Alpha GmbH", emails=("replay@a.de",)))
        assert upsert_app_contacts(s, "t1", [replayed], clocks={"a1": new}) == (0, 0)  # not newer: stale
        unknown_clock = AppInput("a1", CanonicalContact(name="Alpha GmbH", emails=("other@a.de",)))
        assert upsert_app_contacts(s, "t1", [unknown_clock]) == (0, 1)
    row = app_row("a1")
    assert row.data["emails"] == ["other@a.de"] and row.edited_at is None
    # Fields the call did not carry are unknown: the stored flag stays as it was.
    assert "is_supplier" in row.unknown_fields and "emails" not in row.unknown_fields


def test_unarchived_on_the_platform_lifts_the_app_status(env: dict[str, str], tmp_path: Path) -> None:
    conn_id = make_tenant()
    import_csv(tmp_path, ROWS)
    mirror(conn_id, PLATFORM)
    plan(conn_id)
    mirror(conn_id, [PLATFORM[1].model_copy(update={"status": ContactStatus.ARCHIVED})])
    plan(conn_id)
    assert app_row("a2").status == "archived" and app_row("a2").data["status"] == "archived"
    mirror(conn_id, [PLATFORM[1]])
    plan(conn_id)
    assert app_row("a2").status == "active" and app_row("a2").data["status"] == "active"
    assert updates() == [] and creates() == 0
