"""The write planner's merge rules, called directly."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactsync.models import AppContact, Link, RemoteContact
from contactsync.store.ledger import pair_state, taken_in
from contactsync.sync.alike import alike, silent_alike, with_app_places, with_app_types
from contactsync.sync.planning import (
    REVIEW_TAX_CONFLICT,
    FieldBaseline,
    LinkBasis,
    PairState,
    baseline_of,
    cleared_by_app,
    field_digest,
    kept_apart,
    plan_pair,
    same_valid_tax_id,
    tax_ids_contradict,
)

OLD = datetime(2024, 1, 1, tzinfo=UTC)
NEW = datetime(2025, 6, 1, tzinfo=UTC)
# Valid German VAT ids (checksum) and an invalid one.
DE_A, DE_B, DE_BAD = "DE136695976", "DE811907980", "DE136695977"


def state(app: dict[str, Any], remote: dict[str, Any], **kw: Any) -> PairState:
    base: dict[str, Any] = {
        "app_content": app,
        "app_hash": "a2",
        "app_updated_at": OLD,
        "remote_content": remote,
        "remote_hash": "r2",
        "remote_updated_at": OLD,
        "app_synced_hash": "a1",
        "remote_synced_hash": "r1",
        "basis": LinkBasis.PERSON,
    }
    base.update(kw)
    return PairState(**base)


def synced(
    app_before: dict[str, Any],
    remote_before: dict[str, Any],
    app_now: dict[str, Any],
    remote_now: dict[str, Any],
    **kw: Any,
) -> PairState:
    """A pair synced when the sides held `*_before`, holding `*_now` today."""
    return state(app_now, remote_now, baseline=baseline_of(app_before, remote_before), **kw)


def first_link(app: dict[str, Any], remote: dict[str, Any], **kw: Any) -> PairState:
    return state(app, remote, app_synced_hash=None, remote_synced_hash=None, **kw)


def test_nothing_changed_plans_nothing() -> None:
    plan = plan_pair(state({"name": "A"}, {"name": "B"}, app_synced_hash="a2", remote_synced_hash="r2"))
    assert plan.in_sync


def test_only_app_changed_goes_out_but_a_blank_never_overwrites() -> None:
    plan = plan_pair(
        synced(
            {"name": "B", "tax_number": "X", "emails": ["b@x.de"]},
            {"name": "B", "tax_number": "X", "emails": ["b@x.de"]},
            {"name": "A", "tax_number": None, "emails": ["a@x.de"]},
            {"name": "B", "tax_number": "X", "emails": ["b@x.de"]},
            remote_hash="r1",
        )
    )
    assert plan.to_remote == {"name": "A", "emails": ["a@x.de"]}
    assert plan.to_app == {}  # the app's own clearing is not undone either


def test_only_remote_changed_overwrites_app() -> None:
    plan = plan_pair(synced({"name": "A"}, {"name": "A"}, {"name": "A"}, {"name": "B"}, app_hash="a1"))
    assert plan.to_app == {"name": "B"}
    assert plan.to_remote == {}


def test_a_value_the_platform_cleared_since_the_sync_is_cleared_in_the_app() -> None:
    """Emails and a tax id the platform held at the last sync and has cleared since: the app's copies are cleared
    too, and nothing goes to the platform (the other fields, unchanged, stay as they are)."""
    before = {"name": "B", "tax_number": "DE1", "emails": ["b@x.de"], "currency": "EUR"}
    now = {"name": "B", "tax_number": None, "emails": [], "currency": "EUR"}
    plan = plan_pair(synced(before, before, before, now, app_hash="a1"))
    assert plan.to_app == {"tax_number": None, "emails": []}
    assert plan.to_remote == {} and plan.conflicts == ()


def test_a_blank_the_platform_always_showed_clears_nothing() -> None:
    """A platform that kept no email at the last sync (it may keep none at all) and changed another field since:
    its blank is no news, the app keeps its email; without a per-field baseline a blank is never read as a
    clearing either."""
    app = {"name": "B", "emails": ["b@x.de"], "currency": "EUR"}
    remote_before = {"name": "B", "emails": [], "currency": "EUR"}
    plan = plan_pair(synced(app, remote_before, app, {**remote_before, "currency": "CHF"}, app_hash="a1"))
    assert plan.to_app == {"currency": "CHF"} and plan.to_remote == {}
    cleared = {**app, "emails": []}
    plan = plan_pair(state(app, cleared, app_hash="a1"))  # whole-content hashes only: the remote side changed
    assert "emails" not in plan.to_app


def test_a_clearing_against_an_app_edit_of_the_same_field_goes_to_the_newer() -> None:
    before = {"name": "B", "emails": ["b@x.de"]}
    app_now, remote_now = {"name": "B", "emails": ["new@x.de"]}, {"name": "B", "emails": []}
    plan = plan_pair(synced(before, before, app_now, remote_now, app_updated_at=OLD, remote_updated_at=NEW))
    assert plan.to_app == {"emails": []} and plan.to_remote == {} and plan.conflicts == ("emails",)
    plan = plan_pair(synced(before, before, app_now, remote_now, app_updated_at=NEW, remote_updated_at=OLD))
    assert plan.to_remote == {"emails": ["new@x.de"]} and plan.to_app == {} and plan.conflicts == ("emails",)
    # The app is the master: its edit stands against the platform's clearing.
    plan = plan_pair(synced(before, before, app_now, remote_now, remote_updated_at=NEW, conflict_policy="app"))
    assert plan.to_remote == {"emails": ["new@x.de"]} and plan.to_app == {}


def test_what_a_platform_kept_of_a_write_whose_answer_echoed_it_is_no_edit() -> None:
    """The baseline's emails, phones and roles are an update's answer (the request as sent), and the platform
    lists none of them as answered: it kept no email, its own form of the number, and its own customer flag.
    While its edit time is still the answer's, that is what it kept of the write: the app keeps its values,
    nothing is sent. Once the edit time has moved, they are changes like any other (a clearing reaches the app);
    an answer without an edit time finer than a second marks nothing."""
    sent = {"name": "B", "emails": ["b@x.de"], "phones": [{"number": "030 1234567", "type": "work"}]}
    sent |= {"is_customer": True}
    listed = {"name": "B", "emails": [], "phones": [{"number": "+49301234567", "type": "mobile"}]}
    listed |= {"is_customer": False}
    at = datetime(2025, 3, 1, 9, 30, 5, 120000, tzinfo=UTC)
    answered = baseline_of(sent, sent).answered_by(("emails", "phones", "is_customer"), at)
    plan = plan_pair(state(sent, listed, app_hash="a1", baseline=answered, remote_edited_at=at))
    assert plan.in_sync and plan.to_app == {} and plan.to_remote == {}
    plan = plan_pair(state(sent, listed, app_hash="a1", baseline=answered, remote_edited_at=NEW))
    assert plan.to_app == {k: listed[k] for k in ("emails", "phones", "is_customer")} and plan.to_remote == {}
    # Only the marked fields: a name the write did not carry is still a change when it differs.
    plan = plan_pair(state(sent, {**listed, "name": "C"}, app_hash="a1", baseline=answered, remote_edited_at=at))
    assert plan.to_app == {"name": "C"}
    assert baseline_of(sent, sent).answered_by(("emails",), at.replace(microsecond=0)) == baseline_of(sent, sent)
    assert baseline_of(sent, sent).answered_by(("emails",), None) == baseline_of(sent, sent)
    assert FieldBaseline.from_json(json.loads(json.dumps(answered.to_json()))) == answered


def test_an_app_clearing_goes_out_only_where_the_connection_sends_clearings() -> None:
    """The app cleared emails and its tax id since the last sync. By default the blanks stay in the app; with
    `send_clears` they go out like any edit: against the platform's edit of the field, the newer one wins; a
    score link still holds its identity; a field the connection cannot write, or the app never stated, is not
    sent."""
    before = {"name": "B", "tax_number": DE_A, "emails": ["b@x.de"], "currency": "EUR"}
    cleared = {**before, "tax_number": None, "emails": [], "currency": None}
    plan = plan_pair(synced(before, before, cleared, before, remote_hash="r1"))
    assert plan.to_remote == {} and plan.to_app == {}
    plan = plan_pair(synced(before, before, cleared, before, remote_hash="r1", send_clears=True))
    assert plan.to_remote == {"tax_number": None, "emails": [], "currency": None} and plan.to_app == {}
    plan = plan_pair(synced(before, before, cleared, before, remote_hash="r1", send_clears=True, basis=LinkBasis.SCORE))
    assert plan.to_remote == {"emails": [], "currency": None} and plan.held == ("tax_number",)
    plan = plan_pair(
        synced(
            before,
            before,
            cleared,
            before,
            remote_hash="r1",
            send_clears=True,
            unwritable=frozenset({"currency"}),
            app_unknown=frozenset({"tax_number"}),
        )
    )
    assert plan.to_remote == {"emails": []}
    edited = {**before, "emails": ["new@x.de"]}
    newer = {"app_updated_at": NEW, "remote_updated_at": OLD, "send_clears": True}
    plan = plan_pair(synced(before, before, {**before, "emails": []}, edited, **newer))
    assert plan.to_remote == {"emails": []} and plan.conflicts == ("emails",)
    older = {**newer, "app_updated_at": OLD, "remote_updated_at": NEW}
    plan = plan_pair(synced(before, before, {**before, "emails": []}, edited, **older))
    assert plan.to_app == {"emails": ["new@x.de"]} and plan.to_remote == {} and plan.conflicts == ("emails",)


def test_a_field_the_app_never_stated_follows_the_platforms_clearing() -> None:
    """The app's copy of a field it never stated is what it took from the platform: cleared with it."""
    before = {"name": "B", "emails": ["b@x.de"]}
    plan = plan_pair(
        synced(before, before, before, {"name": "B", "emails": []}, app_hash="a1", app_unknown=frozenset({"emails"}))
    )
    assert plan.to_app == {"emails": []} and plan.to_remote == {}


