"""Creates whose answer was lost, against the sandbox over HTTP and a real database, the write task run in-process.

A lost create is resolved only by evidence: its true echo found by a look-up or a walk, or a complete walk of its
whole window after the visibility lag. A namesake (same name, other city, its own tax id) is never adopted, a
look-up that finds nothing sends nothing, and the run ends `partial` instead of waiting for the lag.
"""

from __future__ import annotations

import time
import unicodedata
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.appinput import AppInput
from contactsync.contact import Address, CanonicalContact
from contactsync.models import AppContact, Link, RemoteContact, SyncRun, WriteOp
from contactsync.models.base import utcnow
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.ledger import plan_into_ledger
from contactsync.store.lost_creates import recheck_parked
from contactsync.store.mirror import upsert_remote_contacts
from contactsync.store.reconcile import reconcile_remote
from contactsync.store.runs import finish_writing
from contactsync.store.tenants import connection_of
from contactsync.tasks.write import write
from tests.pipeline import connect_tenant, writing_run

MINE = CanonicalContact(
    name="Nordlicht Handel GmbH",
    is_customer=True,
    tax_number="DE811907980",
    emails=("info@nordlicht-handel.de",),
    addresses=(Address(street_1="Hafenstr. 3", city="Hamburg", postal_code="20457", country="DE"),),
)
NAMESAKE = CanonicalContact(
    name="Nordlicht Handel GmbH",
    is_customer=True,
    tax_number="DE129274202",
    emails=("kontakt@nordlicht-muenchen.de",),
    addresses=(Address(street_1="Leopoldstr. 9", city="München", postal_code="80802", country="DE"),),
)


def _tenant(
    sandbox: Any,
    faults: dict[str, Any],
    lag_seconds: float = 900,
    mine: CanonicalContact = MINE,
    variant: dict[str, Any] | None = None,
) -> str:
    token = f"lost-{time.monotonic_ns()}"
    body = {
        "token": token,
        "contacts": [NAMESAKE.model_dump(mode="json")],
        "rate_limit_per_minute": 100_000,
        "faults": faults,
        "variant": variant or {},
    }
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=30).raise_for_status()
    with db.session() as s:
        connect_tenant(s, sandbox, token, options={"visibility_lag_seconds": lag_seconds})
        upsert_app_contacts(s, "t1", [("a1", mine)])
    return token


def _writing_run(first_sent_ago: timedelta | None = None) -> tuple[int, int]:
    """A run in its writing stage with one create planned and, when asked, already sent (its answer lost)."""
    with db.session() as s:
        conn, run = writing_run(s)
        plan_into_ledger(s, "t1", conn.id, run.id, allow_creates=True)
        op = s.scalar(select(WriteOp))
        assert op is not None
        if first_sent_ago is not None:
            op.status, op.first_sent_at = "in_flight", utcnow() - first_sent_ago  # its worker was killed
        return run.id, op.id


