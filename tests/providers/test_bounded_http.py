"""Every provider request is bounded in size and in total time, against a real server that misbehaves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contactsync.providers.base import ConnectionConfig
from contactsync.providers.errors import Permanent, Transient
from contactsync.providers.http import HttpCaller
from tests.misbehaving import BOMB_SIZE, Misbehaving, misbehaving_server


@pytest.fixture(scope="module")
def server() -> Iterator[Misbehaving]:
    with misbehaving_server() as handle:
        yield handle


def caller(base_url: str, *, deadline: float = 30.0, limit: int = 1024 * 1024, timeout: float = 5.0) -> HttpCaller:
    config = ConnectionConfig(
        dialect="merge",
        base_url=base_url,
        api_key="k",
        account_token="t",
        timeout_seconds=timeout,
        deadline_seconds=deadline,
        max_response_bytes=limit,
    )
    return HttpCaller.for_connection(config, {}, throttle=None, transport=None, label="test")


@pytest.mark.parametrize("mode", ["huge", "chunked", "bomb"])
def test_a_body_past_the_limit_is_refused_not_read(server: Misbehaving, mode: str) -> None:
    with pytest.raises(Permanent, match="more than 1048576 bytes"):
        caller(server.at(mode)).json("GET", "/contacts")


def test_a_body_sent_a_byte_at_a_time_ends_at_the_deadline(server: Misbehaving) -> None:
    # Each byte comes well within the read timeout; only the total deadline can stop this request.
    with pytest.raises(Transient, match="did not complete within 2 s"):
        caller(server.at("drip"), deadline=2.0, timeout=1.0).json("GET", "/contacts")


def test_headers_sent_a_byte_at_a_time_end_at_the_deadline(server: Misbehaving) -> None:
    with pytest.raises(Transient, match="did not complete within 2 s"):
        caller(server.at("dripheaders"), deadline=2.0, timeout=1.0).json("GET", "/contacts")


def test_an_answer_within_the_limits_is_read_whole(server: Misbehaving) -> None:
    body = caller(server.at("bomb"), limit=BOMB_SIZE).request("GET", "/contacts").content
    assert len(body) == BOMB_SIZE


def test_a_name_resolving_to_a_link_local_address_is_refused() -> None:
    # localhost resolves to loopback; the same check runs for every resolved address, so prove it with one
    # that is link-local by literal (no DNS needed) and one allowed by the option.
    with pytest.raises(Permanent, match="link-local or cloud-metadata"):
        caller("http://169.254.169.254:9").json("GET", "/latest/meta-data")


def test_the_environments_proxy_is_used_and_bounded_too(server: Misbehaving, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("NO_PROXY", "")
    # The host does not resolve: an answer can only have come through the proxy.
    assert caller("http://books.invalid/echo").json("GET", "/contacts") == {"next": None, "results": []}
    with pytest.raises(Transient, match="did not complete within 2 s"):
        caller("http://books.invalid/drip", deadline=2.0, timeout=1.0).json("GET", "/contacts")