def test_per_field_changes_do_not_drag_other_fields_along() -> None:
    """The app changed its email; the name it spells differently was settled at the last sync and stays."""
    before_app = {"name": "Mueller GmbH", "emails": ["a@m.de"]}
    before_remote = {"name": "Müller GmbH", "emails": ["a@m.de"]}
    plan = plan_pair(
        synced(before_app, before_remote, {**before_app, "emails": ["b@m.de"]}, before_remote, remote_hash="r1")
    )
    assert plan.to_remote == {"emails": ["b@m.de"]}


def test_both_changed_fills_blanks_and_newer_wins_conflicts() -> None:
    plan = plan_pair(
        synced(
            {"name": "X", "tax_number": None, "emails": []},
            {"name": "X", "tax_number": None, "emails": []},
            {"name": "A", "tax_number": None, "emails": ["a@x.de"]},
            {"name": "B", "tax_number": "DE1", "emails": []},
            remote_updated_at=NEW,
        )
    )
    assert plan.to_app == {"name": "B", "tax_number": "DE1"}
    assert plan.to_remote == {"emails": ["a@x.de"]}
    assert plan.conflicts == ("name",)


def test_an_app_edit_undone_since_the_sync_is_still_an_edit() -> None:
    """EUR, GBP, EUR again between two runs, and the platform's CHF in between: the digests alone show no app
    edit; the field's edit version, later than the baseline's, does, and the newer side wins."""
    before = {"name": "X", "currency": "EUR"}
    baseline = baseline_of(before, before, app_version=3)
    now_app, now_remote = before, {"name": "X", "currency": "CHF"}
    common: dict[str, Any] = {"app_hash": "a1", "baseline": baseline, "remote_updated_at": OLD}
    plan = plan_pair(state(now_app, now_remote, app_updated_at=NEW, app_edited={"currency": 5}, **common))
    assert plan.to_remote == {"currency": "EUR"} and plan.to_app == {} and plan.conflicts == ("currency",)
    # The platform's edit is the newer one: it wins the same conflict.
    plan = plan_pair(state(now_app, now_remote, app_edited={"currency": 5}, **{**common, "remote_updated_at": NEW}))
    assert plan.to_app == {"currency": "CHF"} and plan.to_remote == {}
    # An edit the last sync already saw (its version is not later) is no edit now: the platform's value comes in.
    for edited in ({"currency": 3}, {"currency": 2}, {}):
        plan = plan_pair(state(now_app, now_remote, app_updated_at=NEW, app_edited=edited, **common))
        assert plan.to_app == {"currency": "CHF"} and plan.to_remote == {}
    # A baseline without a version (written before versions were kept): the digests alone decide, as before.
    old_baseline = {**common, "baseline": baseline_of(before, before)}
    plan = plan_pair(state(now_app, now_remote, app_updated_at=NEW, app_edited={"currency": 5}, **old_baseline))
    assert plan.to_app == {"currency": "CHF"}


def test_a_baselines_app_version_survives_its_json() -> None:
    baseline = baseline_of({"name": "X"}, {"name": "Y"}, app_version=7)
    assert FieldBaseline.from_json(json.loads(json.dumps(baseline.to_json()))) == baseline
    assert FieldBaseline.from_json(baseline_of({"name": "X"}, {}).to_json()) == baseline_of({"name": "X"}, {})


def test_first_link_with_app_clock_newer_pushes_app_value() -> None:
    plan = plan_pair(first_link({"name": "A"}, {"name": "B"}, app_updated_at=NEW))
    assert plan.to_remote == {"name": "A"}
    assert plan.conflicts == ("name",)


def test_first_link_with_unknown_app_clock_sends_nothing() -> None:
    """An import without edit times: the platform's values win, and even its blanks are not filled."""
    plan = plan_pair(
        first_link(
            {"name": "Mueller GmbH", "tax_number": "DE 136 695 976", "emails": ["a@m.de"], "is_supplier": True},
            {"name": "Müller GmbH", "tax_number": DE_A, "emails": [], "is_supplier": False},
            app_updated_at=None,
        )
    )
    assert plan.to_remote == {}
    assert plan.to_app == {"name": "Müller GmbH", "is_supplier": False}  # the same tax id, only spaced