def _platform(sandbox: Any, token: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/contacts", timeout=30).json())


def _commit_on_platform(sandbox: Any, token: str, op_id: int | None = None) -> None:
    """The create the killed worker sent (the entry's payload where given), committed by the platform (its answer
    never arrived)."""
    with db.session() as s:
        conn = connection_of(s, "t1")
        assert conn is not None
        from contactsync.store.tenants import provider_for

        op = s.get(WriteOp, op_id) if op_id is not None else None
        sent = CanonicalContact.model_validate(op.payload) if op is not None else MINE
        provider_for(conn).provider.create(sent)


def test_a_lost_create_hidden_by_the_lag_is_parked_not_sent_and_never_adopts_the_namesake(
    env: dict[str, str], sandbox: Any
) -> None:
    token = _tenant(sandbox, {"ignore_filters": True, "visibility_lag_ms": 60_000})
    run_id, op_id = _writing_run(first_sent_ago=timedelta(seconds=1))
    _commit_on_platform(sandbox, token)
    write.apply(args=["t1", op_id])
    rows = _platform(sandbox, token)
    assert len(rows) == 2  # the namesake and our one create: nothing sent again
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        run = s.get(SyncRun, run_id)
        assert op is not None and run is not None
        assert op.status == "parked", op.last_error
        assert s.scalar(select(Link)) is None  # the namesake, found by every look-up, is not ours
        assert (run.status, run.parked, run.write_errors) == ("partial", 1, 0)  # ended, not held for the lag


def test_a_lost_create_is_adopted_once_its_echo_shows_and_the_namesake_stays_unlinked(
    env: dict[str, str], sandbox: Any
) -> None:
    token = _tenant(sandbox, {"ignore_filters": True, "visibility_lag_ms": 1_000})
    run_id, op_id = _writing_run(first_sent_ago=timedelta(seconds=1))
    _commit_on_platform(sandbox, token)
    time.sleep(1.2)
    write.apply(args=["t1", op_id])
    ours = next(r for r in _platform(sandbox, token) if r["tax_number"] == MINE.tax_number)
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        assert op is not None and op.status == "done" and op.remote_id == ours["remote_id"]
        linked = s.scalars(select(RemoteContact.remote_id).join(Link)).all()
        assert linked == [ours["remote_id"]]
        run = s.get(SyncRun, run_id)
        assert run is not None and (run.status, run.created_remote) == ("succeeded", 1)
    assert len(_platform(sandbox, token)) == 2


@pytest.mark.parametrize(
    ("app_form", "platform_form"), [("NFD", "nfc"), ("NFC", "nfd")], ids=["decomposed-app", "decomposed-platform"]
)
def test_a_lost_create_is_adopted_though_the_platform_hands_its_text_back_in_another_unicode_form(
    env: dict[str, str], sandbox: Any, app_form: str, platform_form: str
) -> None:
    """The app writes ü one way, the platform stores and lists it the other way and drops a zero-width space:
    the echo is still ours, adopted and linked, and nothing is sent twice."""
    mine = MINE.model_copy(
        update={
            "name": unicodedata.normalize(app_form, "Nordlicht Spedition Lübeck\u200b GmbH"),
            "addresses": (Address(street_1="Große Str. 1", city="Lübeck", postal_code="23552", country="DE"),),
        }
    )
    variant = {"text_form": platform_form, "text_invisible": "dropped"}
    token = _tenant(sandbox, {"ignore_filters": True, "visibility_lag_ms": 1_000}, mine=mine, variant=variant)
    run_id, op_id = _writing_run(first_sent_ago=timedelta(seconds=1))
    _commit_on_platform(sandbox, token, op_id)
    time.sleep(1.2)
    write.apply(args=["t1", op_id])
    ours = [r for r in _platform(sandbox, token) if r["tax_number"] == MINE.tax_number]
    assert len(ours) == 1  # sent once
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        assert op is not None and (op.status, op.remote_id) == ("done", ours[0]["remote_id"]), op.last_error
        link = s.scalar(select(Link))
        assert link is not None and link.explanation == {"adopted_after_lost_response": True}
        run = s.get(SyncRun, run_id)
        assert run is not None and (run.status, run.created_remote) == ("succeeded", 1)


def test_an_adopted_create_is_linked_at_the_version_it_sent(env: dict[str, str], sandbox: Any) -> None:
    """The app edited the contact and undid the edit while the create's answer was lost: the adopted link's
    baseline is the sent version's, so that edit still counts as the app's (it would look older than the link if
    the link took the app's version at adoption)."""
    token = _tenant(sandbox, {"ignore_filters": True, "visibility_lag_ms": 1_000})
    _run_id, op_id = _writing_run(first_sent_ago=timedelta(seconds=1))
    _commit_on_platform(sandbox, token)
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        assert op is not None and op.app_version is not None
        sent_version = op.app_version
        later = utcnow() + timedelta(seconds=1)
        edited = MINE.model_copy(update={"emails": ("billing@nordlicht-handel.de",)})
        assert upsert_app_contacts(s, "t1", [AppInput("a1", edited, later)]) == (0, 1)
        assert upsert_app_contacts(s, "t1", [AppInput("a1", MINE, later + timedelta(seconds=1))]) == (0, 1)
    time.sleep(1.2)
    write.apply(args=["t1", op_id])
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        link = s.scalar(select(Link))
        app = s.get(AppContact, op.app_contact_id) if op is not None else None
        assert op is not None and op.status == "done" and link is not None and app is not None
        assert app.data == op.payload and app.version > sent_version  # the same document, two edits later
        assert link.baseline["app_version"] == sent_version


def test_a_walk_recognises_the_echo_of_a_parked_create(env: dict[str, str], sandbox: Any) -> None:
    _tenant(sandbox, {})
    _run_id, op_id = _writing_run(first_sent_ago=timedelta(seconds=5))
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        assert op is not None
        op.status = "parked"
        conn = connection_of(s, "t1")
        assert conn is not None
        namesake = NAMESAKE.model_copy(update={"remote_id": "r-namesake"})
        echo = MINE.model_copy(update={"remote_id": "r-echo"})
        ids, _, _ = upsert_remote_contacts(s, "t1", conn.id, [namesake, echo])
        reconcile_remote(s, "t1", ids)
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        assert op is not None and (op.status, op.remote_id) == ("done", "r-echo")
        assert s.scalars(select(RemoteContact.remote_id).join(Link)).all() == ["r-echo"]


def test_only_a_late_complete_walk_lets_a_parked_create_be_sent_again(env: dict[str, str], sandbox: Any) -> None:
    token = _tenant(sandbox, {}, lag_seconds=60)
    run_id, op_id = _writing_run(first_sent_ago=timedelta(seconds=30))
    with db.session() as s:
        s.get(WriteOp, op_id).status = "parked"  # type: ignore[union-attr]
        run = s.get(SyncRun, run_id)
        conn = connection_of(s, "t1")
        assert run is not None and conn is not None
        # This walk began 30 s after the send: inside the 60 s lag, so proves nothing.
        recheck_parked(s, run, conn)
        assert s.get(WriteOp, op_id).status == "uncertain"  # type: ignore[union-attr]
        # An incremental walk that began late enough but started reading after the send proves nothing either.
        run.kind, run.started_at = "incremental", utcnow() + timedelta(seconds=40)
        run.window_after = utcnow()
        recheck_parked(s, run, conn)
        assert s.get(WriteOp, op_id).status == "uncertain"  # type: ignore[union-attr]
        run.window_after = utcnow() - timedelta(hours=1)
        # Proven absent, but its app contact is named in an open review: it waits for the person.
        op = s.get(WriteOp, op_id)
        assert op is not None
        recheck_parked(s, run, conn, frozenset({op.app_contact_id}))
        assert op.status == "parked"
        _todo, resend = recheck_parked(s, run, conn)
        op = s.get(WriteOp, op_id)
        assert resend == 1 and op is not None and op.status == "pending" and op.first_sent_at is None
    write.apply(args=["t1", op_id])
    assert len(_platform(sandbox, token)) == 2  # sent once, now that its absence is proven


def test_a_run_with_a_failed_write_is_partial(env: dict[str, str], sandbox: Any) -> None:
    _tenant(sandbox, {})
    run_id, op_id = _writing_run()
    with db.session() as s:
        s.get(WriteOp, op_id).status = "failed"  # type: ignore[union-attr]
        run = s.get(SyncRun, run_id)
        assert run is not None
        finish_writing(s, run)
        assert (run.status, run.write_errors, run.parked) == ("partial", 1, 0)
        assert run.error is not None and "1 write(s) failed" in run.error


def test_a_refused_look_up_is_not_a_refused_write(env: dict[str, str], sandbox: Any) -> None:
    """A 400 on the read-only look-up says nothing about the create: it stays open (parked), never `failed`."""
    token = _tenant(sandbox, {"refuse_filters": True})
    run_id, op_id = _writing_run(first_sent_ago=timedelta(seconds=1))
    _commit_on_platform(sandbox, token)
    write.apply(args=["t1", op_id])
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        run = s.get(SyncRun, run_id)
        assert op is not None and run is not None
        assert op.status == "parked" and op.last_error is not None and "400" in op.last_error
        assert (run.status, run.write_errors, run.parked) == ("partial", 0, 1)
    assert len(_platform(sandbox, token)) == 2  # nothing sent again


def test_a_full_walk_does_not_infer_deleted_what_we_created_inside_the_lag(env: dict[str, str], sandbox: Any) -> None:
    from contactsync.store.answers import record_created
    from contactsync.store.mirror import mark_unseen_deleted

    _tenant(sandbox, {})
    run_id, op_id = _writing_run()
    with db.session() as s:
        conn = connection_of(s, "t1")
        op = s.get(WriteOp, op_id)
        assert conn is not None and op is not None
        upsert_remote_contacts(s, "t1", conn.id, [NAMESAKE.model_copy(update={"remote_id": "r-seen"})])
        record_created(s, op, MINE.model_copy(update={"remote_id": "r-ours"}), adopted=False)
        # Neither was listed by the walk: the one we just created may simply not be listed yet.
        assert mark_unseen_deleted(s, "t1", conn.id, run_id, created_since=utcnow() - timedelta(minutes=15)) == 1
        gone = s.scalars(select(RemoteContact.remote_id).where(RemoteContact.deleted.is_(True))).all()
        assert gone == ["r-seen"]
