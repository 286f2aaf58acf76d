"""Envelope, write-answer and HTTP variants the sandbox does not produce, played with httpx.MockTransport."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from contactsync.contact import CanonicalContact
from contactsync.providers.base import ConnectionConfig, Window
from contactsync.providers.errors import Permanent, RateLimited, Transient
from contactsync.providers.merge import MergeProvider
from tests.providers.scripted import Server

BASE = "https://api.merge.test/api/accounting/v1"
STAMP = "2026-03-01T12:00:00Z"


def record(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"m-{n}", "name": f"Company {n}", "modified_at": STAMP, **extra}


def merge(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> tuple[MergeProvider, Server]:
    server = Server(handler)
    config = ConnectionConfig("merge", BASE, "key", "acct", options=options, timeout_seconds=2.0)
    return MergeProvider(config, transport=httpx.MockTransport(server)), server


def walk(provider: MergeProvider) -> list[CanonicalContact]:
    contacts, token = [], None
    for _ in range(20):
        page = provider.fetch_page(Window(), token)
        contacts += page.contacts
        token = page.next_token
        if token is None:
            return contacts
    raise AssertionError("the walk did not end")


# -- Merge pages ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["cursor", "url", "relative-url"])
def test_merge_next_as_cursor_or_url_walks_every_page(style):
    pages = {None: ([record(1), record(2)], "c2"), "c2": ([record(3)], "c3"), "c3": ([], None)}

    def handler(request: httpx.Request) -> httpx.Response:
        rows, nxt = pages[request.url.params.get("cursor")]
        if nxt is not None and style == "url":
            nxt = f"{BASE}/contacts?cursor={nxt}&page_size=100"
        elif nxt is not None and style == "relative-url":
            nxt = f"/api/accounting/v1/contacts?cursor={nxt}"
        # A short page (2 < 100) and a final page without `results` at all.
        return httpx.Response(200, json={"next": nxt, **({"results": rows} if rows else {})})

    provider, server = merge(handler)
    assert [c.remote_id for c in walk(provider)] == ["m-1", "m-2", "m-3"]
    assert [r.url.params.get("cursor") for r in server.requests] == [None, "c2", "c3"]
    # The filters of the first page travel with every later one.
    assert all(r.url.params.get("include_deleted_data") == "true" for r in server.requests)


def test_merge_next_url_without_a_cursor_is_followed_as_given():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json={"next": None, "results": None})
        return httpx.Response(200, json={"next": f"{BASE}/contacts?page=2", "results": [record(1)]})

    provider, server = merge(handler)
    assert [c.remote_id for c in walk(provider)] == ["m-1"]
    assert str(server.requests[1].url) == f"{BASE}/contacts?page=2"


def test_merge_next_url_on_another_host_is_not_followed_with_our_credentials():
    provider, server = merge(lambda r: httpx.Response(200, json={"next": "https://evil.test/x", "results": []}))
    page = provider.fetch_page(Window(), None)
    with pytest.raises(Transient, match="another host"):
        provider.fetch_page(Window(), page.next_token)
    assert len(server.requests) == 1


def test_merge_page_pointing_at_itself_fails_instead_of_looping():
    provider, _ = merge(lambda r: httpx.Response(200, json={"next": "same", "results": [record(1)]}))
    page = provider.fetch_page(Window(), None)
    with pytest.raises(Transient, match="pointed at itself"):
        provider.fetch_page(Window(), page.next_token)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([record(1)], "a list, not a"),
        ({"results": {"id": "x"}}, "results was a dict"),
        ({"results": [], "next": 7}, "next was a int"),
    ],
)
def test_merge_unreadable_page_shapes_are_transient(body, message):
    provider, _ = merge(lambda r: httpx.Response(200, json=body))
    with pytest.raises(Transient, match=message):
        provider.fetch_page(Window(), None)


# -- Merge writes --------------------------------------------------------------------------------------------


def test_merge_create_answered_200_with_the_model_is_a_success():
    provider, _ = merge(lambda r: httpx.Response(200, json={"model": record(9), "warnings": ["w"], "errors": []}))
    assert provider.create(CanonicalContact(name="Company 9")).remote_id == "m-9"


def test_merge_errors_on_a_2xx_are_a_refusal_with_the_servers_words():
    body = {
        "model": record(9),
        "warnings": [],
        "errors": [{"title": "Missing Required Field", "detail": "tax_number is required", "problem_type": "X"}],
    }
    provider, _ = merge(lambda r: httpx.Response(201, json=body))
    with pytest.raises(Permanent, match="Missing Required Field: tax_number is required"):
        provider.create(CanonicalContact(name="Company 9"))


def test_merge_create_without_an_id_is_uncertain_so_the_ledger_looks_first():
    provider, _ = merge(lambda r: httpx.Response(201, json={"model": {"name": "x"}, "warnings": ["queued"]}))
    with pytest.raises(Transient, match="may have happened"):
        provider.create(CanonicalContact(name="x"))


def test_merge_create_with_a_partial_model_is_read_back_by_id():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"model": {"id": "m-5", "name": "Company 5"}, "errors": None})
        return httpx.Response(200, json=record(5, email_address="a@b.c"))

    provider, server = merge(handler)
    created = provider.create(CanonicalContact(name="Company 5"))
    assert created.emails == ("a@b.c",) and server.requests[-1].url.path.endswith("/contacts/m-5")


def test_merge_create_whose_record_cannot_be_read_yet_is_uncertain_not_refused():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"model": {"id": "m-6"}, "errors": None})
        return httpx.Response(404, json={"detail": "Not found."})

    provider, _ = merge(handler)
    with pytest.raises(Transient, match="cannot be read yet"):
        provider.create(CanonicalContact(name="Company 6"))


@pytest.mark.parametrize("answer", [httpx.Response(204), httpx.Response(200, content=b""), httpx.Response(202)])
def test_merge_patch_without_a_body_is_read_back(answer):
    def handler(request: httpx.Request) -> httpx.Response:
        return answer if request.method == "PATCH" else httpx.Response(200, json=record(4, name="Renamed"))

    provider, server = merge(handler)
    assert provider.update("m-4", {"name": "Renamed"}).name == "Renamed"
    assert [r.method for r in server.requests] == ["PATCH", "GET"]


# -- HTTP behaviour (shared by both dialects) -----------------------------------------------------------------


def test_same_host_redirect_is_followed_with_the_same_method():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/contacts/m-1"):
            return httpx.Response(308, headers={"Location": f"{BASE}/contacts/m-1/"})
        return httpx.Response(200, json=record(1))

    provider, server = merge(handler)
    assert provider.get("m-1").remote_id == "m-1"
    assert server.requests[1].headers["x-account-token"] == "acct"


def test_redirect_to_another_host_is_refused_and_credentials_stay_home():
    provider, server = merge(lambda r: httpx.Response(302, headers={"Location": "https://elsewhere.test/c"}))
    with pytest.raises(Permanent, match="another host"):
        provider.get("m-1")
    assert len(server.requests) == 1


def test_retry_after_as_http_date_on_a_503_read_is_a_rate_limit():
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    provider, _ = merge(lambda r: httpx.Response(503, headers={"Retry-After": later}, text="busy"))
    with pytest.raises(RateLimited) as caught:
        provider.get("m-1")
    assert 100 < caught.value.retry_after <= 121 and caught.value.status == 503


def test_503_with_retry_after_on_a_write_stays_uncertain_but_keeps_the_wait():
    provider, _ = merge(lambda r: httpx.Response(503, headers={"Retry-After": "30"}))
    with pytest.raises(Transient) as caught:
        provider.create(CanonicalContact(name="x"))
    assert not isinstance(caught.value, RateLimited) and caught.value.retry_after == 30


HTML = b"<html><head><style>p{}</style></head><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"


@pytest.mark.parametrize(("status", "kind"), [(502, Transient), (400, Permanent), (200, Transient)])
def test_html_pages_become_typed_errors_with_a_short_excerpt(status, kind):
    provider, _ = merge(lambda r: httpx.Response(status, content=HTML, headers={"Content-Type": "text/html"}))
    with pytest.raises(kind, match="502 Bad Gateway nginx") as caught:
        provider.fetch_page(Window(), None)
    assert "<h1>" not in str(caught.value)


def test_gzip_and_chunked_bodies_are_read():
    payload = json.dumps({"next": None, "results": [record(1)]}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor"):
            return httpx.Response(200, content=iter([payload[:10], payload[10:]]))  # chunked
        body = json.dumps({"next": "c", "results": [record(2)]}).encode()
        return httpx.Response(200, content=gzip.compress(body), headers={"Content-Encoding": "gzip"})

    provider, _ = merge(handler)
    assert [c.remote_id for c in walk(provider)] == ["m-2", "m-1"]


def test_broken_gzip_is_transient():
    provider, _ = merge(lambda r: httpx.Response(200, content=b"not gzip", headers={"Content-Encoding": "gzip"}))
    with pytest.raises(Transient, match="failed on the wire"):
        provider.fetch_page(Window(), None)


def test_a_read_timeout_is_transient():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    provider, _ = merge(handler)
    with pytest.raises(Transient, match="timed out"):
        provider.fetch_page(Window(), None)


def test_merge_relative_next_url_without_a_cursor_resolves_against_the_page_not_the_base_path():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("offset") == "1":
            return httpx.Response(200, json={"next": None, "results": [record(2)]})
        return httpx.Response(200, json={"next": "/api/accounting/v1/contacts?offset=1", "results": [record(1)]})

    provider, server = merge(handler)
    assert [c.remote_id for c in walk(provider)] == ["m-1", "m-2"]
    assert server.requests[1].url.path == "/api/accounting/v1/contacts"


@pytest.mark.parametrize("status", [404, 405])
def test_merge_server_without_sync_status_leaves_the_window_open(status):
    provider, _ = merge(lambda r: httpx.Response(status, json={"detail": "Not found."}))
    assert provider.sync_finished_at() is None


def test_merge_sync_status_with_seconds_only_times():
    results = [
        {"model_name": "Contact", "last_sync_finished": "2026-03-01T12:00:00Z"},
        {"model_name": "Invoice", "last_sync_finished": "2020-01-01T00:00:00Z"},
        "junk",
    ]
    provider, _ = merge(lambda r: httpx.Response(200, json={"results": results}))
    assert provider.sync_finished_at() == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_merge_search_on_a_server_that_ignores_the_filter_keeps_only_exact_matches():
    rows = [record(1), record(2, name="  wanted   gmbh "), record(3, email_address="WANTED@x.de")]
    provider, _ = merge(lambda r: httpx.Response(200, json={"next": None, "results": rows}))
    assert [c.remote_id for c in provider.search(name="Wanted GmbH")] == ["m-2"]
    assert [c.remote_id for c in provider.search(email="wanted@x.de")] == ["m-3"]