def test_unknown_app_fields_are_never_sent() -> None:
    plan = plan_pair(
        first_link(
            {"name": "A", "is_supplier": False, "is_customer": True, "phones": []},
            {"name": "A", "is_supplier": True, "is_customer": False, "phones": [{"number": "1"}]},
            app_updated_at=NEW,
            app_unknown=frozenset({"is_supplier", "is_customer", "phones"}),
        )
    )
    assert plan.to_remote == {}
    assert plan.to_app == {"is_supplier": True, "is_customer": False, "phones": [{"number": "1"}]}


def test_unknown_fields_stay_unsent_after_the_link() -> None:
    plan = plan_pair(
        synced(
            {"name": "A", "is_supplier": True},
            {"name": "A", "is_supplier": True},
            {"name": "A", "is_supplier": False},
            {"name": "A", "is_supplier": True},
            remote_hash="r1",
            app_unknown=frozenset({"is_supplier"}),
        )
    )
    assert plan.to_remote == {}


def test_later_app_edit_goes_out_after_a_first_link_without_clock() -> None:
    app0 = {"name": "Müller GmbH", "emails": ["a@m.de"], "is_supplier": True}
    plan = plan_pair(synced(app0, app0, {**app0, "emails": ["new@m.de"]}, app0, remote_hash="r1", app_updated_at=None))
    assert plan.to_remote == {"emails": ["new@m.de"]}


def test_score_link_never_sends_identity_fields() -> None:
    before = {"name": "Alpha GmbH", "tax_number": None, "emails": ["a@x.de"]}
    now = {"name": "Alpha Süd GmbH", "tax_number": DE_A, "emails": ["b@x.de"]}
    plan = plan_pair(synced(before, before, now, before, remote_hash="r1", basis=LinkBasis.SCORE))
    assert plan.to_remote == {"emails": ["b@x.de"]}
    assert set(plan.held) == {"name", "tax_number"}
    first = plan_pair(
        first_link({"name": "Alpha GmbH"}, {"name": "Alpha AG"}, basis=LinkBasis.SCORE, app_updated_at=NEW)
    )
    assert first.to_remote == {} and first.held == ("name",)


def test_confirmed_bases_send_identity_fields() -> None:
    before = {"name": "Alpha GmbH"}
    for basis in (LinkBasis.PERSON, LinkBasis.CREATED, LinkBasis.IDENTIFIER):
        plan = plan_pair(synced(before, before, {"name": "Alpha Holding GmbH"}, before, remote_hash="r1", basis=basis))
        assert plan.to_remote == {"name": "Alpha Holding GmbH"}, basis


def test_same_valid_tax_id_confirms_a_score_link() -> None:
    before = {"name": "Alpha GmbH", "tax_number": DE_A}
    now = {"name": "Alpha Holding GmbH", "tax_number": "de 136695976"}
    plan = plan_pair(synced(before, before, now, before, remote_hash="r1", basis=LinkBasis.SCORE))
    assert plan.to_remote["name"] == "Alpha Holding GmbH"
    assert same_valid_tax_id({"tax_number": DE_A}, {"tax_number": "136 695 976", "addresses": [{"country": "DE"}]})
    assert not same_valid_tax_id({"tax_number": DE_BAD}, {"tax_number": DE_BAD})


def test_differing_valid_tax_ids_go_to_review_and_nothing_is_written() -> None:
    app = {"name": "Alpha GmbH", "tax_number": DE_A, "emails": ["a@x.de"]}
    remote = {"name": "Alpha GmbH", "tax_number": DE_B, "emails": []}
    for basis in LinkBasis:
        plan = plan_pair(first_link(app, remote, basis=basis, app_updated_at=NEW))
        assert plan.review == REVIEW_TAX_CONFLICT and plan.in_sync, basis
    accepted = plan_pair(
        first_link(app, remote, basis=LinkBasis.PERSON, app_updated_at=NEW, accepted_tax_ids=(DE_A, DE_B))
    )
    assert accepted.review is None and accepted.to_remote["emails"] == ["a@x.de"]
    # An invalid id on either side is only mild evidence: no conflict.
    assert not tax_ids_contradict({"tax_number": DE_A}, {"tax_number": DE_BAD})
    assert tax_ids_contradict({"tax_number": DE_A}, {"tax_number": DE_B})


def test_deleted_remote_is_never_written() -> None:
    plan = plan_pair(synced({"name": "B"}, {"name": "B"}, {"name": "A"}, {"name": "B"}, remote_deleted=True))
    assert plan.to_remote == {}


def test_conflict_policy_names_the_master_side() -> None:
    newer = plan_pair(first_link({"name": "A"}, {"name": "B"}, remote_updated_at=NEW))
    app = plan_pair(first_link({"name": "A"}, {"name": "B"}, conflict_policy="app", remote_updated_at=NEW))
    platform = plan_pair(
        first_link({"name": "A", "tax_number": None}, {"name": "B", "tax_number": "X"}, conflict_policy="platform")
    )
    assert newer.to_app == {"name": "B"}
    assert app.to_remote == {"name": "A"} and app.to_app == {}
    assert platform.to_app == {"name": "B", "tax_number": "X"}  # blanks still filled


def test_legacy_links_without_field_baseline_keep_whole_hash_rules() -> None:
    plan = plan_pair(state({"name": "A"}, {"name": "B"}, remote_synced_hash="r2"))
    assert plan.to_remote == {"name": "A"}


def test_same_tax_id_or_emails_written_differently_are_not_written() -> None:
    plan = plan_pair(
        first_link(
            {"name": "A", "tax_number": "DE 136 695 976", "emails": [" Info@A.de"]},
            {"name": "A", "tax_number": DE_A, "emails": ["info@a.de"]},
            app_updated_at=NEW,
        )
    )
    assert plan.in_sync
    assert not alike("emails", {"emails": [" Info@A.de"]}, {"emails": ["info@b.de"]})


VALUES: dict[str, list[Any]] = {
    "name": ["Alpha GmbH", "ALPHA GMBH", "Alpha Süd GmbH"],
    "tax_number": [None, DE_A, "DE 136 695 976", DE_B, DE_BAD],
    "is_supplier": [True, False],
    "emails": [[], ["a@x.de"], ["b@x.de"]],
}


def contents() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({k: st.sampled_from(v) for k, v in VALUES.items()})


