"""Operator mistakes on the command line: one line, exit code 2, nothing changed, no migration noise."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from contactsync import db
from contactsync.cli import main
from contactsync.models import Connection, Tenant
from contactsync.providers.options import ConnectionOptions
from contactsync.store.tenants import vault
from contactsync.validation import InputError, check_base_url, check_tenant_id


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "CONTACTSYNC_"))}
    return subprocess.run(
        [sys.executable, "-m", "contactsync", *args], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = (proc.stdout + proc.stderr).strip()
    assert len(out.splitlines()) == 1, out
    assert "Traceback" not in out and "alembic" not in out.lower()
    for word in words:
        assert word in out


ADD = ["tenants", "add", "--api-key", "k", "--account-token", "t"]


def test_add_refuses_an_existing_tenant_and_update_changes_only_what_is_given(env: dict[str, str]) -> None:
    base = "https://api.example.com/v1"
    added = cli(env, *ADD, "acme", "--base-url", base, "--webhook-secret", "whs", "--option", "page_size=50")
    assert added.returncode == 0, added.stderr
    again = cli(env, *ADD, "acme", "--base-url", base)
    assert_one_line_error(again, "exists", "tenants update")
    updated = cli(env, "tenants", "update", "acme", "--interval", "120", "--option", "lookback_seconds=60")
    assert updated.returncode == 0, updated.stderr
    with db.session() as s:
        tenant = s.get(Tenant, "acme")
        conn = s.scalar(select(Connection).where(Connection.tenant_id == "acme"))
        assert tenant is not None and conn is not None
        assert tenant.sync_interval_seconds == 120
        assert conn.options == {"page_size": 50, "lookback_seconds": 60}
        assert conn.base_url == base
        assert vault().open(conn.credentials) == {"api_key": "k", "account_token": "t", "webhook_secret": "whs"}


def test_unknown_tenant_is_one_line_without_migration_noise(env: dict[str, str]) -> None:
    assert_one_line_error(cli(env, "sync", "nosuch"), "nosuch")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([*ADD, "t1", "--base-url", "https://x.example", "--dialect", "foo"], ["unknown dialect"]),
        ([*ADD, "t1", "--base-url", "notaurl"], ["invalid base URL"]),
        ([*ADD, "t1", "--base-url", "http://books.example.com"], ["not https", "allow_insecure_http"]),
        ([*ADD, "bad id!", "--base-url", "https://x.example"], ["invalid tenant id"]),
        ([*ADD, "t1", "--base-url", "http://169.254.169.254/latest", "--option", "allow_insecure_http=true"],
         ["link-local"]),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    env: dict[str, str],
    args: list[str],
    words: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In this process (the checks run before any server is started), through the console entry point.
    monkeypatch.setattr(sys, "argv", ["contactsync", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess(args, int(str(exited.value.code)), out.out, out.err), *words)


def test_read_only_commands_do_not_migrate(env: dict[str, str]) -> None:
    url = make_url(env["DATABASE_URL"])
    empty = f"cs_empty_{uuid.uuid4().hex[:10]}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{empty}"')
    try:
        target = url.set(database=empty).render_as_string(hide_password=False)
        for command in (["runs"], ["tenants", "list"]):
            assert_one_line_error(cli({**env, "DATABASE_URL": target}, *command), "contactsync db upgrade")
        with psycopg.connect(url.set(drivername="postgresql", database=empty).render_as_string(False)) as conn:
            assert conn.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{empty}" WITH (FORCE)')


def test_tenant_ids_and_base_urls() -> None:
    assert check_tenant_id("acme-gmbh_2.eu") == "acme-gmbh_2.eu"
    for bad in ("", "-x", "a" * 65, "a/b", "ä", "a b"):
        with pytest.raises(InputError):
            check_tenant_id(bad)
    for reserved in ("merge", "maesn"):  # the webhook receiver's provider-wide paths
        with pytest.raises(InputError, match="reserved"):
            check_tenant_id(reserved)
    assert check_tenant_id("Merge") == "Merge"  # paths are case-sensitive: /webhooks/Merge is the tenant's
    assert check_base_url("http://127.0.0.1:8765/api")  # loopback never leaves the machine
    assert check_base_url("http://sandbox:8765", ConnectionOptions(allow_insecure_http=True))
    assert check_base_url("https://169.254.169.254/", ConnectionOptions(allow_link_local=True))
    for bad in (
        "ftp://x.example",
        "https://user:pw@x.example",
        "https://metadata.google.internal/",
        "https://[fe80::1]/",
    ):
        with pytest.raises(InputError):
            check_base_url(bad)


def test_connection_options_are_checked_against_the_dialect_when_set(env: dict[str, str]) -> None:
    """An unknown option, another dialect's option or a value the dialect cannot take: one line naming it, exit
    code 2, and the connection as it was."""
    base = "https://api.example.com/v1"
    assert_one_line_error(cli(env, *ADD, "acme", "--base-url", base, "--option", "pagesize=50"), "pagesize", "known")
    assert_one_line_error(
        cli(env, *ADD, "acme", "--base-url", base, "--dialect", "maesn", "--option", "page_size=50"), "page_size"
    )
    with db.session() as s:
        assert s.get(Tenant, "acme") is None
    added = cli(env, *ADD, "acme", "--base-url", base, "--dialect", "maesn", "--option", "limit=20")
    assert added.returncode == 0, added.stderr
    assert_one_line_error(cli(env, "tenants", "update", "acme", "--option", "limit=7"), "limit", "5, 10, 20, 50, 100")
    assert_one_line_error(cli(env, "tenants", "update", "acme", "--option", "conflict_policy=coin"), "conflict_policy")
    # Moving the connection to a dialect its options do not fit is refused as well.
    assert_one_line_error(cli(env, "tenants", "update", "acme", "--dialect", "merge"), "limit")
    ok = cli(env, "tenants", "update", "acme", "--option", "update_method=put", "--option", "company_id=C1")
    assert ok.returncode == 0, ok.stderr
    with db.session() as s:
        conn = s.scalar(select(Connection).where(Connection.tenant_id == "acme"))
        assert conn is not None and conn.dialect == "maesn"
        assert conn.options == {"limit": 20, "update_method": "PUT", "company_id": "C1"}


def test_stored_options_from_before_typing_still_load(env: dict[str, str]) -> None:
    """A row written when options were an untyped dict (unknown keys, out-of-range values) still loads, and the
    provider is still built from it, with the defaults where the stored value is not one this version takes."""
    from contactsync.providers.registry import options_of
    from contactsync.store.tenants import connection_config, provider_for, upsert_tenant

    with db.session() as s:
        upsert_tenant(
            s, "old", name="Old", dialect="merge", base_url="https://x.example", api_key="k", account_token="t"
        )
        conn = s.scalar(select(Connection).where(Connection.tenant_id == "old"))
        assert conn is not None
        conn.options = {"page_size": 500, "legacy_flag": True, "conflict_policy": "platform", "lookback_seconds": 90}
    with db.session() as s:
        conn = s.scalar(select(Connection).where(Connection.tenant_id == "old"))
        assert conn is not None
        options = options_of(conn.dialect, conn.options)
        assert (options.conflict_policy, options.lookback_seconds) == ("platform", 90)
        assert connection_config(conn).base_url == "https://x.example"
        provider, _calls = provider_for(conn)
        assert getattr(provider, "page_size") == 100  # noqa: B009  # the stored 500 was never served either
        assert conn.options["legacy_flag"] is True  # loading changes nothing stored


def test_add_learns_the_platform_behind_a_merge_linked_account(env: dict[str, str], sandbox: Any) -> None:
    """As Connect through Link does: the platform `/account-details` names completes the options a person did
    not set (Xero's roles are its own); what the person set stands."""
    token = f"xero-{uuid.uuid4().hex[:8]}"
    spec = {"token": token, "count": 0, "platform": "xero"}
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=spec, timeout=30).raise_for_status()
    base = f"{sandbox.url}/api/accounting/v1"
    add = ["tenants", "add", "--api-key", "k", "--account-token", token, "--base-url", base]
    learned = cli(env, *add, "learns")
    assert learned.returncode == 0 and "platform xero" in learned.stdout, learned.stdout + learned.stderr
    told = cli(env, *add, "told", "--option", "read_only_fields=currency")
    assert told.returncode == 0, told.stderr
    with db.session() as s:
        options = {tenant_id: opts for tenant_id, opts in s.execute(select(Connection.tenant_id, Connection.options))}
    assert options["learns"] == {"read_only_fields": ["is_customer", "is_supplier"], "max_concurrent_requests": 5}
    assert options["told"] == {"read_only_fields": ["currency"], "max_concurrent_requests": 5}
