"""The operator's commands against real servers: `status` and `runs` at 80 columns, `flower` on the workers'
broker, and settings that tolerate what Kubernetes puts into every container's environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from contactsync import db
from contactsync.embedded import free_port
from contactsync.models import AppContact, Connection, SyncRun, WriteOp
from contactsync.models.base import utcnow
from contactsync.settings import ConfigError, load_settings
from contactsync.store.tenants import upsert_tenant
from tests.conftest import Workers


def _cli(env: dict[str, str], *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contactsync", *args],
        env={**os.environ, **env, "COLUMNS": str(columns), "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _tenant(tenant_id: str) -> int:
    with db.session() as s:
        upsert_tenant(s, tenant_id, name=tenant_id, dialect="merge", base_url="https://api.example.com/v1",
                      api_key="k", account_token="t", options={})  # fmt: skip
        return int(s.scalars(select(Connection.id).where(Connection.tenant_id == tenant_id)).one())


def test_status_and_runs_fit_80_columns(env: dict[str, str]) -> None:
    conn_a = _tenant("acme-north")
    conn_b = _tenant("bakery")
    now = utcnow()
    with db.session() as s:
        s.add(SyncRun(tenant_id="acme-north", connection_id=conn_a, kind="full", status="succeeded",
                      trigger="schedule", fetched=123456, linked=98765, reviewed=432, created_remote=2100,
                      updated_remote=17, updated_app=3, started_at=now - timedelta(hours=3),
                      heartbeat_at=now, finished_at=now - timedelta(hours=2, minutes=55)))  # fmt: skip
        s.add(SyncRun(tenant_id="bakery", connection_id=conn_b, kind="incremental", status="partial",
                      trigger="webhook", write_errors=4, started_at=now - timedelta(seconds=95),
                      heartbeat_at=now, finished_at=now - timedelta(seconds=20)))  # fmt: skip
        s.flush()
        s.add(WriteOp(tenant_id="bakery", connection_id=conn_b, op_key="x", kind="create", app_contact_id=_app(s),
                      payload={}, idempotency_key="i", status="failed"))  # fmt: skip

    runs = _cli(env, "runs")
    assert runs.returncode == 0, runs.stderr
    lines = runs.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), runs.stdout
    assert "partial" in runs.stdout and "123456" in runs.stdout and "acme-north" in runs.stdout
    assert "5m00s" in runs.stdout and "1m15s" in runs.stdout  # durations of the two runs

    status = _cli(env, "status")
    assert status.returncode == 0, status.stderr
    assert all(len(line) <= 80 for line in status.stdout.splitlines()), status.stdout
    bakery = next(line for line in status.stdout.splitlines() if line.startswith("bakery"))
    assert "partial" in bakery and "active" in bakery
    assert bakery.split()[-1] == "1"  # its failed write
    acme = next(line for line in status.stdout.splitlines() if line.startswith("acme"))
    assert "2h55m" in acme  # lag since the successful run ended


def _app(s: Session) -> int:
    contact = AppContact(tenant_id="bakery", app_id="a1", name="Bakery", data={}, content_hash="h")
    s.add(contact)
    s.flush()
    return contact.id


def _serve_flower(env: dict[str, str], log: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "contactsync", "flower", "--port", str(port), *args],
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return proc, port


@pytest.mark.pipeline
def test_flower_lists_the_workers_with_nothing_configured(
    env: dict[str, str], workers: Workers, tmp_path: Path
) -> None:
    workers.start(1)
    proc, port = _serve_flower(env, tmp_path / "flower.log")
    try:
        deadline = time.monotonic() + 60
        names: list[str] = []
        while time.monotonic() < deadline and not names:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/workers", params={"refresh": "1"}, timeout=20)
                if answer.status_code == 200:
                    names = list(answer.json())
            except httpx.TransportError:
                assert proc.poll() is None, (tmp_path / "flower.log").read_text()
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(20)
    assert any(name.startswith("test0-") for name in names), (tmp_path / "flower.log").read_text()


def test_flower_takes_basic_auth_from_the_environment(env: dict[str, str], tmp_path: Path) -> None:
    proc, port = _serve_flower({**env, "CONTACTSYNC_FLOWER_BASIC_AUTH": "ops:s3cret-pass"}, tmp_path / "flower.log")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/healthcheck", timeout=10).raise_for_status()  # open: it is for probes
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "flower.log").read_text()
                time.sleep(0.3)
        assert httpx.get(f"{url}/api/workers", timeout=20).status_code == 401
        assert httpx.get(f"{url}/api/workers", auth=("ops", "wrong"), timeout=20).status_code == 401
        assert httpx.get(f"{url}/api/workers", auth=("ops", "s3cret-pass"), timeout=20).status_code == 200
        parent = psutil.Process(proc.pid)
        for process in (parent, *parent.children(recursive=True)):  # Flower itself runs as a child
            assert "s3cret-pass" not in " ".join(process.cmdline())  # not visible in `ps`
    finally:
        proc.terminate()
        proc.wait(20)


def test_flower_is_not_published_without_auth(env: dict[str, str]) -> None:
    result = _cli(env, "flower", "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "CONTACTSYNC_FLOWER_BASIC_AUTH" in result.stdout + result.stderr


def test_kubernetes_service_links_are_not_unknown_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "CONTACTSYNC_SERVE_SERVICE_HOST": "10.0.0.7",
        "CONTACTSYNC_SERVE_SERVICE_PORT": "8080",
        "CONTACTSYNC_SERVE_SERVICE_PORT_HTTP": "8080",
        "CONTACTSYNC_SERVE_PORT": "tcp://10.0.0.7:8080",
        "CONTACTSYNC_SERVE_PORT_8080_TCP": "tcp://10.0.0.7:8080",
        "CONTACTSYNC_SERVE_PORT_8080_TCP_ADDR": "10.0.0.7",
        "CONTACTSYNC_FLOWER_PORT_5555_TCP_PROTO": "tcp",
    }.items():
        monkeypatch.setenv(name, value)
    load_settings()
    monkeypatch.setenv("CONTACTSYNC_SYNC_INTERVALL_SECONDS", "60")  # a typo is still one
    with pytest.raises(ConfigError, match="CONTACTSYNC_SYNC_INTERVALL_SECONDS"):
        load_settings()


def test_demo_progress_only_moves_forward_through_the_stages() -> None:
    from contactsync.cli.progress import RunProgress

    steps = [
        RunProgress("fetching", 0, 0, 0, 0, 0, False),
        RunProgress("fetching", 150, 3, 1, 0, 0, False),
        RunProgress("fetching", 300, 6, 4, 0, 0, False),
        RunProgress("reconciling", 300, 6, 5, 0, 0, False),
        RunProgress("writing", 300, 6, 6, 80, 0, False),
        RunProgress("writing", 300, 6, 6, 80, 79, False),
        RunProgress("succeeded", 300, 6, 6, 80, 80, True),
    ]
    fractions = [step.fraction(expected_contacts=300) for step in steps]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions[-2] < 1.0  # not done before the last write
    assert "79/80" in steps[-2].detail() and "300 fetched" in steps[-2].detail()
