"""The one typed settings object, read from the environment.

Every knob of contactsync is an environment variable so that the same image runs in compose, Kubernetes and a
developer's shell. Validation happens once at start: a malformed value stops the process with a message that
names the variable, instead of failing later inside a worker.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and is fit for one line of output."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    redis_prefix: str = Field(default="contactsync", validation_alias="CONTACTSYNC_REDIS_PREFIX")
    secret_key: str | None = Field(default=None, validation_alias="CONTACTSYNC_SECRET_KEY")
    data_dir: Path = Field(default=Path(".contactsync"), validation_alias="CONTACTSYNC_DATA_DIR")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="CONTACTSYNC_LOG_LEVEL"
    )
    log_format: Literal["console", "json"] = Field(default="console", validation_alias="CONTACTSYNC_LOG_FORMAT")
    queue_shards: int = Field(default=4, ge=1, le=1024, validation_alias="CONTACTSYNC_QUEUE_SHARDS")
    schedule_tick_seconds: float = Field(default=15.0, gt=0, validation_alias="CONTACTSYNC_SCHEDULE_TICK_SECONDS")
    # Due tenants whose runs one statement starts; a tick repeats batches until none is due (or the tick is spent).
    schedule_batch_size: int = Field(default=500, ge=1, le=10_000, validation_alias="CONTACTSYNC_SCHEDULE_BATCH_SIZE")
    default_sync_interval_seconds: int = Field(default=900, ge=10, validation_alias="CONTACTSYNC_SYNC_INTERVAL_SECONDS")
    full_sync_interval_seconds: int = Field(
        default=86400, ge=60, validation_alias="CONTACTSYNC_FULL_SYNC_INTERVAL_SECONDS"
    )
    stale_run_seconds: int = Field(default=120, ge=5, validation_alias="CONTACTSYNC_STALE_RUN_SECONDS")
    lookback_seconds: int = Field(default=300, ge=0, validation_alias="CONTACTSYNC_LOOKBACK_SECONDS")
    http_timeout_seconds: float = Field(default=30.0, gt=0, validation_alias="CONTACTSYNC_HTTP_TIMEOUT_SECONDS")
    # user:password[,user:password] for `contactsync flower`; without it Flower listens on loopback only.
    flower_basic_auth: str | None = Field(default=None, validation_alias="CONTACTSYNC_FLOWER_BASIC_AUTH")
    # A whole request (connect, headers and body) must end within this, however slowly the server trickles.
    http_deadline_seconds: float = Field(default=120.0, gt=0, validation_alias="CONTACTSYNC_HTTP_DEADLINE_SECONDS")
    # Providers (an HTTP client each, with its idle connections) a worker process keeps, for the connections it used
    # last; a fleet's worker serves hundreds of tenants (see `providers.pool`).
    provider_pool_size: int = Field(default=64, ge=1, le=100_000, validation_alias="CONTACTSYNC_PROVIDER_POOL_SIZE")
    # The largest provider answer read (after decompression); a bigger one fails its run, not the worker.
    max_response_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, validation_alias="CONTACTSYNC_MAX_RESPONSE_BYTES"
    )
    # How long a run may go on failing (transient errors, rate limits) without progress before it ends `failed`.
    give_up_seconds: float = Field(default=900.0, gt=0, validation_alias="CONTACTSYNC_GIVE_UP_SECONDS")
    # The longest wait a Retry-After header can impose; anything longer (or infinite) is cut to this.
    max_retry_after_seconds: float = Field(default=3600.0, gt=0, validation_alias="CONTACTSYNC_MAX_RETRY_AFTER_SECONDS")
    # Celery time limits for every task: the soft one raises inside the task (which fails its run), the hard
    # one kills the process running it.
    task_soft_time_limit_seconds: int = Field(
        default=600, ge=1, validation_alias="CONTACTSYNC_TASK_SOFT_TIME_LIMIT_SECONDS"
    )
    task_time_limit_seconds: int = Field(default=660, ge=1, validation_alias="CONTACTSYNC_TASK_TIME_LIMIT_SECONDS")
    # The deployment's own Merge account (Merge Link): the API root, its API key and the key it signs webhooks with.
    merge_api_url: str = Field(default="https://api.merge.dev/api", validation_alias="CONTACTSYNC_MERGE_API_URL")
    merge_api_key: str | None = Field(default=None, validation_alias="CONTACTSYNC_MERGE_API_KEY")
    merge_webhook_key: str | None = Field(default=None, validation_alias="CONTACTSYNC_MERGE_WEBHOOK_KEY")
    maesn_api_url: str = Field(default="https://api.maesn.dev", validation_alias="CONTACTSYNC_MAESN_API_URL")
    webhook_max_bytes: int = Field(default=1_000_000, ge=1024, validation_alias="CONTACTSYNC_WEBHOOK_MAX_BYTES")
    # A delivery seen before (same signature and body) within this window is acknowledged and does nothing.
    webhook_replay_seconds: int = Field(default=3600, ge=1, validation_alias="CONTACTSYNC_WEBHOOK_REPLAY_SECONDS")
    review_session_seconds: int = Field(default=3600, ge=60, validation_alias="CONTACTSYNC_REVIEW_SESSION_SECONDS")
    # First retry of a failed push delivery; each further one waits twice as long (capped at ten minutes).
    push_retry_seconds: float = Field(default=5.0, gt=0, validation_alias="CONTACTSYNC_PUSH_RETRY_SECONDS")
    # How long a platform may take to show a contact it created in its lists and searches (a unified API stores
    # what it created on its next sync; search indexes lag). A create whose answer was lost is sent again only
    # after a walk that began this long after the first send covered its whole window without finding it.
    # A connection's `visibility_lag_seconds` option overrides both.
    visibility_lag_seconds: int = Field(default=900, ge=0, validation_alias="CONTACTSYNC_VISIBILITY_LAG_SECONDS")
    visibility_lag_by_dialect: dict[str, int] = Field(
        default_factory=dict, validation_alias="CONTACTSYNC_VISIBILITY_LAG_BY_DIALECT"
    )
    # Look-ups a write task makes for a create whose answer was lost, before it parks the create for later runs.
    lost_create_lookups: int = Field(default=2, ge=1, le=10, validation_alias="CONTACTSYNC_LOST_CREATE_LOOKUPS")
    # Ledger entries one write task sends, one after the other, within the tenant's rate-limit bucket. Bigger
    # batches cost fewer tasks and transactions per contact; smaller ones spread a run's writes over more
    # worker processes. A rate-limited connection's batches are smaller still, and a batch of more than one group
    # is cut to a whole number of groups (see `tasks.write`).
    write_batch_size: int = Field(default=25, ge=1, le=500, validation_alias="CONTACTSYNC_WRITE_BATCH_SIZE")
    # Requests of a batch sent at once, each still taking its slot from the tenant's bucket. All of them are marked
    # `in_flight` together before any leaves, so this is also how many creates a killed worker leaves in doubt
    # (each resolved by the lost-create path). 1 sends the batch one entry after the other.
    write_concurrency: int = Field(default=8, ge=1, le=10, validation_alias="CONTACTSYNC_WRITE_CONCURRENCY")
    # Failed requests (400 or more, 429 aside) a unified API that blocks an address for them (Merge: more than 20
    # in 10 s) may have answered the whole deployment within its window before further requests to it wait (see
    # `providers.failure_window`); the rest of its limit is left for requests on the wire. 0: not counted.
    failed_request_budget: int = Field(default=10, ge=0, le=1000, validation_alias="CONTACTSYNC_FAILED_REQUEST_BUDGET")
    # ANALYZE the tables a sync fills in bulk when a run's walk or the run ends and they changed as much as
    # autovacuum waits for (see `store.statistics`). Off: planner statistics are left to autovacuum alone.
    analyze_after_runs: bool = Field(default=True, validation_alias="CONTACTSYNC_ANALYZE_AFTER_RUNS")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Child processes and servers may run in another working directory; they must find the same place.
        return value.expanduser().resolve()

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: str | None) -> str | None:
        """Checked here, at every process's start: a placeholder key would otherwise be accepted by every
        command and only fail inside a worker, with runs left hanging."""
        if value is None or not value.strip():
            return None
        for key in (k.strip() for k in value.split(",")):
            try:
                Fernet(key.encode())
            except (ValueError, TypeError):
                raise ValueError(
                    "must be one or more comma-separated Fernet keys (32 url-safe base64 bytes); "
                    "generate one with `contactsync keygen`"
                ) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        if not url.drivername.startswith("postgresql"):
            raise ValueError(f"only PostgreSQL is supported, got scheme '{url.drivername}'")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://", "redis+socket://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    def sqlalchemy_url(self) -> str:
        """The database URL with the psycopg 3 driver, whatever spelling the operator used."""
        if self.database_url is None:
            raise ConfigError("DATABASE_URL is not set and no embedded PostgreSQL was started")
        url = make_url(self.database_url)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)

    def require_redis_url(self) -> str:
        if self.redis_url is None:
            raise ConfigError("REDIS_URL is not set and no embedded Redis was started")
        return self.redis_url


_FIELD_TO_ENV = {
    name: (field.validation_alias if isinstance(field.validation_alias, str) else name.upper())
    for name, field in Settings.model_fields.items()
}


# Variables read elsewhere (the CLI's own options, the set-up scripts), so not typos.
_OTHER_KNOWN = {
    "CONTACTSYNC_PROVIDER_API_KEY",
    "CONTACTSYNC_ACCOUNT_TOKEN",
    "CONTACTSYNC_WEBHOOK_SECRET",
    "CONTACTSYNC_VENV",
}


# Kubernetes injects variables for every Service in the namespace (unless `enableServiceLinks: false`): a Service
# named `contactsync-serve` yields CONTACTSYNC_SERVE_SERVICE_HOST, CONTACTSYNC_SERVE_PORT_8080_TCP_ADDR, ... None
# of our settings has these shapes, so they are not typos and must not stop the process.
_SERVICE_LINK = re.compile(
    r"^CONTACTSYNC(_[A-Z0-9_]+)?_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(ADDR|PORT|PROTO))?)?)$"
)


def load_settings() -> Settings:
    """Read and validate the environment, turning pydantic's report into one line that names the variable.

    An unknown `CONTACTSYNC_*` variable is an error too: a misspelt setting would otherwise be ignored silently
    and the default used, which for a key or an interval is the kind of mistake found only in production.
    """
    known = set(_FIELD_TO_ENV.values()) | _OTHER_KNOWN
    unknown = sorted(
        k
        for k in os.environ
        if k.upper().startswith("CONTACTSYNC_") and k.upper() not in known and not _SERVICE_LINK.match(k.upper())
    )
    if unknown:
        raise ConfigError(f"unknown setting {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return Settings()
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = str(err["loc"][0]) if err["loc"] else "?"
            env = _FIELD_TO_ENV.get(loc, loc)
            parts.append(f"{env}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(parts)) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; the CLI clears this cache after it starts embedded servers."""
    return load_settings()
