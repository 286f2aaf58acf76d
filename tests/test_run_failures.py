"""Every run ends, with a reason: a real worker against tenants whose platforms (or keys) misbehave.

One worker serves several broken tenants at once, which is also the point: each fails its own run while the
worker stays up and small.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.contact import CanonicalContact
from contactsync.crypto import Vault, new_key
from contactsync.models import Connection, RunPage, SyncRun, WriteOp
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.runs import start_run
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.reconcile import reconcile
from contactsync.tasks.schedule import trigger_sync
from contactsync.worker.routing import enqueue
from tests.conftest import Workers
from tests.misbehaving import Misbehaving, misbehaving_server

pytestmark = pytest.mark.pipeline


@pytest.fixture
def server() -> Iterator[Misbehaving]:
    with misbehaving_server() as handle:
        yield handle


API_KEY, ACCOUNT_TOKEN, WEBHOOK_SECRET = "sk_live_hardening_0123", "acct/tok+4567", "whsec_hardening_89"


def add(tenant_id: str, base_url: str) -> None:
    with db.session() as s:
        upsert_tenant(
            s,
            tenant_id,
            name=tenant_id,
            dialect="merge",
            base_url=base_url,
            api_key=API_KEY,
            account_token=ACCOUNT_TOKEN,
            webhook_secret=WEBHOOK_SECRET,
        )


def wait_all(run_ids: dict[str, int], workers: Workers, timeout: float = 240) -> dict[str, SyncRun]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            runs = {t: s.get(SyncRun, r) for t, r in run_ids.items()}
        if all(r is not None and r.finished_at is not None for r in runs.values()):
            return {t: r for t, r in runs.items() if r is not None}
        time.sleep(0.3)
    raise AssertionError(f"runs did not end: {runs}; worker logs:\n{workers.logs()}")


def peak_rss_mb(workers: Workers) -> float:
    """The largest peak resident size of any worker process (the pool's children do the work)."""
    peaks = []
    for proc in workers.procs:
        for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]:
            status = Path(f"/proc/{p.pid}/status").read_text()
            peaks.append(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))))
    return max(peaks) / 1024


def test_broken_tenants_each_fail_their_own_run_with_a_reason(
    env: dict[str, str], workers: Workers, server: Misbehaving
) -> None:
    add("closed", "http://127.0.0.1:1/api")  # nothing listens on port 1
    add("forever", server.at("retryforever"))
    add("huge", server.at("huge"))
    add("slow", server.at("drip"))
    add("rotated", server.at("huge"))
    add("echo", server.at("echo"))
    with db.session() as s:
        upsert_app_contacts(s, "echo", [("a1", CanonicalContact(name="Echo Trading GmbH"))])
    with db.session() as s:
        conn = s.scalar(select(Connection).where(Connection.tenant_id == "rotated"))
        assert conn is not None
        conn.credentials = Vault(new_key()).seal({"api_key": "k", "account_token": "tok"})  # a key we no longer have
    workers.env.update(
        CONTACTSYNC_GIVE_UP_SECONDS="3",
        CONTACTSYNC_HTTP_DEADLINE_SECONDS="60",
        CONTACTSYNC_TASK_SOFT_TIME_LIMIT_SECONDS="5",
        CONTACTSYNC_TASK_TIME_LIMIT_SECONDS="10",
    )
    # A run whose page cannot be reconciled (a bug's stand-in: an id that is no id) must fail, not wait forever.
    add("buggy", server.at("echo"))
    with db.session() as s:
        conn = s.scalar(select(Connection).where(Connection.tenant_id == "buggy"))
        assert conn is not None
        buggy = start_run(s, conn)
        assert buggy is not None
        buggy.status = "reconciling"
        s.add(RunPage(run_id=buggy.id, tenant_id="buggy", page_no=0, remote_contact_ids=["not-an-id"]))
    workers.start(1, concurrency=4)
    enqueue(reconcile, "buggy", buggy.id, 0)
    # The closed port is synced the way an operator would: from the command line, waiting for the outcome.
    waiting = subprocess.Popen(
        [sys.executable, "-m", "contactsync", "sync", "closed", "--wait", "--timeout", "120"],
        env=workers.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run_ids = {}
    for tenant in ("forever", "huge", "slow", "rotated", "echo"):
        run_id = trigger_sync(tenant)
        assert run_id is not None
        run_ids[tenant] = run_id
    output, _ = waiting.communicate(timeout=150)
    assert waiting.returncode == 1, output
    assert "pages fetched" in output  # progress while it waited
    assert "gave up after 3 s failing" in output.splitlines()[-1]
    with db.session() as s:
        run_ids["closed"] = s.scalar(select(SyncRun.id).where(SyncRun.tenant_id == "closed"))
    run_ids["buggy"] = buggy.id
    runs = wait_all(run_ids, workers)
    assert runs.pop("buggy").error == "reconcile: ValueError: invalid literal for int() with base 10: 'not-an-id'"
    shown = subprocess.run(
        [sys.executable, "-m", "contactsync", "runs", "--tenant", "closed"],
        env=workers.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"run {run_ids['closed']} failed: fetch: gave up after 3 s failing" in shown.stdout

    echo = runs.pop("echo")
    assert {t: r.status for t, r in runs.items()} == dict.fromkeys(runs, "failed")
    errors = {t: r.error or "" for t, r in runs.items()}
    assert "gave up after 3 s failing" in errors["closed"] and "failed on the wire" in errors["closed"]
    assert "gave up after 3 s rate limited" in errors["forever"] and "429" in errors["forever"]
    assert "more than 33554432 bytes" in errors["huge"]
    # The worker's soft time limit (5 s) ends each attempt long before the request's deadline (60 s), although
    # this process, which queued the run, has the default limits: the worker's own configuration governs.
    assert "gave up after 3 s failing" in errors["slow"]
    assert "time limit" in errors["slow"], errors["slow"]
    assert "cannot be decrypted" in errors["rotated"]
    assert all(p.poll() is None for p in workers.procs)  # the worker survived all of it
    assert peak_rss_mb(workers) < 500

    # The platform that repeats our headers in its error text: the refused write is stored, our secrets are not.
    assert echo.write_errors == 1
    with db.session() as s:
        stored = [op.last_error or "" for op in s.scalars(select(WriteOp))]
        stored += [r.error or "" for r in s.scalars(select(SyncRun))]
    assert any("[redacted]" in text for text in stored)
    logs = "".join(p.read_text() for p in workers.log_dir.glob("worker*.log"))
    for secret in (API_KEY, ACCOUNT_TOKEN, quote(ACCOUNT_TOKEN, safe=""), WEBHOOK_SECRET):
        assert not any(secret in text for text in stored)
        assert secret not in logs
