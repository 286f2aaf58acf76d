"""A sandbox over real HTTP per test module, with its admin client and a plain HTTP client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from contactsync.sandbox import SandboxHandle, run_in_thread
from contactsync.sandbox.admin_client import SandboxAdmin


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with run_in_thread() as handle:
        yield handle


@pytest.fixture
def admin(sandbox: SandboxHandle) -> Iterator[SandboxAdmin]:
    client = SandboxAdmin(sandbox.url)
    yield client
    client.close()


@pytest.fixture
def api(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url) as client:
        yield client
