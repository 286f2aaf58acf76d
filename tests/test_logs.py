"""Log output as operators see it: JSON keeps a traceback as text; the console never shows local variables."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = """
from contactsync.logs import configure_logging, get_logger
configure_logging("INFO", "{fmt}")
def call(api_key):
    raise RuntimeError("boom")
try:
    call("sk_live_local_variable_secret")
except RuntimeError:
    get_logger("t").exception("call failed")
"""


def run(fmt: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(fmt=fmt)], capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stderr


def test_json_logs_keep_the_traceback_as_text() -> None:
    lines = [json.loads(line) for line in run("json").splitlines() if line.startswith("{")]
    assert len(lines) == 1
    assert lines[0]["event"] == "call failed"
    assert isinstance(lines[0]["exception"], str) and "RuntimeError: boom" in lines[0]["exception"]
    assert "sk_live_local_variable_secret" not in json.dumps(lines[0])


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_logged_tracebacks_print_no_local_variables(fmt: str) -> None:
    out = run(fmt)
    assert "RuntimeError: boom" in out
    assert "sk_live_local_variable_secret" not in out
