"""The app's edits against what the platform sent it, on a real database.

Two ways a newer edit used to be lost, both found by the soak: an app that applied the feed (the platform's GBP)
and then set the field back to a value it had stated before (EUR) was taken for a stale copy; and an update's
answer recorded after the app edited again marked that later edit as synced, so it never travelled.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from contactsync import db
from contactsync.appinput import AppInput
from contactsync.contact import CanonicalContact, Phone
from contactsync.models import Change, Link, RemoteContact, SyncRun, WriteOp
from contactsync.states import WriteState
from contactsync.store.answers import record_created, record_updated
from contactsync.store.contacts import update_app_content, upsert_app_contacts
from contactsync.store.ledger import plan_into_ledger
from contactsync.store.mirror import upsert_remote_contacts
from contactsync.store.refused_writes import reopen_failed
from contactsync.store.write_states import move_write
from tests.test_store import make_tenant
from tests.test_write_safety import app_row, mirror, plan, platform

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def state(
    currency: str, phone: str = "+49 30 1111111", clock: datetime | None = T0, base: int | None = None
) -> AppInput:
    contact = CanonicalContact(name="Alpha GmbH", currency=currency, phones=(Phone(number=phone),))
    return AppInput("a1", contact, clock, base_version=base)


def take_platform_value(currency: str) -> int:
    """The platform's value of the currency reaches the app contact (as planning does); returns the version."""
    with db.session() as s:
        row = app_row("a1")
        live = s.merge(row)
        update_app_content(s, live, {**live.data, "currency": currency})
        return live.version


def test_a_restated_value_is_an_edit_only_where_the_app_has_seen_the_platform_value(env: dict[str, str]) -> None:
    make_tenant()
    with db.session() as s:
        assert upsert_app_contacts(s, "t1", [state("EUR")]) == (1, 0)
    taken = take_platform_value("GBP")
    assert app_row("a1").data["currency"] == "GBP"
    with db.session() as s:  # the feed tells the app which version the platform's value made
        change = s.scalar(select(Change).where(Change.kind == "fields_changed"))
        assert change is not None and change.data == {"fields": {"currency": "GBP"}, "version": taken}

    later = datetime.now(UTC) + timedelta(seconds=1)
    with db.session() as s:
        # Without a clock (a re-import) and based on a version before the platform's value: a stale copy.
        assert upsert_app_contacts(s, "t1", [state("EUR", clock=None)]) == (0, 0)
        assert upsert_app_contacts(s, "t1", [state("EUR", clock=later, base=taken - 1)]) == (0, 0)
        # A clock older than the moment the value was taken in: the copy could not hold it; its new phone is an
        # edit, its old currency is not.
        older = datetime.now(UTC) - timedelta(hours=1)
        assert upsert_app_contacts(s, "t1", [state("EUR", "+49 30 2222222", clock=older)]) == (0, 1)
    row = app_row("a1")
    assert row.data["currency"] == "GBP" and row.data["phones"][0]["number"] == "+49 30 2222222"

    with db.session() as s:  # based on the version that took GBP in: EUR again is the app's edit
        assert upsert_app_contacts(s, "t1", [state("EUR", "+49 30 2222222", clock=later, base=taken)]) == (0, 1)
    row = app_row("a1")
    assert row.data["currency"] == "EUR" and row.edited_at == later


def test_a_restated_value_with_a_clock_after_the_platform_value_is_an_edit(env: dict[str, str]) -> None:
    """An app that does not send `base_version`: its edit time after the platform's value reached the contact
    says the app could have seen it, so a value different from it is the app's choice."""
    make_tenant()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [state("EUR")])
    take_platform_value("GBP")
    with db.session() as s:  # the app applied the feed: stating GBP is no edit and moves no clock
        assert upsert_app_contacts(s, "t1", [state("GBP", clock=datetime.now(UTC))]) == (0, 0)
    assert app_row("a1").edited_at == T0
    with db.session() as s:
        assert upsert_app_contacts(s, "t1", [state("EUR", clock=datetime.now(UTC) + timedelta(seconds=1))]) == (0, 1)
    assert app_row("a1").data["currency"] == "EUR"


