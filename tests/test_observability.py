"""Metrics and logs of a real sync: workers, the sandbox over HTTP, the metrics server scraped over HTTP.

The metrics must add up to the run's own counters (they are recorded after commit, so retried work is not
counted twice), and no log line of a run, in either format, may carry the credentials the run used.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from contactsync import db
from contactsync.demo import split_companies
from contactsync.embedded import free_port
from contactsync.models import ReviewItem, SyncRun, WriteOp
from contactsync.sandbox.seed import companies
from contactsync.settings import get_settings
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.schedule import trigger_sync
from tests.conftest import Workers

pytestmark = pytest.mark.pipeline
API_KEY = "sk-live-5f1e0c9a7b3d4e2f8a6c1b0d9e7f3a2c"
ACCOUNT_TOKEN = "acct-tok-9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
STAGES = ("fetched", "linked", "reviewed", "created_remote", "updated_remote", "updated_app")


def _tenant(sandbox: Any, size: int, faults: dict[str, float] | None = None) -> None:
    split = split_companies(companies(71, size))
    body = {
        "token": ACCOUNT_TOKEN,
        "seed": 71,
        "count": 0,
        "contacts": [c.model_dump(mode="json") for c in split.remote],
        "rate_limit_per_minute": 100_000,
        "faults": faults or {},
    }
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=60).raise_for_status()
    with db.session() as s:
        upsert_tenant(
            s,
            "t1",
            name="Tenant",
            dialect="merge",
            base_url=f"{sandbox.url}/api/accounting/v1",
            api_key=API_KEY,
            account_token=ACCOUNT_TOKEN,
            options={"rate_limit_per_minute": 100_000, "page_size": 50},
        )
        upsert_app_contacts(s, "t1", split.app)


def _run(workers: Workers) -> SyncRun:
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            if run.finished_at is not None:
                return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish:\n{workers.logs()}")


@contextlib.contextmanager
def metrics_server(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], Samples]]:
    """`contactsync metrics` in its own process (started early: it takes a while to import); yields a scraper."""
    port = free_port()
    log = tmp_path / "metrics.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "contactsync", "metrics", "--port", str(port)],
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )

    def scrape() -> Samples:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.2)
        assert response.status_code == 200
        samples = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    try:
        yield scrape
    finally:
        proc.terminate()
        proc.wait(20)


def _total(samples: Samples, name: str, **match: str) -> float:
    return sum(v for (n, labels), v in samples.items() if n == name and match.items() <= dict(labels).items())


def test_metrics_add_up_to_the_runs_counters(
    env: dict[str, str], workers: Workers, sandbox: Any, tmp_path: Path
) -> None:
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    workers.env.update(env)
    _tenant(sandbox, 160, faults={"error_rate": 0.05})  # with retries on the way
    with metrics_server(env, tmp_path) as scrape:
        workers.start(2)
        run = _run(workers)
        # A create whose answer the injected errors lost waits parked for evidence: the run is then `partial`.
        assert run.status in ("succeeded", "partial"), run.error
        assert run.created_remote > 0 and run.linked > 0
        samples = scrape()
    # The sum really is over several processes (Celery's prefork children), not one process's view.
    assert len({p.name.rsplit("_", 1)[1] for p in (tmp_path / "prom").glob("counter_*.db")}) >= 2

    for stage in STAGES:
        assert _total(samples, "contactsync_contacts_total", stage=stage) == getattr(run, stage), stage
    assert _total(samples, "contactsync_runs_total", outcome=run.status, trigger="manual", kind="full") == 1
    assert _total(samples, "contactsync_runs_total") == 1
    assert _total(samples, "contactsync_run_duration_seconds_count", outcome=run.status) == 1
    assert _total(samples, "contactsync_provider_requests_total", dialect="merge") == run.api_calls
    with db.session() as s:
        reviews = s.scalar(select(func.count()).where(ReviewItem.status == "open"))
        done = s.scalar(select(func.count()).select_from(WriteOp).where(WriteOp.status == "done"))
    assert _total(samples, "contactsync_review_items_open", tenant="t1") == reviews
    assert _total(samples, "contactsync_write_ops", state="done") == done
    assert 0 <= _total(samples, "contactsync_sync_lag_seconds", tenant="t1") < 3600
    assert ("contactsync_queue_length", (("queue", "contactsync.control"),)) in samples


def test_logs_of_a_run_name_it_and_carry_no_credentials(
    env: dict[str, str],
    workers: Workers,
    sandbox: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A console run and a JSON run (with provider errors on the way, where credentials tend to leak)."""
    _tenant(sandbox, 100, faults={"error_rate": 0.05})
    workers.start(1)
    first = _run(workers)
    workers.stop()
    workers.env["CONTACTSYNC_LOG_FORMAT"] = "json"
    monkeypatch.setenv("CONTACTSYNC_LOG_FORMAT", "json")  # the worker command line is built here
    get_settings.cache_clear()
    json_dir = tmp_path / "json"
    json_dir.mkdir()
    workers.log_dir = json_dir
    workers.start(1)
    second = _run(workers)
    workers.stop()  # the shutdown is part of the log too
    console_text = "\n".join(p.read_text() for p in tmp_path.glob("worker*.log"))
    json_text = "\n".join(p.read_text() for p in json_dir.glob("worker*.log"))

    for text in (console_text, json_text):
        assert API_KEY not in text and ACCOUNT_TOKEN not in text
        assert API_KEY[8:24] not in text and ACCOUNT_TOKEN[9:25] not in text  # not even a fragment
    assert f"run_id={first.id}" in console_text and "run finished" in console_text

    for line in json_text.splitlines():
        assert not line.strip() or line.startswith("{"), line  # every line is JSON, Celery's own too
    events = [json.loads(line) for line in json_text.splitlines() if line.strip()]
    by_event = {e["event"]: e for e in events if e.get("run_id") == second.id}
    for event in ("page fetched", "run reconciled", "writes planned", "run finished"):
        assert event in by_event, sorted(by_event)
    # Started here (a manual trigger); scheduled runs are started, and logged, by a worker's schedule tick.
    assert any(isinstance(r.msg, dict) and r.msg.get("event") == "run started" and r.msg.get("run_id") == second.id
               for r in caplog.records)  # fmt: skip
    finished = by_event["run finished"]
    assert finished["tenant_id"] == "t1" and finished["connection_id"] == second.connection_id
    assert finished["fetched"] == second.fetched and finished["outcome"] == second.status
    assert by_event["page fetched"]["task_id"]
    assert any(e.get("logger", "").startswith("celery") for e in events)  # Celery's own lines, same format
    assert any(e["event"] == "worker shutting down" for e in events)
