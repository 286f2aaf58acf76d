"""The pipeline and fleet benchmarks and the soak at smoke size: they run end to end and their correctness
checks hold.

Only correctness is asserted (every run ended, nothing duplicated or lost, the faults really happened); their
timings are for BENCHMARKS.md, never for a test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.pipeline
ROOT = Path(__file__).resolve().parents[1]


def run_script(module: str, args: list[str], servers: tuple[str, str], timeout: float = 240) -> tuple[int, Any, str]:
    db_url, redis_url = servers
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTACTSYNC_")}
    env.update(DATABASE_URL=db_url, REDIS_URL=redis_url, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException as exc:  # our timeout or pytest's: the script stops the workers and servers it started
        os.killpg(proc.pid, signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
        if isinstance(exc, subprocess.TimeoutExpired):
            raise AssertionError(f"{module} did not end in {timeout}s:\n{stdout[-3000:]}\n{stderr[-3000:]}") from None
        raise
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, f"no output:\n{stderr[-3000:]}"
    try:
        result = json.loads(lines[-1])
    except ValueError:
        raise AssertionError(f"last line is not JSON:\n{stdout[-3000:]}\n{stderr[-3000:]}") from None
    return proc.returncode, result, stdout


def test_pipeline_benchmark_smoke(servers: tuple[str, str]) -> None:
    args = ["--tenants", "1", "--contacts", "60", "--workers", "1", "--changed-fraction", "0.1"]
    args += ["--incremental-rounds", "2", "--webhooks", "--webhook-samples", "2"]
    code, result, out = run_script("benchmarks.bench_pipeline", args, servers)
    assert code == 0, out
    assert result["status"] == {"succeeded": 1}
    assert result["fetched"] == 60  # every platform contact, once
    assert result["writes_done"] >= 1 and result["provider_calls"] >= 1
    assert result["duplicates"] == 0 and result["lost"] == 0
    assert result["self_429"] == 0
    assert result["peak_rss_mb"] > 0
    inc = result["incremental"]
    assert inc["status"] == {"succeeded": 1} and inc["edited"] >= 2 and inc["updated_remote"] >= 1
    (later,) = result["later_incremental"]  # the second round of edits, synced too (checked with the rest below)
    assert later["writes_done"] >= 1 and later["provider_calls"] > later["writes_done"]
    assert result["webhook_samples"] == 2 and result["webhook_to_run_p95_s"] >= 0
    for key in ("wall_s", "lower_bound_s", "utilization", "contacts_per_s"):
        assert key in result


def test_fleet_benchmark_smoke(servers: tuple[str, str]) -> None:
    args = ["--tenants", "4", "--min-contacts", "100", "--max-contacts", "100", "--workers", "1", "--shards", "2"]
    code, result, out = run_script("benchmarks.bench_fleet", [*args, "--sync-seconds", "120"], servers)
    assert code == 0, out
    assert result["due"] == 4 and result["started_first_tick"] == 4  # one tick starts every due run
    assert sum(result["shard_runs"].values()) == 4
    assert result["all_finished"] and result["runs_by_status"] == {"succeeded": 4}
    assert result["checked_tenants"] == 4 and result["duplicates"] == 0 and result["lost"] == 0


@pytest.mark.timeout(420)
def test_soak_smoke(servers: tuple[str, str]) -> None:
    args = ["--minutes", "0.25", "--tenants", "2", "--contacts", "30", "--workers", "2", "--calm-start"]
    # Both dialects under fire; the Merge tenant's platform keeps its roles for itself and its own form of texts and
    # phone numbers, and serves five requests at once, the connection capped to five (the places of killed workers
    # lapse within their lease).
    args += ["--dialects", "maesn-split,merge-xero5"]
    args += ["--kill-every", "2", "--redis-every", "10", "--pg-every", "5", "--burst-every", "4", "--edit-every", "1"]
    code, result, out = run_script("benchmarks.soak", args, servers, timeout=400)
    assert code == 0 and result["ok"], out
    assert result["unfinished_runs"] == 0 and result["duplicates"] == 0 and result["lost"] == 0
    assert result["worker_kills"] >= 1 and result["redis_restarts"] >= 1 and result["pg_cuts"] >= 1
    assert sum(result["faults_injected"].values()) >= 1
    assert result["edits"] >= 1 and result["added_app_contacts"] >= 1
    assert result["dialects"] == {"t0": "maesn-split", "t1": "merge-xero5"}
    assert set(result["platform_refused"]) == {"per_minute", "concurrent", "address"}
    # Merge's limit on failed requests from one address, fed by the injected 5xx, is never reached
    assert result["platform_refused"]["address"] == 0 and result["platform_clears"] >= 0