@settings(max_examples=400, deadline=None)
@given(
    app=contents(),
    remote=contents(),
    app_before=st.one_of(st.none(), contents()),
    remote_before=contents(),
    basis=st.sampled_from(list(LinkBasis)),
    clock=st.sampled_from([None, OLD, NEW]),
    unknown=st.sets(st.sampled_from(list(VALUES))),
    policy=st.sampled_from(["newer", "app", "platform"]),
    clears=st.booleans(),
)
def test_planning_invariants(
    app: dict[str, Any],
    remote: dict[str, Any],
    app_before: dict[str, Any] | None,
    remote_before: dict[str, Any],
    basis: LinkBasis,
    clock: datetime | None,
    unknown: set[str],
    policy: str,
    clears: bool,
) -> None:
    """Whatever the pair: no unknown field and no unconfirmed identity goes out, nor a blank but the app's own
    clearing on a connection that sends clearings; a first link without the app's clock sends nothing;
    differing valid tax ids write nothing."""
    if app_before is None:
        pair = first_link(app, remote, basis=basis, app_updated_at=clock, app_unknown=frozenset(unknown))
    else:
        pair = synced(app_before, remote_before, app, remote, basis=basis, app_updated_at=clock,
                      app_unknown=frozenset(unknown), conflict_policy=policy, send_clears=clears)  # fmt: skip
    plan = plan_pair(pair)
    assert not set(plan.to_remote) & unknown
    for name, value in plan.to_remote.items():
        if value in (None, [], ""):  # only the app's clearing, sent where the connection says so
            assert clears and app_before is not None and app_before[name] not in (None, [], "")
            assert remote[name] not in (None, [], "")  # and only of a value the platform holds
    if basis == LinkBasis.SCORE and not same_valid_tax_id(app, remote):
        assert not {"name", "tax_number"} & set(plan.to_remote)
    if app_before is None and clock is None:
        assert plan.to_remote == {}
    if tax_ids_contradict(app, remote) and basis != LinkBasis.PERSON:
        assert plan.review == REVIEW_TAX_CONFLICT and plan.in_sync
    if app_before is not None and app_before == app:
        assert plan.to_remote == {}  # the app changed nothing: nothing of its goes out
    for name, value in plan.to_app.items():
        if value in (None, [], ""):  # a blank reaches the app only as the platform's clearing of what it held
            assert app_before is not None and remote_before[name] not in (None, [], "") and remote[name] == value


@pytest.mark.parametrize(
    "value",
    [None, "", "Müller GmbH", True, 0, 1.5, ["a@x.example", "b@x.example"], [{"street": "Hauptstr. 1", "zip": "1"}]],
)
def test_a_fields_digest_is_the_one_stored_baselines_hold(value: Any) -> None:
    """Baselines stored by earlier versions are compared with new digests: the text digested must not change."""
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    assert field_digest(value) == hashlib.sha256(blob.encode()).hexdigest()[:16]


# A connection that cannot write roles, status or currency (Maesn v1 on /contacts): its lists say no roles and no
# status, which read as "no role" and "active".
UNWRITABLE = frozenset({"is_customer", "is_supplier", "status", "currency"})


def test_a_first_link_never_takes_what_the_platform_cannot_state_over_the_apps_value() -> None:
    app = {"name": "Acme", "is_customer": True, "status": "archived", "currency": "EUR", "phones": ["1"]}
    remote = {"name": "Acme", "is_customer": False, "status": "active", "currency": "GBP", "phones": ["2"]}
    # The platform's clock is newer: a field it can be written decides by clocks as before
    plan = plan_pair(first_link(app, remote, remote_updated_at=NEW, unwritable=UNWRITABLE))
    assert plan.to_app == {"phones": ["2"]}
    assert plan.to_remote == {} and plan.conflicts == ("phones",)
    # Without the capability the same pair took all four from the platform
    assert set(plan_pair(first_link(app, remote, remote_updated_at=NEW)).to_app) == {
        "is_customer", "status", "currency", "phones"
    }  # fmt: skip


def test_an_app_edit_of_a_field_the_connection_cannot_write_plans_no_update() -> None:
    before = {"name": "Acme", "currency": "EUR", "phones": ["1"]}
    plan = plan_pair(synced(before, before, {**before, "currency": "USD"}, before, unwritable=UNWRITABLE))
    assert plan.to_remote == {} and plan.to_app == {}
    plan = plan_pair(
        synced(before, before, {**before, "currency": "USD", "phones": ["3"]}, before, unwritable=UNWRITABLE)
    )
    assert plan.to_remote == {"phones": ["3"]}


def test_a_platform_change_of_a_field_the_connection_cannot_write_is_taken_in() -> None:
    before = {"name": "Acme", "currency": "EUR", "status": "active"}
    plan = plan_pair(synced(before, before, before, {**before, "currency": "CHF"}, unwritable=UNWRITABLE))
    assert plan.to_app == {"currency": "CHF"} and plan.to_remote == {}
    # Both changed it: the newer edit wins where it can go, the app's stays in the app
    app_now, remote_now = {**before, "currency": "USD"}, {**before, "currency": "CHF"}
    plan = plan_pair(synced(before, before, app_now, remote_now, remote_updated_at=NEW, unwritable=UNWRITABLE))
    assert plan.to_app == {"currency": "CHF"} and plan.to_remote == {} and plan.conflicts == ("currency",)
    plan = plan_pair(synced(before, before, app_now, remote_now, app_updated_at=NEW, unwritable=UNWRITABLE))
    assert plan.to_app == {} and plan.to_remote == {} and plan.conflicts == ("currency",)


def test_sides_alike_as_the_dialect_carries_them_are_not_a_difference() -> None:
    """The mirror keeps a phone type as the platform said it; the app's side is compared as the dialect carries
    it (Maesn: a type off its enum is OTHER). Compared raw, every first link with the app's clock newer wrote the
    phones. (Types that name one kind of line in other words, "work" and "BUSINESS", are alike even raw.)"""
    app = {"name": "Acme", "phones": [{"number": "+4930123", "type": "OTHER"}]}
    mirrored = {"name": "Acme", "phones": [{"number": "+4930123", "type": "pager"}]}
    carried = {"name": "Acme", "phones": [{"number": "+4930123", "type": "OTHER"}]}
    assert plan_pair(first_link(app, mirrored, app_updated_at=NEW)).to_remote == {"phones": app["phones"]}
    plan = plan_pair(first_link(app, mirrored, app_updated_at=NEW, remote_view=carried))
    assert plan.to_remote == {} and plan.to_app == {} and plan.conflicts == ()
    # A real difference still travels, with the platform's value as mirrored
    other = {"name": "Acme", "phones": [{"number": "+4930999", "type": "pager"}]}
    other_view = {"name": "Acme", "phones": [{"number": "+4930999", "type": "OTHER"}]}
    plan = plan_pair(first_link(app, other, remote_updated_at=NEW, remote_view=other_view))
    assert plan.to_app == {"phones": other["phones"]} and plan.conflicts == ("phones",)


def test_phone_types_in_a_platforms_own_words_are_the_same_type() -> None:
    """Platforms hand a line's type back in their own word for its kind (Xero's DEFAULT slot, Maesn's BUSINESS and
    PRIVATE, QuickBooks' PrimaryPhone): on a first link that is no difference, whichever clock is newer, and a
    line taken in keeps the app's word. Another kind of line is still a difference."""
    app = {
        "name": "Acme",
        "phones": [{"number": "030 123456", "type": "work"}, {"number": "0171 234567", "type": "cell"}],
    }
    app["addresses"] = [{"country": "DE"}]
    for work, mobile in (("DEFAULT", "MOBILE"), ("BUSINESS", "Mobile"), ("PrimaryPhone", "mobile phone")):
        remote = {
            **app,
            "phones": [{"number": "+49171234567", "type": mobile}, {"number": "+4930123456", "type": work}],
        }
        for clock in ({"app_updated_at": NEW}, {"remote_updated_at": NEW}):
            plan = plan_pair(first_link(app, remote, **clock))
            assert plan.to_remote == {} and plan.to_app == {} and plan.conflicts == (), (work, clock)
        assert with_app_types(remote["phones"], app) == [app["phones"][1], app["phones"][0]]
    assert alike(
        "phones", {"phones": [{"number": "1", "type": "home"}]}, {"phones": [{"number": "1", "type": "PRIVATE"}]}
    )
    for other in ("MOBILE", "FAX", "LANDLINE", "skype"):
        remote = {
            **app,
            "phones": [{"number": "+4930123456", "type": other}, {"number": "+49171234567", "type": "MOBILE"}],
        }
        plan = plan_pair(first_link(app, remote, remote_updated_at=NEW))
        assert plan.to_app == {"phones": remote["phones"]}, other


