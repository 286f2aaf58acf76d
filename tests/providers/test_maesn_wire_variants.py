"""Maesn list envelopes, pagination spellings and write answers the sandbox does not produce (MockTransport)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from contactsync.contact import CanonicalContact
from contactsync.providers.base import ConnectionConfig, Window
from contactsync.providers.errors import Permanent, Transient
from contactsync.providers.maesn import MaesnProvider
from tests.providers.scripted import Server

BASE = "https://api.maesn.test"
STAMP = "2026-03-01T12:00:00Z"
ROWS = [{"id": f"a-{n}", "companyName": f"Company {n}", "updatedDate": STAMP} for n in range(12)]


def maesn(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> tuple[MaesnProvider, Server]:
    server = Server(handler)
    config = ConnectionConfig("maesn", BASE, "key", "acct", options={"limit": 5, **options}, timeout_seconds=2.0)
    provider = MaesnProvider(config, transport=httpx.MockTransport(server))
    provider._sleep = lambda seconds: None
    return provider, server


def walk(provider: MaesnProvider) -> list[str]:
    ids, token = [], None
    for _ in range(30):
        page = provider.fetch_page(Window(), token)
        ids += [c.remote_id for c in page.contacts]
        token = page.next_token
        if token is None:
            return ids
    raise AssertionError("the walk did not end")


ALL = [row["id"] for row in ROWS]


def paged(
    envelope: Callable[[list[Any], int, int], Any], *, base: int = 1
) -> Callable[[httpx.Request], httpx.Response]:
    """A server counting pages from `base` that wraps each slice with `envelope(items, page, pages)`."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.count("/") > 2:  # one record, as search reads its hits back
            return httpx.Response(200, json={"data": next(r for r in ROWS if request.url.path.endswith(r["id"]))})
        page = int(request.url.params.get("page", base))
        limit = int(request.url.params["limit"])
        start = (page - base) * limit
        pages = math.ceil(len(ROWS) / limit)
        return httpx.Response(200, json=envelope(ROWS[start : start + limit], page, pages))

    return handler


ENVELOPES: dict[str, Callable[[list[Any], int, int], Any]] = {
    "documented": lambda i, p, n: {"data": i, "meta": {"pagination": {"total": 12, "totalPages": n, "currentPage": p}}},
    "bare-list": lambda i, p, n: i,
    "data-items": lambda i, p, n: {"data": {"items": i, "totalCount": 12, "pages": n, "page": p}},
    "data-content-spring": lambda i, p, n: {"data": {"content": i, "totalElements": 12, "totalPages": n}},
    "records-top-level": lambda i, p, n: {"records": i, "pagination": {"totalCount": 12, "pageSize": 5}},
    "meta-flat": lambda i, p, n: {"data": i, "meta": {"total": 12, "perPage": 5, "currentPage": p}},
    "no-pagination": lambda i, p, n: {"data": i},
    "string-numbers": lambda i, p, n: {"data": i, "meta": {"pagination": {"total": "12", "totalPages": str(n)}}},
}


@pytest.mark.parametrize("name", list(ENVELOPES))
def test_every_envelope_walks_every_row_once(name):
    provider, server = maesn(paged(ENVELOPES[name]))
    assert walk(provider) == ALL
    assert len(server.requests) <= 4  # 3 pages, plus at most one empty probe when nothing gives the length


def test_zero_based_server_is_recognised_from_its_first_page():
    envelope = ENVELOPES["documented"]
    provider, server = maesn(paged(envelope, base=0))
    assert walk(provider) == ALL
    assert [r.url.params.get("page") for r in server.requests] == [None, "1", "2"]


def test_spring_page_object_counting_from_zero():
    def envelope(items: list[Any], page: int, pages: int) -> Any:
        return {"content": items, "page": {"number": page, "size": 5, "totalElements": 12, "totalPages": pages}}

    provider, _ = maesn(paged(envelope, base=0))
    assert walk(provider) == ALL


def test_first_page_option_forces_the_base():
    provider, server = maesn(paged(ENVELOPES["no-pagination"], base=0), first_page=0)
    assert walk(provider) == ALL
    assert server.requests[0].url.params["page"] == "0"


def test_server_ignoring_page_and_limit_ends_the_walk_instead_of_looping():
    provider, server = maesn(lambda r: httpx.Response(200, json={"data": ROWS}))
    assert walk(provider) == ALL + ALL  # the repeat is harmless (upserts), the loop would not be
    assert len(server.requests) == 2


def test_server_serving_fewer_rows_than_asked_without_pagination_stops_at_the_short_page():
    provider, _ = maesn(lambda r: httpx.Response(200, json={"data": ROWS[:3]}))
    assert walk(provider) == ALL[:3]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": {"id": "a-1"}}, "no list under data"),
        ({"message": "ok"}, "no list under data"),
        ({"data": "nope"}, "list was a NoneType"),
        ("just text", "was a str"),
    ],
)
def test_unreadable_envelopes_are_transient(body, message):
    provider, _ = maesn(lambda r: httpx.Response(200, json=body))
    with pytest.raises(Transient, match=message):
        provider.fetch_page(Window(), None)


