"""The API served for real (uvicorn on a free port, in a thread), keys made through the store, and clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from contactsync import db
from contactsync.api import create_app
from contactsync.sandbox import SandboxHandle, run_in_thread, serve_in_thread
from contactsync.store.apikeys import create_key

MERGE_KEY = "merge-deployment-key"
MERGE_WEBHOOK_KEY = "merge-webhook-key"


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with run_in_thread() as handle:
        yield handle


@pytest.fixture
def merge_env(env: dict[str, str], sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The deployment's Merge account is the sandbox's."""
    from contactsync.embedded import refresh_process_settings

    extra = {
        "CONTACTSYNC_MERGE_API_URL": f"{sandbox.url}/api",
        "CONTACTSYNC_MERGE_API_KEY": MERGE_KEY,
        "CONTACTSYNC_MERGE_WEBHOOK_KEY": MERGE_WEBHOOK_KEY,
    }
    for k, v in extra.items():
        monkeypatch.setenv(k, v)
    refresh_process_settings()
    env.update(extra)
    return env


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[str]:
    with serve_in_thread(create_app(), name="api", lifespan="off") as api:
        yield api.url


def make_key(tenant_id: str | None) -> str:
    with db.session() as s:
        _, key = create_key(s, tenant_id)
    return key


def client(server: str, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server, headers=headers, timeout=30)


@pytest.fixture
def admin(server: str) -> Iterator[httpx.Client]:
    with client(server, make_key(None)) as c:
        yield c


def ok(response: httpx.Response, code: int = 200) -> Any:
    assert response.status_code == code, f"{response.status_code}: {response.text[:2000]}"
    return response.json() if response.content else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so a fixture can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