def test_an_app_edit_of_a_phone_type_within_its_kind_goes_out() -> None:
    """Types compare by kind only where nobody edited them: the app moving a line from "work" to "office" since
    the last sync is its edit and goes out (Maesn keeps BUSINESS and OFFICE apart), while the same lines only
    reformatted by the app, or a platform that renames its slot, write nothing."""
    work = {"name": "Acme", "phones": [{"number": "+4930123456", "type": "work"}]}
    books = {"name": "Acme", "phones": [{"number": "+4930123456", "type": "DEFAULT"}]}
    office = {"name": "Acme", "phones": [{"number": "+4930123456", "type": "office"}]}
    plan = plan_pair(synced(work, books, office, books, remote_hash="r1"))
    assert plan.to_remote == {"phones": office["phones"]} and plan.to_app == {}
    # The platform's answer in its own word again: nothing more to do once the baseline holds both sides
    assert plan_pair(synced(office, books, office, books)).in_sync
    reformatted = {"name": "Acme", "phones": [{"number": "+49 30 123456", "type": "Work"}]}
    assert plan_pair(synced(work, books, reformatted, books, remote_hash="r1")).to_remote == {
        "phones": reformatted["phones"]
    }  # an app edit of the field against another word on the platform: the app's lines go, as any app edit
    same_word = {"name": "Acme", "phones": [{"number": "+4930123456", "type": "work"}]}
    assert plan_pair(synced(work, same_word, reformatted, same_word, remote_hash="r1")).to_remote == {}
    ddi = {"name": "Acme", "phones": [{"number": "+4930123456", "type": "DDI"}]}
    plan = plan_pair(synced(work, books, work, ddi, app_hash="a1"))
    assert plan.to_app == {} and plan.to_remote == {}  # the platform moved the line to another work slot


ROLES_UNSTATED = frozenset({"is_customer", "is_supplier"})


def test_a_first_link_never_takes_a_role_the_platform_does_not_state_into_the_app() -> None:
    """Merge hands null roles back for a platform without the notion: the mirror's False is no statement, so
    a newer platform record does not take the app's roles away; nor are they sent, as no edit of the app's."""
    app = {"name": "Acme", "is_customer": True, "is_supplier": True, "phones": ["1"]}
    remote = {"name": "Acme", "is_customer": False, "is_supplier": False, "phones": ["2"]}
    plan = plan_pair(first_link(app, remote, remote_updated_at=NEW, remote_unstated=ROLES_UNSTATED))
    # The phone goes by clocks; the roles stay the app's and are not sent (most likely not held either)
    assert plan.to_app == {"phones": ["2"]} and plan.to_remote == {}
    # The same pair with stated roles took them from the platform
    assert set(plan_pair(first_link(app, remote, remote_updated_at=NEW)).to_app) >= ROLES_UNSTATED
    # The app's clock newer: the phone goes out, the roles still do not
    plan = plan_pair(first_link(app, remote, app_updated_at=NEW, remote_unstated=ROLES_UNSTATED))
    assert plan.to_remote == {"phones": ["1"]} and plan.to_app == {}


def test_an_unstated_field_goes_out_when_the_app_changes_it_and_never_comes_back_in() -> None:
    before = {"name": "Acme", "is_customer": False, "status": "active"}
    # The app made it a customer since the last sync: sent, though the platform shows nothing either way ...
    app_now = {**before, "is_customer": True}
    plan = plan_pair(synced(before, before, app_now, before, remote_unstated=ROLES_UNSTATED))
    assert plan.to_remote == {"is_customer": True} and plan.to_app == {}
    # ... unless the connection cannot write it
    plan = plan_pair(synced(before, before, app_now, before, remote_unstated=ROLES_UNSTATED, unwritable=ROLES_UNSTATED))
    assert plan.to_remote == {} and plan.to_app == {}
    # The app never stated the field: the platform's default does not fill it in either
    plan = plan_pair(
        synced(
            before,
            before,
            {"name": "Acme", "status": "active"},
            {**before, "name": "Acme Ltd"},
            app_unknown=frozenset({"is_customer"}),
            remote_unstated=frozenset({"is_customer", "status"}),
        )
    )
    assert plan.to_app == {"name": "Acme Ltd"} and plan.to_remote == {}


def test_kept_apart_names_the_differences_that_stay_by_rule() -> None:
    app = {"name": "Acme", "is_customer": True, "is_supplier": False, "currency": "EUR", "phones": ["1"]}
    remote = {"name": "Acme", "is_customer": False, "is_supplier": False, "currency": "GBP", "phones": ["2"]}
    # Phones differ too, but a sync carries them: only the rule-bound differences are named
    assert kept_apart(app, remote, frozenset({"currency"}), ROLES_UNSTATED) == ["is_customer", "currency"]
    assert kept_apart(app, remote, frozenset(), frozenset()) == []
    # A blank the app holds is no value kept from the platform
    assert kept_apart({**app, "currency": None}, remote, frozenset({"currency"}), frozenset()) == []


def test_a_field_the_app_cleared_is_kept_apart_while_the_platform_holds_it() -> None:
    """The app's clearing is never sent: the contact view says the platform still holds the field. A blank the
    app never edited (it receives the platform's value) or one taken in from the platform's own clearing is not
    named."""
    app = {"name": "Acme", "emails": [], "currency": "EUR", "tax_number": None}
    remote = {"name": "Acme", "emails": ["a@acme.example"], "currency": "EUR", "tax_number": DE_A}
    cleared = cleared_by_app(app, {"emails": 4, "currency": 2}, {"tax_number": {"v": 3}})
    assert cleared == {"emails"}  # currency holds a value; tax_number was never the app's edit
    assert kept_apart(app, remote, frozenset(), frozenset(), app_cleared=cleared) == ["emails"]
    assert kept_apart(app, {**remote, "emails": []}, frozenset(), frozenset(), app_cleared=cleared) == []
    # The app cleared the field at version 4; the platform's later value, taken in at 6, filled it again and
    # was cleared there since (taken in at 7): no longer the app's own blank.
    assert cleared_by_app(app, {"emails": 4}, {"emails": {"v": 7}}) == frozenset()
    assert cleared_by_app(app, {"emails": 8}, {"emails": {"v": 7}}) == {"emails"}


BERLIN = [{"type": "billing", "street_1": "Hauptstr. 1", "city": "Berlin", "country": "DE"}]


