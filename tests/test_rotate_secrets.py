"""Key rotation end to end: after `keys rotate-secrets` with `new,old`, the new key alone opens everything."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.crypto import Vault, new_key
from contactsync.models import Connection
from contactsync.settings import ConfigError
from contactsync.store.tenants import upsert_tenant
from tests.test_settings import _cli


def test_rotate_secrets_reencrypts_with_the_first_key(env: dict[str, str]) -> None:
    with db.session() as s:
        for tenant in ("a", "b"):
            upsert_tenant(
                s, tenant, name=tenant, dialect="merge", base_url="https://x.example", api_key=f"key-{tenant}",
                account_token="tok", webhook_secret="whs",
            )  # fmt: skip
    new = new_key()
    proc = _cli({**env, "CONTACTSYNC_SECRET_KEY": f"{new},{env['CONTACTSYNC_SECRET_KEY']}"}, "keys", "rotate-secrets")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 connections re-encrypted" in proc.stdout
    with db.session() as s:
        blobs = list(s.scalars(select(Connection.credentials).order_by(Connection.tenant_id)))
    assert [Vault(new).open(b)["api_key"] for b in blobs] == ["key-a", "key-b"]
    with pytest.raises(ConfigError):
        Vault(env["CONTACTSYNC_SECRET_KEY"]).open(blobs[0])  # the old key can go


def test_rotate_secrets_without_the_old_key_changes_nothing_and_says_so(env: dict[str, str]) -> None:
    with db.session() as s:
        upsert_tenant(s, "a", name="a", dialect="merge", base_url="https://x.example", api_key="k", account_token="t")
    proc = _cli({**env, "CONTACTSYNC_SECRET_KEY": new_key()}, "secrets", "rotate")
    assert proc.returncode == 1
    assert "could not be decrypted" in proc.stdout and "a" in proc.stdout
    with db.session() as s:
        blob = s.scalar(select(Connection.credentials))
    assert blob is not None and Vault(env["CONTACTSYNC_SECRET_KEY"]).open(blob)["api_key"] == "k"
