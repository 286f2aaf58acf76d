"""The canonical contact holds every text in one Unicode form (NFC), whichever form the app or the platform used:
the same text written two ways is one contact content, one digest, no edit."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from pydantic import ValidationError

from contactsync import db
from contactsync.contact import MAX_TEXT, CanonicalContact
from contactsync.store.contacts import upsert_app_contacts

TEXT = "Müller Bäckerei Köln"


def _contact(form: str) -> CanonicalContact:
    text = unicodedata.normalize(form, TEXT)
    return CanonicalContact.model_validate(
        {
            "name": text,
            "emails": [unicodedata.normalize(form, "jörg@bäckerei.de")],
            "tax_number": "DE123456789",
            "phones": [{"number": "+49 221 1", "type": unicodedata.normalize(form, "büro")}],
            "addresses": [
                {
                    "street_1": unicodedata.normalize(form, "Große Straße 1"),
                    "street_2": text,
                    "city": unicodedata.normalize(form, "Köln"),
                    "state": unicodedata.normalize(form, "Nordrhein-Westfalen Süd"),
                    "postal_code": "50667",
                    "country": "DE",
                }
            ],
            "currency": "EUR",
        }
    )


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for inner in value.values() for t in _texts(inner)]
    if isinstance(value, list | tuple):
        return [t for inner in value for t in _texts(inner)]
    return []


def test_every_text_field_is_held_composed_and_both_forms_have_one_digest() -> None:
    decomposed, composed = _contact("NFD"), _contact("NFC")
    texts = _texts(decomposed.content())
    assert any(not t.isascii() for t in texts)
    assert all(unicodedata.is_normalized("NFC", t) for t in texts)
    assert decomposed.content() == composed.content()
    assert decomposed.content_hash() == composed.content_hash()


def test_compatibility_characters_and_invisible_ones_are_kept_as_written() -> None:
    # NFC only: "²", a full-width letter and a zero-width space say something NFKC or a cleaner would change.
    name = "Ｍ² Labs\u200b GmbH"
    assert CanonicalContact(name=name).name == name


def test_the_length_limit_holds_for_the_held_form_so_what_is_held_reads_back() -> None:
    # U+FB2C composes to three code points under NFC: within the limit as sent, three times it as held.
    with pytest.raises(ValidationError, match="at most 1000 characters"):
        CanonicalContact(name="\ufb2c" * (MAX_TEXT // 2))
    held = CanonicalContact(name="\ufb2c" * (MAX_TEXT // 3))
    assert CanonicalContact.model_validate(held.content()) == held


def test_the_app_stating_its_contact_in_the_other_form_is_no_edit(env: dict[str, str]) -> None:
    with db.session() as s:
        assert upsert_app_contacts(s, "t1", [("a1", _contact("NFC"))]) == (1, 0)
    with db.session() as s:
        assert upsert_app_contacts(s, "t1", [("a1", _contact("NFD"))]) == (0, 0)
