"""Configuration errors are one line that names the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from contactsync.crypto import Vault, new_key
from contactsync.settings import ConfigError, load_settings


def test_malformed_database_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root@localhost/x")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings()


def test_bad_log_level_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTACTSYNC_LOG_LEVEL", "chatty")
    with pytest.raises(ConfigError, match="CONTACTSYNC_LOG_LEVEL"):
        load_settings()


def test_vault_round_trip_and_rotation() -> None:
    old, new = new_key(), new_key()
    sealed = Vault(old).seal({"api_key": "k", "account_token": "t"})
    assert b"api_key" not in sealed
    assert Vault(f"{new},{old}").open(sealed) == {"api_key": "k", "account_token": "t"}
    with pytest.raises(ConfigError):
        Vault(new).open(sealed)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "CONTACTSYNC_"))}
    return subprocess.run(
        [sys.executable, "-m", "contactsync", *args], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_cli_malformed_url_is_one_line_without_traceback() -> None:
    proc = _cli({"DATABASE_URL": "not a url", "REDIS_URL": "redis://127.0.0.1:1/0"}, "db", "upgrade")
    assert proc.returncode == 2
    assert "DATABASE_URL" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_unreachable_server_is_one_line(env: dict[str, str]) -> None:
    proc = _cli({**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing"}, "db", "upgrade")
    assert proc.returncode == 2
    assert "cannot reach PostgreSQL" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_missing_secret_with_external_servers(env: dict[str, str]) -> None:
    values = {k: v for k, v in env.items() if k != "CONTACTSYNC_SECRET_KEY"}
    proc = _cli(values, "db", "upgrade")
    assert proc.returncode == 2
    assert "CONTACTSYNC_SECRET_KEY" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_misspelt_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTACTSYNC_SECRETKEY", "x")
    with pytest.raises(ConfigError, match="CONTACTSYNC_SECRETKEY"):
        load_settings()


@pytest.mark.parametrize("command", [["worker"], ["runs"]])
def test_placeholder_secret_key_stops_every_command(env: dict[str, str], command: list[str]) -> None:
    proc = _cli({**env, "CONTACTSYNC_SECRET_KEY": "change-me"}, *command)
    assert proc.returncode == 2
    assert "CONTACTSYNC_SECRET_KEY" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_rotation_list_with_one_bad_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTACTSYNC_SECRET_KEY", f"{new_key()},change-me")
    with pytest.raises(ConfigError, match="CONTACTSYNC_SECRET_KEY"):
        load_settings()