def _linked_pair() -> int:
    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [AppInput("a1", platform("", "Mueller Bau GmbH", None, "info@mb.de"), T0)])
    mirror(conn_id, [platform("r1", "Mueller Bau GmbH", None, "info@mb.de")])
    with db.session() as s:
        assert s.scalar(select(Link)) is not None
    plan(conn_id)  # the first sync of the pair: its baseline
    return conn_id


def _app_edit(clock: datetime, **changes: object) -> None:
    with db.session() as s:
        row = app_row("a1")
        contact = CanonicalContact.model_validate({**row.data, **changes})
        assert upsert_app_contacts(s, "t1", [AppInput("a1", contact, clock)]) == (0, 1)


def _answer_open_update(**platform_changes: object) -> dict[str, object]:
    """The platform applies the open update (plus any edit of its own) and its answer is recorded now."""
    with db.session() as s:
        op = s.scalar(select(WriteOp).where(WriteOp.kind == "update", WriteOp.status == WriteState.PENDING))
        assert op is not None
        remote = s.scalar(select(RemoteContact).where(RemoteContact.remote_id == op.remote_id))
        assert remote is not None
        sent = dict(op.payload["changes"])
        answer = CanonicalContact.model_validate(
            {**remote.data, **sent, **platform_changes, "remote_id": remote.remote_id}
        )
        move_write(op, WriteState.IN_FLIGHT)
        record_updated(s, op, answer)
        return sent


def _open_updates() -> list[dict[str, object]]:
    with db.session() as s:
        ops = s.scalars(select(WriteOp).where(WriteOp.kind == "update", WriteOp.status == WriteState.PENDING))
        return [dict(op.payload["changes"]) for op in ops]


def test_an_app_edit_made_while_an_update_was_under_way_goes_out_next(env: dict[str, str]) -> None:
    conn_id = _linked_pair()
    _app_edit(datetime(2025, 2, 1, tzinfo=UTC), currency="CHF")
    plan(conn_id)
    assert _open_updates() == [{"currency": "CHF"}]
    # Before the answer is recorded (a retry, a redelivered batch) the app's user edits the same field again.
    _app_edit(datetime(2025, 3, 1, tzinfo=UTC), currency="SEK")
    assert _answer_open_update() == {"currency": "CHF"}
    plan(conn_id)
    assert _open_updates() == [{"currency": "SEK"}]


def test_a_platform_edit_shown_in_an_update_answer_reaches_the_app(env: dict[str, str]) -> None:
    conn_id = _linked_pair()
    _app_edit(datetime(2025, 2, 1, tzinfo=UTC), currency="CHF")
    plan(conn_id)
    # The platform's user changed the email after the plan; the update's answer carries it.
    _answer_open_update(emails=["neu@mb.de"])
    plan(conn_id)
    assert app_row("a1").data["emails"] == ["neu@mb.de"]
    assert _open_updates() == []


def test_an_app_edit_racing_a_run_that_takes_platform_values_in_keeps_both(env: dict[str, str]) -> None:
    """The run has taken the platform's new email into the app contact and not committed yet when the app's
    currency edit comes in: the edit waits for the run and merges into what it committed, instead of writing
    back the email it read before."""
    conn_id = _linked_pair()
    with db.session() as s:
        upsert_remote_contacts(s, "t1", conn_id, [platform("r1", "Mueller Bau GmbH", None, "neu@mb.de")])
    planned, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run_plan() -> None:
        try:
            with db.session() as s:
                run_id = s.scalar(select(func.max(SyncRun.id)))
                assert run_id is not None
                out = plan_into_ledger(s, "t1", conn_id, run_id, allow_creates=True)
                assert out.app_updates == 1
                planned.set()
                release.wait(30)
        except BaseException as exc:  # surfaced in the test's thread
            errors.append(exc)
            planned.set()

    def app_edit() -> None:
        try:  # the app states the field its user changed (a full copy read before the run would be stale)
            edit = AppInput("a1", CanonicalContact(name="Mueller Bau GmbH", currency="CHF"), datetime.now(UTC))
            with db.session() as s:
                assert upsert_app_contacts(s, "t1", [edit]) == (0, 1)
        except BaseException as exc:
            errors.append(exc)

    planner = threading.Thread(target=run_plan)
    planner.start()
    assert planned.wait(30)
    editor = threading.Thread(target=app_edit)
    editor.start()
    editor.join(0.5)  # the edit is under way (waiting for the run's row lock, once it holds one)
    release.set()
    planner.join(30)
    editor.join(30)
    assert not errors
    row = app_row("a1")
    assert row.data["emails"] == ["neu@mb.de"] and row.data["currency"] == "CHF"


