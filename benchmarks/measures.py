"""What the benchmarks measure while they run: the largest worker's memory, CPU time by group of processes,
task runtimes from Celery's events, and a percentile. Kept apart from `benchmarks.harness`, which starts and
stops what they measure."""

from __future__ import annotations

import ast
import contextlib
import logging
import threading
import time
from typing import Any

import psutil
import psycopg
from sqlalchemy.engine import make_url

from benchmarks.harness import Workers, admin_url


class RssSampler(threading.Thread):
    """The largest resident set of any single worker process (main or pool), sampled four times a second."""

    def __init__(self, workers: Workers, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.workers, self.every = workers, every
        self.peak_bytes = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every):
            for pid in self.workers.pids():
                with contextlib.suppress(psutil.Error):
                    main = psutil.Process(pid)
                    for proc in [main, *main.children(recursive=True)]:
                        self.peak_bytes = max(self.peak_bytes, proc.memory_info().rss)

    def stop(self) -> float:
        self._halt.set()
        self.join(5)
        return round(self.peak_bytes / 2**20, 1)


def cpu_seconds(worker_pids: list[int], database_url: str) -> dict[str, float]:
    """CPU time used so far (user + system seconds) by the worker processes (main and pool), by this process
    (the benchmark and the sandbox it serves, in threads) and by the PostgreSQL backends connected to the
    benchmark's database. The difference between two readings is what a phase cost, whatever else the
    machine ran meanwhile; a process that ended in between (a pool process replaced) is not counted."""

    def used(procs: list[psutil.Process]) -> float:
        total = 0.0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system
        return total

    workers: list[psutil.Process] = []
    for pid in worker_pids:
        with contextlib.suppress(psutil.Error):
            main = psutil.Process(pid)
            workers += [main, *main.children(recursive=True)]
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        backends = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (make_url(database_url).database,),
        ).fetchall()
    postgres: list[psutil.Process] = []
    for (pid,) in backends:
        with contextlib.suppress(psutil.Error):
            postgres.append(psutil.Process(pid))
    return {"workers": used(workers), "postgres": used(postgres), "bench_and_sandbox": used([psutil.Process()])}


class TaskTimes(threading.Thread):
    """Runtimes of the workers' reconcile tasks by (run id, page), read from Celery's task events (the workers
    send them), so page costs are measured where they are spent without touching the tasks. With `starts`
    (task names), also when each run's first task of those names started (the worker's clock, epoch seconds).
    `spans` holds, by tenant id, every task of a tenant that ended: (name, start, runtime), for where its runs'
    time went (a tenant's runs follow one another, so a run's tasks are those between its start and its end)."""

    def __init__(self, starts: frozenset[str] = frozenset()) -> None:
        super().__init__(daemon=True)
        self.pages: dict[tuple[int, int], float] = {}
        self.started: dict[tuple[str, int], float] = {}
        self.spans: dict[str, list[tuple[str, float, float]]] = {}
        self._task: dict[str, tuple[str, str]] = {}
        self._began: dict[str, float] = {}
        self._starts = starts
        self._args: dict[str, tuple[int, int]] = {}
        self._run_of: dict[str, tuple[str, int]] = {}
        self._receiver: Any = None
        self._halt = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        from contactsync.worker.app import app

        def received(event: dict[str, Any]) -> None:
            name = event.get("name")
            with contextlib.suppress(ValueError, SyntaxError, TypeError, IndexError):
                args = ast.literal_eval(event.get("args") or "[]")
                if isinstance(args[0], str):  # (tenant id, ...): a tenant's task
                    self._task[event["uuid"]] = (str(name), args[0])
            if name == "contactsync.reconcile":
                with contextlib.suppress(ValueError, SyntaxError, TypeError):
                    args = ast.literal_eval(event.get("args") or "[]")
                    self._args[event["uuid"]] = (int(args[1]), int(args[2]))
            elif name in self._starts:
                with contextlib.suppress(ValueError, SyntaxError, TypeError):
                    args = ast.literal_eval(event.get("args") or "[]")
                    self._run_of[event["uuid"]] = (str(name), int(args[1]))

        def started(event: dict[str, Any]) -> None:
            self._began[event.get("uuid", "")] = float(event["timestamp"])
            key = self._run_of.pop(event.get("uuid", ""), None)
            if key is not None:
                self.started.setdefault(key, float(event["timestamp"]))

        def ended(event: dict[str, Any]) -> None:  # failed or retried: no span, but no longer running
            self._task.pop(event.get("uuid", ""), None)
            self._began.pop(event.get("uuid", ""), None)

        def succeeded(event: dict[str, Any]) -> None:
            task, began = self._task.pop(event.get("uuid", ""), None), self._began.pop(event.get("uuid", ""), None)
            if task is not None and began is not None:
                self.spans.setdefault(task[1], []).append((task[0], began, float(event.get("runtime") or 0.0)))
            key = self._args.pop(event.get("uuid", ""), None)
            if key is not None:
                self.pages[key] = float(event.get("runtime") or 0.0)

        logging.getLogger("kombu.mixins").setLevel(logging.WARNING)
        while not self._halt.is_set():
            try:
                with app.connection_for_read() as conn:
                    self._receiver = app.events.Receiver(
                        conn,
                        handlers={
                            "task-received": received,
                            "task-started": started,
                            "task-succeeded": succeeded,
                            "task-failed": ended,
                            "task-retried": ended,
                        },
                    )
                    self.ready.set()
                    self._receiver.capture(limit=None, timeout=None, wakeup=False)
            except Exception:  # the broker restarting: listen again
                time.sleep(0.5)

    def settle(self, timeout: float = 5.0) -> None:
        """Wait (up to `timeout`) until every task seen starting has reported its end: the task that ends a run
        reports after the run's row says it ended, and a fixed pause missed it on a busy machine."""
        deadline = time.monotonic() + timeout
        time.sleep(0.2)
        while self._began and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        self._halt.set()
        if self._receiver is not None:
            self._receiver.should_stop = True
        self.join(5)


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
