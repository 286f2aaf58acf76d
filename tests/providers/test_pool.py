"""The provider pool: one provider per connection and fingerprint, its requests counted as they are sent."""

from __future__ import annotations

from typing import Any

import pytest

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
