"""The provider pool: one provider per connection and fingerprint, its requests counted as they are sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from contactsync.embedded import refresh_process_settings
from contactsync.providers import pool
from contactsync.providers.base import ConnectionConfig, Window
from contactsync.sandbox import SandboxHandle
from tests.providers.conftest import merge_config


def test_a_connection_keeps_its_provider_and_each_request_is_counted_once(
    env: dict[str, str], sandbox: SandboxHandle, admin: Any
) -> None:
    token = admin.create_account(count=7)
    config = merge_config(sandbox, token, page_size=3, rate_limit_per_minute=100_000)
    built: list[ConnectionConfig] = []

    def opened() -> ConnectionConfig:
        built.append(config)
        return config

    try:
        provider, calls = pool.lease(1, "first", opened)
        pages, next_token = 0, None
        while True:
            page = provider.fetch_page(Window(), next_token)
            pages, next_token = pages + 1, page.next_token
            if next_token is None:
                break
        assert pages == 3 and calls.take() == pages
        provider.fetch_page(Window(), None)  # a task that ends without counting its call...
        again, calls = pool.lease(1, "first", opened)
        assert again is provider and len(built) == 1
        assert calls.take() == 0  # ...does not hand it to the next one
        fresh, _ = pool.lease(1, "second", opened)  # re-connected: new credentials, URL or options
        assert fresh is not provider and len(built) == 2
        with pytest.raises(RuntimeError):  # the old client is closed, not leaked
            provider.fetch_page(Window(), None)
    finally:
        pool.forget()


def test_a_process_keeps_the_providers_of_the_connections_it_used_last(
    env: dict[str, str], sandbox: SandboxHandle, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker serving hundreds of tenants keeps a bounded number of clients: the one used longest ago is closed."""
    monkeypatch.setenv("CONTACTSYNC_PROVIDER_POOL_SIZE", "2")
    refresh_process_settings()
    config = merge_config(sandbox, admin.create_account(count=1), rate_limit_per_minute=100_000)
    built: list[int] = []

    def opened(connection_id: int) -> Callable[[], ConnectionConfig]:
        def build() -> ConnectionConfig:
            built.append(connection_id)
            return config

        return build

    try:
        first = pool.lease(1, "fp", opened(1)).provider
        second = pool.lease(2, "fp", opened(2)).provider
        assert pool.lease(1, "fp", opened(1)).provider is first  # used again: now the most recent
        pool.lease(3, "fp", opened(3))
        assert sorted(pool._pool) == [1, 3]
        with pytest.raises(RuntimeError):  # the evicted client is closed, its sockets with it
            second.fetch_page(Window(), None)
        assert first.fetch_page(Window(), None).contacts  # the kept one still works
        assert pool.lease(2, "fp", opened(2)).provider is not second  # built again when it comes back
        assert built == [1, 2, 3, 2]
    finally:
        pool.forget()
        monkeypatch.delenv("CONTACTSYNC_PROVIDER_POOL_SIZE")
        refresh_process_settings()


def test_pooled_providers_share_one_tls_context(env: dict[str, str], sandbox: SandboxHandle, admin: Any) -> None:
    """Each client used to load the CA bundle into contexts of its own: ~0.9 MB and ~30 ms apiece, per tenant a
    process served."""
    config = merge_config(sandbox, admin.create_account(count=1), rate_limit_per_minute=100_000)
    try:
        providers = [pool.lease(i, "fp", lambda: config).provider for i in (1, 2)]
        contexts = {id(p.http.client._transport._pool._ssl_context) for p in providers}  # type: ignore[attr-defined]
        assert len(contexts) == 1
    finally:
        pool.forget()