def _phones(*numbers: str, kind: str | None = "work") -> list[dict[str, Any]]:
    return [{"number": n, "type": kind} for n in numbers]


def test_the_same_phone_lines_in_another_format_are_alike() -> None:
    app = {"phones": _phones("030 1234567", "0171 9876543"), "addresses": BERLIN}
    assert alike("phones", app, {"phones": _phones("+49301234567", "+49 171 9876543")})
    assert alike("phones", app, {"phones": _phones("+49 (0)30 123 45 67", "0049 171 9876543"), "addresses": BERLIN})
    # Another line, another type or another count is a difference; another order is not (a platform's slots)
    assert not alike("phones", app, {"phones": _phones("+49301234568", "+49 171 9876543")})
    assert not alike("phones", app, {"phones": _phones("+49301234567", "+49 171 9876543", kind="fax")})
    assert not alike("phones", app, {"phones": _phones("+49301234567")})
    assert alike("phones", app, {"phones": _phones("+49 171 9876543", "+49301234567")})
    # A country written as a name is the same region ("Germany", "Deutschland" and "DE")
    for name in ("Germany", "Deutschland"):
        assert alike("phones", {"phones": _phones("030 1234567"), "addresses": [{"country": name}]},
                     {"phones": _phones("+49301234567")})  # fmt: skip
    # Without a country a national number is not a line anywhere; its digits alone decide
    assert not alike("phones", {"phones": _phones("030 1234567")}, {"phones": _phones("+49301234567")})
    assert alike("phones", {"phones": _phones("030/123-4567")}, {"phones": _phones("030 1234567")})
    assert not alike("phones", {"phones": _phones("12-34")}, {"phones": _phones("1234")})  # too short to say
    # A zero kept after the country code is written into E.164 and read back without it: the same line
    assert alike(
        "phones", {"phones": _phones("+49 (0) 0716 015886"), "addresses": BERLIN}, {"phones": _phones("+490716015886")}
    )
    assert alike("phones", {"phones": _phones("+39 06 1234 5678")}, {"phones": _phones("+390612345678")})
    assert not alike("phones", {"phones": _phones("+39 06 1234 5678")}, {"phones": _phones("+39612345678")})
    # An extension is part of the line: kept on one side only, the sides differ
    us = [{"country": "US"}]
    assert alike(
        "phones", {"phones": _phones("755-414-1986x83"), "addresses": us}, {"phones": _phones("+17554141986 x83")}
    )
    assert not alike(
        "phones", {"phones": _phones("755-414-1986x83"), "addresses": us}, {"phones": _phones("+17554141986")}
    )


def test_phones_written_differently_are_not_written_either_way() -> None:
    """A first link whose sides hold the same lines in two formats writes nothing, whoever's clock is newer, and
    a platform that reformats what it stored does not send its format to the app as an edit."""
    app = {"name": "A", "phones": _phones("030 1234567"), "addresses": BERLIN}
    remote = {"name": "A", "phones": _phones("+49301234567"), "addresses": BERLIN}
    for app_clock, remote_clock in ((NEW, OLD), (OLD, NEW), (None, NEW)):
        assert plan_pair(first_link(app, remote, app_updated_at=app_clock, remote_updated_at=remote_clock)).in_sync
    written = {**remote, "phones": _phones("030 1234567")}
    assert plan_pair(synced(app, written, app, remote, app_hash="a1")).in_sync
    # A new line is still news, from either side
    moved = {**remote, "phones": _phones("+49307654321")}
    assert plan_pair(synced(app, written, app, moved, app_hash="a1")).to_app == {"phones": moved["phones"]}
    edited = {**app, "phones": _phones("030 7654321")}
    assert plan_pair(synced(app, written, edited, remote, remote_hash="r1")).to_remote == {"phones": edited["phones"]}


def test_texts_alike_but_for_white_space_and_invisible_characters_are_written_neither_way() -> None:
    """Platforms trim what they store and some drop zero-width spaces: such a difference is no edit either way."""
    app = {"name": "Bäckerei  Nord GmbH ", "addresses": [{"type": "billing", "street_1": "Hauptstr.\u200b 1 "}]}
    remote = {"name": "Bäckerei Nord GmbH", "addresses": [{"type": "billing", "street_1": "Hauptstr. 1"}]}
    assert alike("name", app, remote) and alike("addresses", app, remote)
    assert not alike("name", app, {"name": "Bäckerei Nord AG"})
    assert not alike("addresses", app, {"addresses": [{"type": "shipping", "street_1": "Hauptstr. 1"}]})
    assert not alike("name", {"name": "  "}, {"name": None})  # a blank is not an absent value
    for app_clock, remote_clock in ((NEW, OLD), (OLD, NEW)):
        plan = plan_pair(first_link(app, remote, app_updated_at=app_clock, remote_updated_at=remote_clock))
        assert plan.in_sync
    # A real change still travels
    renamed = {**remote, "name": "Bäckerei Nord AG"}
    assert plan_pair(synced(app, remote, app, renamed, app_hash="a1")).to_app == {"name": "Bäckerei Nord AG"}


def test_postal_codes_and_countries_written_differently_are_alike() -> None:
    """Platforms upper-case postal codes and keep ISO country codes: the app's "sw1a 1aa" in "United Kingdom" is
    the platform's "SW1A 1AA" in "GB", and a first link writes it neither way."""
    place = {"type": "billing", "street_1": "1 Main Street", "city": "London"}
    app = {"name": "A", "addresses": [{**place, "postal_code": "sw1a 1aa", "country": "United Kingdom"}]}
    remote = {"name": "A", "addresses": [{**place, "postal_code": "SW1A1AA", "country": "GB"}]}
    assert alike("addresses", app, remote)
    assert alike("addresses", {"addresses": [{"postal_code": "D-10115", "country": "de"}]},
                 {"addresses": [{"postal_code": "10115", "country": "Germany"}]})  # fmt: skip
    for app_clock, remote_clock in ((NEW, OLD), (OLD, NEW)):
        assert plan_pair(first_link(app, remote, app_updated_at=app_clock, remote_updated_at=remote_clock)).in_sync
    # Another code, another country, another street or another count is a difference
    for other in ({"postal_code": "SW1A 2AA"}, {"country": "IE"}, {"street_1": "2 Main Street"}, {"postal_code": None}):
        assert not alike("addresses", app, {"addresses": [{**remote["addresses"][0], **other}]})
    assert not alike("addresses", app, {"addresses": [*remote["addresses"], *remote["addresses"]]})
    assert not alike("addresses", {"addresses": [{"country": "Atlantis"}]}, {"addresses": [{"country": "Lemuria"}]})
    # A real move still travels
    moved = {**remote, "addresses": [{**remote["addresses"][0], "postal_code": "SW1A 2AA"}]}
    assert plan_pair(synced(app, remote, app, moved, app_hash="a1")).to_app == {"addresses": moved["addresses"]}


