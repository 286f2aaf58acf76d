"""Every Prometheus metric contactsync records, defined once, and the few calls that record them.

Celery's prefork pool runs tasks in several child processes, so the counters live in prometheus-client's
multiprocess mode: each process writes its values to memory-mapped files in one directory and whoever serves
`/metrics` (`contactsync serve`, `contactsync metrics`, a worker's `--metrics-port`) adds them up. The directory
is `PROMETHEUS_MULTIPROC_DIR` when the operator sets it, else `metrics/` under the data dir; it must be known
before prometheus-client is imported (the library picks its storage at import time), which is why this module
settles it first.

Every metric here has labels, so a process that records nothing (a CLI command) creates no files. Run counters
are recorded after the transaction that counted them commits (`db.on_commit`): a rolled-back task that is
retried later is counted once, so the metrics add up to the runs' own counters. What the database or Redis
already knows (open review items, writes by state, lag, queue lengths) is read at scrape time instead
(`metrics.state`).
"""

from __future__ import annotations

import os
from pathlib import Path

from contactsync.settings import get_settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiproc_dir() -> Path:
    """The shared directory of this process tree, created on first use and exported for child processes."""
    configured = os.environ.get(MULTIPROC_ENV)
    path = Path(configured) if configured else get_settings().data_dir / "metrics"
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


multiproc_dir()

from prometheus_client import Counter, Histogram  # noqa: E402 - after the directory is exported, see above

RUNS = Counter("contactsync_runs", "Finished sync runs.", ["outcome", "trigger", "kind"])
RUN_DURATION = Histogram(
    "contactsync_run_duration_seconds",
    "Wall time from a run's start to its end.",
    ["outcome"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
CONTACTS = Counter(
    "contactsync_contacts",
    "Contacts handled by runs, by stage (fetched, linked, reviewed, created_remote, updated_remote, ...).",
    ["stage"],
)
WALK_RESTARTS = Counter(
    "contactsync_walk_restarts",
    "Times a walk went back over rows it had read: a cursor the server refused, rows that moved under the walk.",
    ["dialect"],
)
PROVIDER_REQUESTS = Counter(
    "contactsync_provider_requests",
    "HTTP requests to the providers, by dialect, method and status code ('error': no answer).",
    ["dialect", "method", "status"],
)
PROVIDER_RATE_LIMITED = Counter(
    "contactsync_provider_rate_limited", "Rate-limit answers (429 and equivalents) received.", ["dialect"]
)
RATE_LIMIT_WAIT = Counter(
    "contactsync_rate_limit_wait_seconds",
    "Seconds spent waiting before provider calls: 'bucket' (our own budget), 'cooldown' (after a 429), "
    "'concurrency' (the connection's cap on requests at once), 'failures' (a Merge host's recent failed "
    "answers).",
    ["reason"],
)


def count_request(dialect: str, method: str, status: int | None) -> None:
    PROVIDER_REQUESTS.labels(dialect, method, "error" if status is None else str(status)).inc()


def count_rate_limited(dialect: str) -> None:
    PROVIDER_RATE_LIMITED.labels(dialect).inc()


def count_wait(reason: str, seconds: float) -> None:
    if seconds > 0:
        RATE_LIMIT_WAIT.labels(reason).inc(seconds)


# Run counters that count no contacts: calls are counted where they are made, by status; a walk that went back
# where the fetch knows the dialect (`count_walk_restart`).
_NOT_CONTACTS = frozenset({"api_calls", "walk_restarts"})


def count_contacts(deltas: dict[str, int]) -> None:
    for stage, delta in deltas.items():
        if delta and stage not in _NOT_CONTACTS:
            CONTACTS.labels(stage).inc(delta)


def count_walk_restart(dialect: str) -> None:
    WALK_RESTARTS.labels(dialect).inc()


def count_run(outcome: str, trigger: str, kind: str, seconds: float) -> None:
    RUNS.labels(outcome, trigger, kind).inc()
    RUN_DURATION.labels(outcome).observe(max(0.0, seconds))
