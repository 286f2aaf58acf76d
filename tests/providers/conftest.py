"""A real sandbox over real HTTP for provider contract tests: one server per session, one account per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from contactsync.providers.base import ConnectionConfig
from contactsync.sandbox import SandboxHandle, run_in_thread
from contactsync.sandbox.admin_client import SandboxAdmin


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    with run_in_thread() as handle:
        yield handle


@pytest.fixture(scope="session")
def admin(sandbox: SandboxHandle) -> Iterator[SandboxAdmin]:
    client = SandboxAdmin(sandbox.url)
    yield client
    client.close()


def merge_config(sandbox: SandboxHandle, token: str, **options: Any) -> ConnectionConfig:
    return ConnectionConfig(
        dialect="merge",
        base_url=f"{sandbox.url}/api/accounting/v1",
        api_key="test-key",
        account_token=token,
        options=options,
        timeout_seconds=5.0,
    )


def maesn_config(sandbox: SandboxHandle, token: str, **options: Any) -> ConnectionConfig:
    return ConnectionConfig(
        dialect="maesn",
        base_url=sandbox.url,
        api_key="test-key",
        account_token=token,
        options=options,
        timeout_seconds=5.0,
    )


@pytest.fixture
def connect(sandbox: SandboxHandle) -> Iterator[Any]:
    """`connect(dialect, token, **options)` opens a provider on the sandbox; all are closed afterwards."""
    from contactsync.providers.registry import open_provider

    opened: list[Any] = []

    def _connect(dialect: str, token: str, **options: Any) -> Any:
        config = (
            merge_config(sandbox, token, **options) if dialect == "merge" else maesn_config(sandbox, token, **options)
        )
        provider = open_provider(config)
        opened.append(provider)
        return provider

    yield _connect
    for provider in opened:
        provider.close()


def walk(provider: Any, window: Any) -> tuple[list[Any], list[Any], Any]:
    """Every page of one walk: (contacts, quarantined, max_modified_at)."""
    from contactsync.providers.window import walk_max

    contacts: list[Any] = []
    quarantined: list[Any] = []
    stamps = []
    token = None
    while True:
        page = provider.fetch_page(window, token)
        contacts += page.contacts
        quarantined += page.quarantined
        stamps.append(page.max_modified_at)
        token = page.next_token
        if token is None:
            return contacts, quarantined, walk_max(stamps)


@pytest.fixture
def walk_all() -> Any:
    return walk
