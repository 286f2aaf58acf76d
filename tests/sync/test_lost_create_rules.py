"""The pure rules about lost creates: only what was sent, field by field, is our own create (never a namesake);
absence is proven only by a late enough walk of the whole window; the visibility lag and where it comes from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contactsync.sync.echo import echo_differences, first_echo, is_echo
from contactsync.sync.evidence import Walk, absence_proven

SENT: dict[str, Any] = {
    "name": "Müller Bau GmbH",
    "tax_number": "DE123456789",
    "emails": ["info@mueller-bau.de"],
    "addresses": [
        {"type": "billing", "street_1": "Hauptstr. 5", "city": "Köln", "postal_code": "50667", "country": "DE"}
    ],
}


def test_the_record_that_was_sent_is_its_echo_despite_spacing_case_and_types() -> None:
    found = {
        "name": "  müller  BAU gmbh",
        "tax_number": "DE 123 456 789",
        "emails": ["INFO@mueller-bau.de"],
        "addresses": [
            {"type": "other", "street_1": "hauptstr. 5", "city": "KÖLN", "postal_code": "50667", "country": "de"}
        ],
    }
    assert is_echo(SENT, found)


def test_the_echo_is_recognised_whatever_unicode_form_and_invisible_characters_the_platform_stores() -> None:
    import unicodedata

    sent = {**SENT, "name": "Mu\u0308ller\u200b Bau GmbH"}  # a decomposed ü and a zero-width space, as sent
    found = {
        **SENT,
        "name": unicodedata.normalize("NFC", "Müller Bau GmbH"),  # stored composed, the invisible space dropped
        "tax_number": "ＤＥ１２３４５６７８９",  # full-width, as typed on an East Asian keyboard
        "addresses": [{**SENT["addresses"][0], "city": "Ko\u0308ln"}],
    }
    assert is_echo(sent, found)
    # What a reader sees still decides: another name in any form is not the echo.
    assert echo_differences(sent, {**found, "name": "Mu\u0308ller Bauten GmbH"}) == ["name"]


def test_a_namesake_in_another_city_with_its_own_tax_id_is_not_an_echo() -> None:
    namesake = {
        **SENT,
        "tax_number": "DE987654321",
        "addresses": [{"street_1": "Ring 1", "city": "Bonn", "postal_code": "53111", "country": "DE"}],
    }
    assert not is_echo(SENT, namesake)
    assert set(echo_differences(SENT, namesake)) == {"tax_number", "addresses"}


def test_a_field_both_sides_carry_decides_on_its_own() -> None:
    assert echo_differences(SENT, {**SENT, "name": "Müller Bau AG"}) == ["name"]
    assert echo_differences(SENT, {**SENT, "tax_number": "DE987654321"}) == ["tax_number"]
    assert echo_differences(SENT, {**SENT, "emails": ["office@mueller-bau.de"]}) == ["emails"]
    moved = [{**SENT["addresses"][0], "city": "Bonn"}]
    assert echo_differences(SENT, {**SENT, "addresses": moved}) == ["addresses"]


def test_a_field_the_platform_dropped_is_tolerated_while_another_sent_field_came_back() -> None:
    # Platforms drop what they cannot store (a tax id, a second email, an address line): still our record.
    assert is_echo(SENT, {**SENT, "tax_number": None})
    assert is_echo(SENT, {**SENT, "emails": []})
    assert is_echo(SENT, {**SENT, "addresses": []})
    partial_address = [{"street_1": "Hauptstr. 5", "city": "Köln"}]
    assert is_echo(SENT, {**SENT, "tax_number": None, "emails": [], "addresses": partial_address})
    # ...but a record that agrees on nothing but the name is no evidence: a bare namesake looks the same.
    bare_namesake = {"name": SENT["name"], "tax_number": None, "emails": [], "addresses": []}
    assert echo_differences(SENT, bare_namesake) == ["nothing but the name"]


def test_a_field_we_did_not_send_that_the_found_record_carries_is_a_difference() -> None:
    bare = {"name": "Solo Ltd", "tax_number": None, "emails": [], "addresses": []}
    assert is_echo(bare, {"name": "Solo Ltd"})
    assert not is_echo(bare, {"name": "Solo Ltd", "tax_number": "GB123456789"})
    assert not is_echo(bare, {"name": "Solo Ltd", "addresses": [{"city": "Leeds"}]})
    assert not is_echo(bare, {"name": "Solo Ltd", "emails": ["x@solo.example"]})
    # A country alone does not place a contact: some platforms fill one in by default.
    assert is_echo(bare, {"name": "Solo Ltd", "addresses": [{"country": "GB"}]})


def test_a_deleted_record_is_never_adopted() -> None:
    assert not is_echo(SENT, SENT, found_deleted=True)


def test_first_echo_skips_namesakes_and_picks_the_lowest_id_of_true_copies() -> None:
    namesake = {**SENT, "tax_number": "DE987654321"}
    assert first_echo(SENT, [("b", SENT, False), ("a", namesake, False), ("c", SENT, False)]) == "b"
    assert first_echo(SENT, [("a", namesake, False), ("b", SENT, True)]) is None


T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LAG = timedelta(minutes=15)
MARGIN = timedelta(minutes=5)


def test_absence_is_proven_only_by_a_late_enough_walk_of_the_whole_window() -> None:
    late = T0 + LAG + timedelta(seconds=1)
    assert absence_proven(T0, Walk(late, None, None), lag=LAG, margin=MARGIN)
    assert absence_proven(T0, Walk(late, T0 - MARGIN, None), lag=LAG, margin=MARGIN)
    # began before the contact had time to show
    assert not absence_proven(T0, Walk(T0 + LAG - timedelta(seconds=1), None, None), lag=LAG, margin=MARGIN)
    # started reading after the first send: the contact may sit before the window
    assert not absence_proven(T0, Walk(late, T0, None), lag=LAG, margin=MARGIN)
    # closed before the end of the lag: the contact may be stamped after the window
    assert not absence_proven(T0, Walk(late, None, T0 + timedelta(minutes=1)), lag=LAG, margin=MARGIN)
    assert absence_proven(T0, Walk(late, None, T0 + LAG), lag=LAG, margin=MARGIN)


def test_the_visibility_lag_comes_from_the_connection_then_the_dialect_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from contactsync.models import Connection
    from contactsync.settings import get_settings
    from contactsync.store.lost_creates import visibility_lag

    monkeypatch.setenv("CONTACTSYNC_VISIBILITY_LAG_SECONDS", "120")
    monkeypatch.setenv("CONTACTSYNC_VISIBILITY_LAG_BY_DIALECT", '{"maesn": 600}')
    get_settings.cache_clear()
    try:
        assert visibility_lag(Connection(dialect="merge", options={})) == timedelta(seconds=120)
        assert visibility_lag(Connection(dialect="maesn", options={})) == timedelta(seconds=600)
        lagging = Connection(dialect="maesn", options={"visibility_lag_seconds": 30})
        assert visibility_lag(lagging) == timedelta(seconds=30)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
