"""Gauges read at scrape time from what PostgreSQL and Redis already hold.

Open review items, writes by state, the lag since each tenant's last successful sync and the queue lengths are
facts of the database and the broker, not of any one process: counting them in worker memory would be wrong the
moment a person decides a review item or a worker restarts. Only the process that serves the full `/metrics`
registers this collector, so the values appear once, not once per worker.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from contactsync import db
from contactsync.models import ACTIVE_RUN_STATES, Connection, ReviewItem, SyncRun, Tenant, WriteOp
from contactsync.models.base import utcnow
from contactsync.redis_keys import CONTROL_QUEUE, celery_keyprefix, shard_queues
from contactsync.settings import get_settings
from contactsync.states import ReviewStatus, RunStatus


class StateCollector(Collector):
    """Reads the database and the broker on every scrape; a scrape every 15-60 s costs a few indexed counts."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._database()
        yield self._queues()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families without values: a registry asks this on registration (to refuse a name registered
        twice) instead of calling `collect`, which would read the database and Redis; the dashboard's test
        reads the names from here."""
        yield from _database_families()
        yield _queue_family()

    def _database(self) -> Iterator[GaugeMetricFamily]:
        reviews, writes, lag, active, health = _database_families()
        now = utcnow()
        with db.session() as s:
            for tenant, count in s.execute(
                select(ReviewItem.tenant_id, func.count())
                .where(ReviewItem.status == ReviewStatus.OPEN)
                .group_by(ReviewItem.tenant_id)
            ):
                reviews.add_metric([tenant], count)
            for state, count in s.execute(select(WriteOp.status, func.count()).group_by(WriteOp.status)):
                writes.add_metric([state], count)
            last_ok = (
                select(SyncRun.tenant_id, func.max(SyncRun.finished_at).label("at"))
                .where(SyncRun.status == RunStatus.SUCCEEDED)
                .group_by(SyncRun.tenant_id)
                .subquery()
            )
            for tenant_id, created, at in s.execute(
                select(Tenant.id, Tenant.created_at, last_ok.c.at).outerjoin(last_ok, last_ok.c.tenant_id == Tenant.id)
            ):
                lag.add_metric([tenant_id], max(0.0, (now - (at or created)).total_seconds()))
            counts = dict(
                s.execute(
                    select(SyncRun.status, func.count())
                    .where(SyncRun.status.in_(ACTIVE_RUN_STATES))
                    .group_by(SyncRun.status)
                ).all()
            )
            for stage in ACTIVE_RUN_STATES:
                active.add_metric([stage], counts.get(stage, 0))
            for status, count in s.execute(select(Connection.status, func.count()).group_by(Connection.status)):
                health.add_metric([status], count)
        yield from (reviews, writes, lag, active, health)

    def _queues(self) -> GaugeMetricFamily:
        settings = get_settings()
        family = _queue_family()
        client = redis.Redis.from_url(settings.require_redis_url(), socket_timeout=5)
        prefix = celery_keyprefix(settings.redis_prefix)
        try:
            names = [CONTROL_QUEUE, *shard_queues(settings.queue_shards)]
            with client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.llen(prefix + name)
                lengths = pipe.execute()
            for name, length in zip(names, lengths, strict=True):
                family.add_metric([name], int(length))
        finally:
            client.close()
        return family


def _database_families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily("contactsync_review_items_open", "Open review items per tenant.", labels=["tenant"]),
        GaugeMetricFamily("contactsync_write_ops", "Write-ledger entries by state.", labels=["state"]),
        GaugeMetricFamily(
            "contactsync_sync_lag_seconds",
            "Seconds since the tenant's last successful sync ended (since the tenant was added if none has).",
            labels=["tenant"],
        ),
        GaugeMetricFamily("contactsync_runs_active", "Runs under way, by stage.", labels=["stage"]),
        GaugeMetricFamily(
            "contactsync_connections", "Connections by status (active, needs_reauth, ...).", labels=["status"]
        ),
    )


def _queue_family() -> GaugeMetricFamily:
    return GaugeMetricFamily("contactsync_queue_length", "Messages waiting in each Celery queue.", labels=["queue"])