def test_search_scans_forward_when_the_length_is_unknown():
    many = [{"id": f"b-{n}", "companyName": f"Firm {n}", "updatedDate": STAMP} for n in range(150)]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.count("/") > 2:
            return httpx.Response(200, json={"data": many[int(request.url.path.rsplit("-", 1)[1])]})
        page = int(request.url.params.get("page", 1))
        return httpx.Response(200, json={"data": many[(page - 1) * 100 : page * 100]})

    provider, server = maesn(handler)
    # The hit is on the second page: it is reached without pagination metadata, and the short page ends the scan.
    assert [c.remote_id for c in provider.search(name="Firm 140")] == ["b-140"]
    assert [r.url.params.get("page") for r in server.requests if "limit" in r.url.params] == [None, "2"]


# -- writes --------------------------------------------------------------------------------------------------

RECORD = {"id": "a-77", "companyName": "New Co", "updatedDate": STAMP}


def read_back(answer: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method in ("POST", "PATCH"):
            return answer
        assert request.url.path == "/accounting/contacts/a-77"
        return httpx.Response(200, json={"data": RECORD})

    return handler


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(201, json=RECORD),
        httpx.Response(201, json={"data": RECORD, "meta": {"warnings": []}}),
        httpx.Response(201, json={"id": "a-77"}),
        httpx.Response(201, json={"data": {"id": "a-77"}}),
        httpx.Response(201, headers={"Location": f"{BASE}/accounting/contacts/a-77"}),
    ],
    ids=["bare", "wrapped", "id-only", "wrapped-id-only", "location-only"],
)
def test_create_answer_variants_all_yield_the_created_contact(answer):
    provider, _server = maesn(read_back(answer))
    created = provider.create(CanonicalContact(name="New Co"))
    assert created.name == "New Co" and created.remote_id == "a-77"


def test_create_answered_with_nothing_is_uncertain():
    provider, _ = maesn(lambda r: httpx.Response(204))
    with pytest.raises(Transient, match="may have happened"):
        provider.create(CanonicalContact(name="New Co"))


@pytest.mark.parametrize("answer", [httpx.Response(204), httpx.Response(200, json={"success": True})])
def test_update_without_the_record_is_read_back(answer):
    provider, server = maesn(read_back(answer))
    assert provider.update("a-77", {"name": "New Co"}).name == "New Co"
    assert [r.method for r in server.requests] == ["PATCH", "GET"]


def tasks(states: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    polls = iter(states)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={"taskId": "t-1"})
        if request.url.path == "/asyncTask/t-1":
            return httpx.Response(200, json=next(polls))
        return httpx.Response(200, json={"data": RECORD})

    return handler


def test_async_create_is_polled_until_it_completes_with_the_record():
    provider, server = maesn(
        tasks([{"status": "PENDING"}, {"status": "running"}, {"status": "COMPLETED", "result": RECORD}])
    )
    assert provider.create(CanonicalContact(name="New Co")).remote_id == "a-77"
    assert sum(r.url.path == "/asyncTask/t-1" for r in server.requests) == 3


def test_async_create_completing_with_only_an_id_is_read_back():
    provider, server = maesn(tasks([{"data": {"state": "success", "resourceId": "a-77"}}]))
    assert provider.create(CanonicalContact(name="New Co")).remote_id == "a-77"
    assert server.requests[-1].url.path == "/accounting/contacts/a-77"


def test_async_create_that_fails_is_permanent_with_the_reason():
    provider, _ = maesn(tasks([{"status": "FAILED", "error": "Duplicate name"}]))
    with pytest.raises(Permanent, match="Duplicate name"):
        provider.create(CanonicalContact(name="New Co"))


def test_async_create_that_does_not_finish_in_time_is_uncertain():
    provider, server = maesn(tasks([{"status": "PENDING"}] * 100), async_wait_seconds=0.0)
    with pytest.raises(Transient, match="still running"):
        provider.create(CanonicalContact(name="New Co"))
    assert sum(r.url.path == "/asyncTask/t-1" for r in server.requests) == 1


def test_server_that_insists_on_a_page_number_is_asked_for_page_one():
    documented = paged(ENVELOPES["documented"])

    def handler(request: httpx.Request) -> httpx.Response:
        if "page" not in request.url.params:
            return httpx.Response(400, json={"error": {"message": "page is required"}})
        return documented(request)

    provider, server = maesn(handler)
    assert walk(provider) == ALL
    assert [r.url.params.get("page") for r in server.requests] == [None, "1", "2", "3"]


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": "DUPLICATE", "message": "Name already used"}},
        {"data": None, "errors": [{"message": "Name already used"}]},
    ],
)
def test_a_2xx_write_answer_carrying_an_error_and_no_record_is_a_refusal(body):
    provider, _ = maesn(lambda r: httpx.Response(200, json=body))
    with pytest.raises(Permanent, match="refused: Name already used"):
        provider.create(CanonicalContact(name="New Co"))


def test_pages_of_id_less_records_without_pagination_are_not_mistaken_for_a_repeat():
    pages = {
        "": [{"companyName": f"No Id {n}"} for n in range(5)],
        "2": [{"companyName": f"No Id {n}"} for n in range(5, 10)],
        "3": ROWS[:2],
    }
    provider, server = maesn(lambda r: httpx.Response(200, json={"data": pages[r.url.params.get("page", "")]}))
    token, quarantined, ids = None, 0, []
    while True:
        page = provider.fetch_page(Window(), token)
        quarantined += len(page.quarantined)
        ids += [c.remote_id for c in page.contacts]
        if (token := page.next_token) is None:
            break
    assert quarantined == 10 and ids == ALL[:2] and len(server.requests) == 3