def test_a_change_sent_once_before_is_sent_again_when_it_is_due_again(env: dict[str, str]) -> None:
    """The app sets USD (sent), the books' GBP comes in, the app sets USD again: a second update with the very
    same change is written, not taken for the first one."""
    conn_id = _linked_pair()
    _app_edit(datetime(2025, 2, 1, tzinfo=UTC), currency="USD")
    plan(conn_id)
    assert _open_updates() == [{"currency": "USD"}]
    _answer_open_update()
    with db.session() as s:  # the platform's user sets GBP; a walk mirrors it and planning takes it in
        upsert_remote_contacts(
            s,
            "t1",
            conn_id,
            [platform("r1", "Mueller Bau GmbH", None, "info@mb.de").model_copy(update={"currency": "GBP"})],
        )
    plan(conn_id)
    assert app_row("a1").data["currency"] == "GBP" and _open_updates() == []
    _app_edit(datetime.now(UTC) + timedelta(seconds=1), currency="USD")
    plan(conn_id)
    assert _open_updates() == [{"currency": "USD"}]


def _refuse_open_update() -> None:
    with db.session() as s:
        op = s.scalar(select(WriteOp).where(WriteOp.kind == "update", WriteOp.status == WriteState.PENDING))
        assert op is not None
        move_write(op, WriteState.IN_FLIGHT)
        move_write(op, WriteState.FAILED)
        op.last_error = "400 currency not allowed"


def _updates_by_status() -> list[tuple[str, dict[str, object]]]:
    with db.session() as s:
        ops = s.scalars(select(WriteOp).where(WriteOp.kind == "update").order_by(WriteOp.id))
        return [(str(op.status), dict(op.payload["changes"])) for op in ops]


def test_a_refused_update_is_sent_again_only_while_it_is_the_newest_change(env: dict[str, str]) -> None:
    """Retrying refused writes must never put an older value back: a refused update the app has moved past is
    cancelled, and the next plan sends the contact as it is now (the refused field included)."""
    conn_id = _linked_pair()
    _app_edit(datetime(2025, 2, 1, tzinfo=UTC), currency="CHF")
    plan(conn_id)
    _refuse_open_update()
    with db.session() as s:  # nothing changed since: the same update goes again
        assert reopen_failed(s, "t1") == (1, 0)
    assert _updates_by_status() == [("pending", {"currency": "CHF"})]
    _refuse_open_update()

    _app_edit(datetime(2025, 3, 1, tzinfo=UTC), currency="SEK", emails=["neu@mb.de"])
    with db.session() as s:
        assert reopen_failed(s, "t1") == (0, 1)
    assert _updates_by_status() == [("cancelled", {"currency": "CHF"})]
    plan(conn_id)
    assert _updates_by_status()[-1] == ("pending", {"currency": "SEK", "emails": ["neu@mb.de"]})

    # A refused update behind which a later one was planned is cancelled even if the app is back where it was.
    _refuse_open_update()
    _app_edit(datetime(2025, 4, 1, tzinfo=UTC), currency="NOK")
    plan(conn_id)
    _app_edit(datetime(2025, 5, 1, tzinfo=UTC), currency="SEK")
    with db.session() as s:
        assert reopen_failed(s, "t1") == (0, 1)
    assert [status for status, _changes in _updates_by_status()] == ["cancelled", "cancelled", "pending"]


