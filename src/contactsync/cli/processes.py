"""Long-running processes: Celery workers, the beat, the sandbox; and spawning them as children.

`contactsync worker` / `beat` run Celery's own command lines with contactsync's app, so every Celery option an
operator knows still works after `--`. They are children rather than an exec so that, with embedded servers,
the servers outlive them and are stopped after them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from contactsync.embedded import running_services
from contactsync.redis_keys import CONTROL_QUEUE, shard_queues
from contactsync.settings import get_settings


def celery_command(*args: str) -> list[str]:
    """A Celery command line (worker, beat, flower, ...) for contactsync's app, in this interpreter."""
    return [sys.executable, "-m", "celery", "-A", "contactsync.worker", *args]


def _celery(*args: str) -> list[str]:
    """A worker or beat command line at the configured log level; in JSON mode without Celery's banner, which
    it prints outside logging and would be the only lines a log pipeline could not parse."""
    settings = get_settings()
    quiet = ["--quiet"] if settings.log_format == "json" else []
    return [*celery_command(*quiet, *args), "--loglevel", settings.log_level]


def worker_command(queues: Sequence[str], name: str, concurrency: int, extra: Sequence[str] = ()) -> list[str]:
    return [
        *_celery("worker", "-Q", ",".join(queues), "-n", f"{name}@%h", "--concurrency", str(concurrency)),
        "--without-mingle",
        "--without-gossip",
        *extra,
    ]


def beat_command(schedule_file: Path, extra: Sequence[str] = ()) -> list[str]:
    return [*_celery("beat", "-s", str(schedule_file)), *extra]


def worker_queues(index: int, workers: int) -> list[str]:
    """Shard queues split across `workers` processes, every worker also serving the control queue."""
    shards = shard_queues(get_settings().queue_shards)
    mine = [q for i, q in enumerate(shards) if i % workers == index]
    return [CONTROL_QUEUE, *mine]


def spawn(cmd: list[str], log_file: Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env or dict(os.environ))


def stop(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    """Warm shutdown first (Celery finishes or requeues its tasks), then kill what is left."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> int:
    """Run a child in the foreground; it is stopped (warm shutdown first) whenever this process is told to stop."""
    proc = subprocess.Popen(cmd, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        stop([proc])
        return 130
    except BaseException:  # SIGTERM (as SystemExit) or anything else: the child must not outlive us
        stop([proc])
        raise


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def worker(
        ctx: typer.Context,
        index: Annotated[int, typer.Option(help="which share of the tenant shards this worker serves")] = 0,
        of: Annotated[int, typer.Option(help="how many workers share the tenant shards")] = 1,
        concurrency: Annotated[int, typer.Option()] = 2,
        metrics_port: Annotated[
            int | None, typer.Option(help="serve this worker's Prometheus metrics on this port")
        ] = None,
        migrate: Annotated[
            bool, typer.Option(help="apply the schema migrations first (off where a migration job does it)")
        ] = True,
    ) -> None:
        """Run a Celery worker on its share of the tenant queues (extra arguments go to Celery)."""
        from contactsync import db

        with running_services():
            if migrate:
                db.ensure_schema()
            if metrics_port is not None:
                from contactsync.metrics.exposition import serve_in_thread

                serve_in_thread(metrics_port)
            code = run_child(worker_command(worker_queues(index, of), f"worker{index}", concurrency, ctx.args))
        raise typer.Exit(code)

    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def beat(ctx: typer.Context) -> None:
        """Run the Celery beat that starts due syncs and re-drives stalled ones."""
        with running_services() as settings:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            code = run_child(beat_command(settings.data_dir / "celerybeat-schedule", ctx.args))
        raise typer.Exit(code)

    @app.command()
    def webhooks(
        port: Annotated[int, typer.Option()] = 8080,
        host: Annotated[str, typer.Option()] = "127.0.0.1",
    ) -> None:
        """Same as `serve` (the webhook receiver is part of the API server): POST /webhooks/TENANT and friends."""
        from contactsync.cli.api import serve_app

        serve_app(host, port)

    @app.command()
    def sandbox(
        port: Annotated[int, typer.Option()] = 8765,
        host: Annotated[str, typer.Option()] = "127.0.0.1",
    ) -> None:
        """Serve the built-in sandbox provider (Merge and Maesn dialects) for demos and tests."""
        from contactsync.sandbox import serve

        serve(host, port)