def test_lines_listed_in_another_order_are_written_neither_way() -> None:
    """Platforms that keep one line per slot list phones and addresses in their slot order: the same lines in
    another order are no edit either way, on a first link or after the platform answered a write in its order.
    Emails keep their order (the first is what a platform with one address keeps)."""
    shipping = {
        "type": "shipping",
        "street_1": "Lagerweg 2",
        "city": "Potsdam",
        "postal_code": "14467",
        "country": "DE",
    }
    app = {
        "name": "A",
        "phones": [*_phones("030 1234567"), *_phones("0171 9876543", kind="mobile")],
        "addresses": [*BERLIN, shipping],
        "emails": ["info@a.de", "billing@a.de"],
    }
    remote = {
        "name": "A",
        "phones": [*_phones("+49 171 9876543", kind="MOBILE"), *_phones("+49301234567")],
        "addresses": [{**shipping, "country": "Germany"}, *BERLIN],
        "emails": ["billing@a.de", "info@a.de"],
    }
    assert alike("phones", app, remote) and alike("addresses", app, remote)
    assert not alike("emails", app, remote)
    remote = {**remote, "emails": app["emails"]}
    for app_clock, remote_clock in ((NEW, OLD), (OLD, NEW), (None, NEW)):
        assert plan_pair(first_link(app, remote, app_updated_at=app_clock, remote_updated_at=remote_clock)).in_sync
    # A line counted twice on one side only, or a line whose type differs, is still a difference
    assert not alike("phones", app, {**remote, "phones": [*remote["phones"][:1], *remote["phones"][:1]]})
    assert not alike("phones", {**app, "phones": app["phones"][:1] * 2}, {**remote, "phones": app["phones"]})
    assert not alike("addresses", app, {**remote, "addresses": [*BERLIN, {**shipping, "type": "billing"}]})
    # Untyped platform lines in another order: no value either way, and a typed twin is not spent twice
    untyped = [{"number": "+491719876543", "type": None}, {"number": "030 1234567", "type": None}]
    assert silent_alike("phones", app, {**remote, "phones": untyped}) and not alike("phones", app, {"phones": untyped})
    twins = {**app, "phones": [*_phones("030 1234567"), *_phones("030 1234567", kind="fax")]}
    assert silent_alike("phones", twins, {"phones": [untyped[1], *_phones("+49301234567")], "addresses": BERLIN})
    assert not silent_alike(
        "phones", twins, {"phones": [*_phones("+49301234567", kind="fax")] * 2, "addresses": BERLIN}
    )


def test_a_phone_type_in_other_case_is_the_same_type() -> None:
    app = {"phones": _phones("030 1234567", kind="mobile"), "addresses": BERLIN}
    assert alike("phones", app, {"phones": _phones("+49301234567", kind="MOBILE")})
    assert alike("phones", app, {"phones": _phones("030 1234567", kind=" Mobile ")})
    assert not alike("phones", app, {"phones": _phones("030 1234567", kind="fax")})


def test_phone_types_the_platform_does_not_state_are_no_value() -> None:
    """A platform that keeps no phone types hands the app's lines back with null types. On a first link the
    sides are left as they are, whoever's clock is newer: the null never wipes the app's types, and the app's
    types are not sent for nothing (most likely not kept either). An app edit of the lines still goes out."""
    app = {"name": "A", "phones": _phones("030 1234567", "0171 9876543"), "addresses": BERLIN}
    remote = {"name": "A", "phones": _phones("+49301234567", "01719876543", kind=None), "addresses": BERLIN}
    assert silent_alike("phones", app, remote) and not alike("phones", app, remote)
    for app_clock, remote_clock in ((NEW, OLD), (OLD, NEW), (None, NEW)):
        assert plan_pair(first_link(app, remote, app_updated_at=app_clock, remote_updated_at=remote_clock)).in_sync
    assert kept_apart(app, remote, frozenset(), frozenset()) == ["phones"]
    # A dialect's view may fill a missing type in (Maesn's BUSINESS): the record as mirrored says it was missing
    app_view = {**app, "phones": _phones("030 1234567", "0171 9876543", kind="MOBILE")}
    filled = {**remote, "phones": _phones("+49301234567", "01719876543", kind="BUSINESS")}
    assert kept_apart(app_view, filled, frozenset(), frozenset()) == []
    assert kept_apart(app_view, filled, frozenset(), frozenset(), remote) == ["phones"]
    plan = plan_pair(first_link(app_view, remote, remote_view=filled, remote_updated_at=NEW))
    assert plan.in_sync
    # Only the platform's silence is no value: a type it states, or another line, is a difference as before
    assert not silent_alike(
        "phones", app, {**remote, "phones": [*remote["phones"][:1], *_phones("01719876543", kind="fax")]}
    )
    assert not silent_alike("phones", app, {**remote, "phones": _phones("+49301234567", "01719876544", kind=None)})
    assert not silent_alike("phones", remote, app)  # the app's silence is its own (a type it cleared)
    # The app changes a type since the last sync: the lines go out, and a null coming back is no edit
    edited = {**app, "phones": _phones("030 1234567", "0171 9876543", kind="mobile")}
    plan = plan_pair(synced(app, remote, edited, remote, remote_hash="r1"))
    assert plan.to_remote == {"phones": edited["phones"]} and plan.to_app == {}
    assert plan_pair(synced(edited, remote, edited, remote, app_hash="a1", remote_hash="r1")).in_sync


def test_lines_taken_from_a_platform_without_types_keep_the_apps_types() -> None:
    app = {"phones": [*_phones("030 1234567"), *_phones("0171 9876543", kind="mobile")], "addresses": BERLIN}
    taken = [{"number": "+49301234567", "type": None}, {"number": "+491715550000", "type": None}]
    # The first line is the app's own (kept as the app writes it, type and all), the second a new number
    assert with_app_types(taken, app) == [
        {"number": "030 1234567", "type": "work"},
        {"number": "+491715550000", "type": None},
    ]
    # A type only the platform states fills the app's gap; a line the same on both sides stays as the app wrote it
    bare = {**app, "phones": [{"number": "030 1234567", "type": None}, *app["phones"][1:]]}
    typed = [{"number": "+49301234567", "type": "work"}, {"number": "+49 171 9876543", "type": "mobile"}]
    assert with_app_types(typed, bare) == [{"number": "030 1234567", "type": "work"}, app["phones"][1]]
    # A type the platform states is its own; lines beyond the app's stay as they came
    stated = [{"number": "+49301234567", "type": "fax"}, *taken[1:], {"number": "+4930999", "type": None}]
    assert with_app_types(stated, app) == stated
    # Lines that come back in another order keep their types all the same, each app line's type taken once
    turned = [{"number": "+491715550000", "type": None}, *taken[:1], {"number": "01719876543", "type": None}]
    assert [line["type"] for line in with_app_types(turned, app)] == [None, "work", "mobile"]
    assert [line["type"] for line in with_app_types([*taken[:1], *taken[:1]], app)] == ["work", None]


