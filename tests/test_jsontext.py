"""`jsontext` gives the values the standard library gave, through orjson where that is sure, and through
PostgreSQL too: documents stored and read back, rows sent as one parameter."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from contactsync import db, jsontext
from contactsync.contact import CanonicalContact, content_digest
from contactsync.models import Change
from contactsync.providers.http import decode_json
from contactsync.states import ContactStatus
from contactsync.store import changes as feed
from contactsync.store.arrays import row_params
from contactsync.sync.planning import LinkBasis, field_digest
from tests.test_store import make_tenant

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
documents = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_text_reads_back_as_the_standard_library_reads_it(value: Any) -> None:
    for source in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        as_bytes = source.encode("utf-8", errors="surrogatepass")
        expected = json.loads(source)
        assert jsontext.loads(as_bytes) == expected
        assert jsontext.loads(memoryview(as_bytes)) == expected
        if "\\ud" not in source.lower():
            assert type(jsontext.loads(as_bytes)) is type(expected)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_written_text_means_what_the_standard_library_s_meant(value: Any) -> None:
    assert json.loads(jsontext.dumps(value)) == value
    assert json.loads(jsontext.dumps_bytes(value).decode("utf-8", errors="surrogatepass")) == value


def test_integers_orjson_would_round_stay_exact() -> None:
    # orjson reads an integer beyond 64 bits as a float; the standard library keeps every digit.
    for number in (2**64, -(2**63) - 1, 10**30, 18446744073709551616):
        assert jsontext.loads(f'{{"n": {number}}}'.encode()) == {"n": number}
        assert isinstance(jsontext.loads(str(number).encode()), int)
    assert jsontext.loads(b'{"id": "1234567890123456789012"}') == {"id": "1234567890123456789012"}


def test_bodies_orjson_refuses_are_read_as_before() -> None:
    assert str(decode_json(b'{"x": NaN}')["x"]) == "nan"
    # Invalid UTF-8 survives as lone surrogates, for the record's quarantine to name.
    assert decode_json(b'{"name": "\xff\xfe"}') == {"name": "\udcff\udcfe"}
    assert decode_json(b'{"name": "\\ud800"}') == {"name": "\ud800"}
    with pytest.raises(json.JSONDecodeError):
        decode_json(b'{"name": ')


def test_what_orjson_cannot_write_goes_through_the_standard_library() -> None:
    # A lone surrogate: escaped to ASCII, as SQLAlchemy's JSON type and the row parameters always wrote it.
    assert jsontext.dumps({"a": "\udc80"}) == json.dumps({"a": "\udc80"}, separators=(",", ":"))
    assert jsontext.dumps_bytes({"a": "\udc80"}) == json.dumps({"a": "\udc80"}).encode()
    # Keys that are not strings become strings, as the standard library makes them.
    assert json.loads(jsontext.dumps({1: "a", None: "b"})) == json.loads(json.dumps({1: "a", None: "b"}))
    # A type neither knows raises the caller's own error, from the standard library's second attempt.
    with pytest.raises(TypeError, match="cannot be sent as a row value"):
        row_params([{"amount": Decimal("1.5")}])


def test_times_in_row_parameters_are_their_iso_text_with_offset() -> None:
    moment = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)
    east = datetime(2026, 11, 27, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    rows = json.loads(row_params([{"a": moment, "b": east, "c": moment.date()}])["rows"])
    assert rows == [[moment.isoformat(), east.isoformat(), "2026-11-27"]]


def test_documents_round_trip_through_postgresql(env: dict[str, str]) -> None:
    make_tenant()
    document = {"big": 2**70, "neg": -(2**64), "text": "Zürich – 東京 \u2028", "nested": [{"x": 1.5e-7}, None, True]}
    with db.session() as s:
        feed.record(s, "t1", [{"kind": feed.LINKED, "app_id": "a", "remote_id": None, "data": document}])
    with db.session() as s:
        stored = s.scalars(select(Change.data)).one()
        as_text = s.execute(text("SELECT data::text FROM changes")).scalar_one()
    assert stored == document
    assert isinstance(stored["big"], int)
    assert json.loads(as_text) == document


# What a contact's content holds: strings (any code point but surrogates), booleans, None, integers, lists,
# string-keyed objects.
_content_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(st.characters(exclude_categories=("Cs",)))
)
contents = st.recursive(
    _content_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)


def _stdlib_sorted(value: Any, default: Any = None) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=default).encode()


@settings(max_examples=500, deadline=None)
@given(contents)
def test_stored_digests_hash_the_standard_library_s_text(value: Any) -> None:
    # Stored content hashes and field baselines must not change with the encoder.
    assert jsontext.sorted_bytes(value) == _stdlib_sorted(value)
    assert field_digest(value) == hashlib.sha256(_stdlib_sorted(value, default=str)).hexdigest()[:16]
    if isinstance(value, dict):
        assert content_digest(value) == hashlib.sha256(_stdlib_sorted(value)).hexdigest()


def test_every_code_point_is_escaped_as_the_standard_library_escapes_it() -> None:
    text_ = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert jsontext.sorted_bytes({"v": text_}) == _stdlib_sorted({"v": text_})


def test_digest_text_for_values_orjson_would_write_otherwise() -> None:
    moment = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    for value in (moment, moment.date(), Decimal("1.50"), ContactStatus.ACTIVE, {"b": [moment], "a": LinkBasis.SCORE}):
        assert jsontext.sorted_bytes(value, default=str) == _stdlib_sorted(value, default=str)
    contact = CanonicalContact(name="Zürich AG", emails=["a@b.ch"], status=ContactStatus.ACTIVE)
    assert contact.content_hash() == hashlib.sha256(_stdlib_sorted(contact.content())).hexdigest()
    with pytest.raises(TypeError):  # as before: content with a time in it is a bug, not something to hash
        content_digest({"at": moment})