def test_an_app_edit_undone_between_runs_beats_an_older_platform_edit(env: dict[str, str]) -> None:
    """The app goes EUR, GBP, EUR between two runs and the platform's user sets CHF in between: the app's EUR is
    the newer edit and goes out, though the app holds what the last sync left it (found by the soak)."""
    conn_id = _linked_pair()
    _app_edit(datetime(2025, 2, 1, tzinfo=UTC), currency="EUR")
    plan(conn_id)
    assert _open_updates() == [{"currency": "EUR"}]
    _answer_open_update()
    plan(conn_id)
    assert _open_updates() == []
    _app_edit(datetime(2025, 3, 1, 12, 0, tzinfo=UTC), currency="GBP")
    with db.session() as s:  # the platform's edit, older than the app's last one
        chf = platform("r1", "Mueller Bau GmbH", None, "info@mb.de").model_copy(update={"currency": "CHF"})
        upsert_remote_contacts(
            s, "t1", conn_id, [chf.model_copy(update={"remote_updated_at": datetime(2025, 3, 1, 12, 1, tzinfo=UTC)})]
        )
    _app_edit(datetime(2025, 3, 1, 12, 2, tzinfo=UTC), currency="EUR")
    plan(conn_id)
    assert app_row("a1").data["currency"] == "EUR"
    assert _open_updates() == [{"currency": "EUR"}]


def test_an_undone_app_edit_older_than_the_platform_edit_takes_the_platform_value(env: dict[str, str]) -> None:
    conn_id = _linked_pair()
    _app_edit(datetime(2025, 3, 1, 12, 0, tzinfo=UTC), currency="GBP")
    plan(conn_id)
    _answer_open_update()
    _app_edit(datetime(2025, 3, 1, 12, 1, tzinfo=UTC), currency="EUR")
    _app_edit(datetime(2025, 3, 1, 12, 2, tzinfo=UTC), currency="GBP")
    with db.session() as s:
        chf = platform("r1", "Mueller Bau GmbH", None, "info@mb.de").model_copy(update={"currency": "CHF"})
        upsert_remote_contacts(
            s, "t1", conn_id, [chf.model_copy(update={"remote_updated_at": datetime(2025, 3, 1, 12, 3, tzinfo=UTC)})]
        )
    plan(conn_id)
    assert app_row("a1").data["currency"] == "CHF" and _open_updates() == []


def test_an_app_edit_undone_while_a_create_was_under_way_beats_an_older_platform_edit(env: dict[str, str]) -> None:
    """The create sent EUR; before its answer was recorded the app went GBP and back to EUR, and the platform's
    user set CHF in between: the app's EUR is the newer edit. The link's baseline is taken at the version the
    create sent, not the app's version when the answer came (which hid the undone edit)."""
    conn_id = make_tenant()
    with db.session() as s:
        first = platform("", "Mueller Bau GmbH", None, "info@mb.de").model_copy(update={"currency": "EUR"})
        upsert_app_contacts(s, "t1", [AppInput("a1", first, T0)])
    plan(conn_id)
    sent_version = app_row("a1").version
    with db.session() as s:
        op = s.scalar(select(WriteOp).where(WriteOp.kind == "create"))
        assert op is not None and op.app_version == sent_version and op.payload["currency"] == "EUR"
    _app_edit(datetime(2025, 3, 1, 12, 0, tzinfo=UTC), currency="GBP")
    _app_edit(datetime(2025, 3, 1, 12, 2, tzinfo=UTC), currency="EUR")
    with db.session() as s:  # the answer, recorded only now (a redelivered batch)
        op = s.scalar(select(WriteOp).where(WriteOp.kind == "create"))
        assert op is not None
        move_write(op, WriteState.IN_FLIGHT)
        answer = CanonicalContact.model_validate({**op.payload, "remote_id": "r9"})
        record_created(s, op, answer, adopted=False)
    with db.session() as s:
        link = s.scalar(select(Link))
        assert link is not None and link.baseline["app_version"] == sent_version
        chf = platform("r9", "Mueller Bau GmbH", None, "info@mb.de").model_copy(update={"currency": "CHF"})
        upsert_remote_contacts(
            s, "t1", conn_id, [chf.model_copy(update={"remote_updated_at": datetime(2025, 3, 1, 12, 1, tzinfo=UTC)})]
        )
    plan(conn_id)
    assert app_row("a1").data["currency"] == "EUR"
    assert _open_updates() == [{"currency": "EUR"}]