def test_address_parts_the_platform_leaves_blank_are_no_value() -> None:
    """Many platforms keep one street line and no region: the app's address comes back without them. On a first
    link the sides are left as they are, whoever's clock is newer (a blank never wipes the app's part, as a
    platform's blank field never does); an app edit of its addresses still goes out, and a platform edit of
    another address comes in without taking the app's parts away."""
    billing = {"type": "billing", "street_1": "1 Main St", "street_2": "Suite 4", "city": "Austin", "state": "TX",
               "postal_code": "78701", "country": "US"}  # fmt: skip
    shipping = {"type": "shipping", "street_1": "9 Dock Rd", "city": "Austin", "country": "US"}
    app = {"name": "A", "addresses": [billing, shipping]}
    short = {**billing, "street_2": None, "state": ""}
    remote = {"name": "A", "addresses": [shipping, short]}
    assert silent_alike("addresses", app, remote) and not alike("addresses", app, remote)
    for app_clock, remote_clock in ((NEW, OLD), (OLD, NEW), (None, NEW)):
        assert plan_pair(first_link(app, remote, app_updated_at=app_clock, remote_updated_at=remote_clock)).in_sync
    assert kept_apart(app, remote, frozenset(), frozenset()) == ["addresses"]
    # Only a blank is no value: another street, a part only the platform states, or the app's blank are differences
    assert not silent_alike("addresses", app, {"addresses": [shipping, {**short, "street_1": "2 Main St"}]})
    assert not silent_alike("addresses", {"addresses": [shipping, short]}, {"addresses": [shipping, billing]})
    assert not silent_alike("addresses", remote, app)
    assert not silent_alike("addresses", app, {"addresses": [short]})
    # The app moves its billing address since the last sync: it goes out, and the short answer is no edit
    moved = {**app, "addresses": [{**billing, "street_1": "5 Main St"}, shipping]}
    plan = plan_pair(synced(app, remote, moved, remote, remote_hash="r1"))
    assert plan.to_remote == {"addresses": moved["addresses"]} and plan.to_app == {}
    # The platform moves the shipping address: taken in, the billing address stays the app's (its parts kept);
    # a place the platform changed in a part it states comes in as it is, with nothing of the app's grafted on
    docked = [{**shipping, "street_1": "11 Dock Rd"}, short]
    assert with_app_places(docked, app) == [docked[0], billing]
    assert taken_in({"addresses": docked}, app) == {"addresses": [docked[0], billing]}
    assert taken_in({"addresses": [billing, shipping]}, app) == {}
    elsewhere = {**short, "street_1": "7 Oak St"}
    assert with_app_places([elsewhere], app) == [elsewhere]


def test_parts_only_the_platform_holds_fill_the_apps_blanks_and_are_never_wiped() -> None:
    """The app often holds less than the books: an address without its postal code or second line, a phone line
    without a type. Like a blank field of the app's, such blanks receive the platform's parts, whoever's clock
    is newer; sending the app's lines would wipe the books' parts. An app edit of its lines still goes out."""
    place = {"type": "billing", "street_1": "Hauptstr. 1", "city": "Berlin", "country": "Deutschland"}
    full = {**place, "street_2": "Hof 2", "postal_code": "10115", "country": "DE"}
    app = {"name": "A", "addresses": [place], "phones": [{"number": "030 1234567", "type": None}]}
    remote = {"name": "A", "addresses": [full], "phones": _phones("+49301234567")}
    assert silent_alike("addresses", remote, app) and silent_alike("phones", remote, app)
    for app_clock, remote_clock in ((NEW, OLD), (OLD, NEW), (None, NEW)):
        plan = plan_pair(first_link(app, remote, app_updated_at=app_clock, remote_updated_at=remote_clock))
        assert plan.to_remote == {} and plan.to_app == {"addresses": [full], "phones": remote["phones"]}
    # Taken in, the app's address keeps its own parts and gains the platform's
    taken = taken_in({"addresses": [full], "phones": remote["phones"]}, app)
    assert taken == {
        "addresses": [{**place, "street_2": "Hof 2", "postal_code": "10115"}],
        "phones": [{"number": "030 1234567", "type": "work"}],
    }
    # Each side holding a part the other leaves blank: the app gains the platform's, keeps its own, sends none
    mixed = {"name": "A", "addresses": [{**place, "street_2": "Hof 2"}]}
    postal = {"name": "A", "addresses": [{**place, "postal_code": "10115"}]}
    assert not silent_alike("addresses", mixed, postal) and not silent_alike("addresses", postal, mixed)
    for app_clock, remote_clock in ((NEW, OLD), (OLD, NEW)):
        plan = plan_pair(first_link(mixed, postal, app_updated_at=app_clock, remote_updated_at=remote_clock))
        assert plan.to_remote == {} and plan.to_app == {"addresses": postal["addresses"]}
    assert taken_in(plan.to_app, mixed) == {"addresses": [{**place, "street_2": "Hof 2", "postal_code": "10115"}]}
    # An app edit since the last sync goes out as the app wrote it (the phones, not edited, still receive)
    plan = plan_pair(synced({**app, "addresses": [full]}, remote, app, remote, remote_hash="r1"))
    assert plan.to_remote == {"addresses": [place]} and plan.to_app == {"phones": remote["phones"]}


def test_what_a_plan_takes_into_the_app_is_what_changes_there() -> None:
    """Untyped platform lines taken in keep the app's own types, and a field that comes out as the app holds it
    is no change: Maesn's view reads a missing type as BUSINESS and the app's "mobile" as MOBILE, so a plan may
    take lines in that are the app's own once their types are kept."""
    app = {"name": "A", "phones": _phones("030 1234567", kind="mobile"), "addresses": BERLIN}
    untyped = [{"number": "030 1234567", "type": None}]
    assert taken_in({"phones": untyped}, app) == {}
    assert taken_in({"phones": untyped, "name": "B"}, app) == {"name": "B"}
    moved = [{"number": "030 7654321", "type": None}]
    assert taken_in({"phones": moved}, app) == {"phones": moved}


def test_a_first_link_without_the_platforms_own_edit_time_sends_only_a_provably_newer_app_value() -> None:
    """Merge leaves `remote_updated_at` empty for a platform that does not say when its contact changed; its own
    `modified_at` (when Merge saw the record) then stands in as the platform's clock. It is an upper bound of the
    platform's edit: an app edit after it is surely the newer and goes out; an app edit before it may be older
    than the platform's, and the books' value is taken in (nothing is written to the platform on a guess)."""
    seen = datetime(2025, 3, 1, tzinfo=UTC)
    app_data = {"name": "Acme GmbH", "currency": "EUR"}
    remote_data = {"name": "Acme GmbH", "currency": "GBP"}
    remote = RemoteContact(data=remote_data, content_hash="r", remote_updated_at=None, modified_at=seen, deleted=False)
    link = Link(basis="person", app_synced_hash=None, remote_synced_hash=None, baseline=None)

    def plan(edited_at: datetime) -> Any:
        app = AppContact(data=app_data, content_hash="a", edited_at=edited_at, unknown_fields=[], edited_fields={})
        return plan_pair(pair_state(link, app, remote, "merge", "newer", None))

    later = plan(seen + timedelta(days=1))
    assert later.to_remote == {"currency": "EUR"} and later.to_app == {}
    earlier = plan(seen - timedelta(days=1))
    assert earlier.to_app == {"currency": "GBP"} and earlier.to_remote == {}
