"""A connection's options, typed per dialect: checked where they are set, read as attributes where they are used.

The connection row stores the options a person set, as JSON, key by key (`stored`), so rows written before
the options were typed load unchanged. Setting an option the dialect does not have, or a value it cannot take,
is refused with one line naming the option (`registry.check_options`); loading a stored row ignores keys this version
does not know (`loaded`), so a row is never unreadable, while a known key with a wrong value fails the run with
the same kind of message as it would have at setting time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contactsync.contact import SYNCED_FIELDS
from contactsync.logs import get_logger

_TEXT = r"^[^\x00]*$"
MAESN_LIMITS = (5, 10, 20, 50, 100)
log = get_logger(__name__)


class OptionsError(ValueError):
    """Options a connection of this dialect cannot take; the message names the option and says why."""


class ConnectionOptions(BaseModel):
    """Options every connection has, whatever its dialect. None means "the default" (which may come from the
    settings or the dialect), so that only what a person set is stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Who wins a conflict: the newer edit by each side's own clock, or always the app, or always the platform.
    conflict_policy: Literal["newer", "app", "platform"] = "newer"
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    # Requests of the connection on the wire at once, across every worker (`providers.concurrency`): the
    # platform's concurrency limit (Xero 5, QuickBooks Online 10). None: no cap.
    max_concurrent_requests: int | None = Field(default=None, ge=1, le=1_000)
    # How far an incremental walk reaches back behind the watermark (default: CONTACTSYNC_LOOKBACK_SECONDS).
    lookback_seconds: int | None = Field(default=None, ge=0, le=7 * 86400)
    # Whether a contact missing from a complete full walk is taken as deleted (default: where the platform
    # flags no deletions itself).
    infer_deletions: bool | None = None
    # Absentees of a changing full walk looked up one by one at most; more, and no deletion is inferred.
    verify_absences_max: int | None = Field(default=None, ge=0, le=100_000)
    # How long a created contact may take to show in the platform's lists (default: the dialect's setting).
    visibility_lag_seconds: float | None = Field(default=None, ge=0, le=7 * 86400)
    # The wait for a 429 that names none.
    default_retry_after: float | None = Field(default=None, ge=0, le=86400)
    # Synced fields the platform behind the connection keeps for itself: it computes them or ignores them on
    # writes (Xero's customer and supplier flags follow its invoices and bills; a PUT or POST cannot set them).
    # They are never sent (creates included), and the platform's value is taken in only where it changed since the
    # last sync: its computed value is not an edit, and a first link does not overwrite the app's with it.
    read_only_fields: tuple[str, ...] | None = None
    # Whether a value the app cleared since the last sync is cleared on the platform too (a blank sent in the
    # update). Off by default: platforms differ in what a blank in an update does (clear the value, leave it, or
    # refuse the update). For a platform known to clear on a blank; where it leaves the value, the pair's sides
    # stay apart (`kept_apart`), and the clearing is not sent again.
    send_clears: bool | None = None
    # Test servers only: plain http to a non-loopback host, or a link-local host.
    allow_insecure_http: bool | None = None
    allow_link_local: bool | None = None

    @field_validator("read_only_fields", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """A list, or its names separated by commas (`--option read_only_fields=is_customer,is_supplier`)."""
        return [name.strip() for name in value.split(",") if name.strip()] if isinstance(value, str) else value

    @field_validator("read_only_fields")
    @classmethod
    def _synced_fields(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = sorted(set(value or ()) - set(SYNCED_FIELDS))
        if unknown:
            raise ValueError(f"{', '.join(unknown)} not among the synced fields ({', '.join(SYNCED_FIELDS)})")
        return None if value is None else tuple(sorted(set(value)))

    @classmethod
    def loaded(cls, stored: Mapping[str, Any] | None) -> Self:
        """The options as a connection row stores them. A row is never unreadable: keys this version does not
        know, and values it would refuse today (set before options were typed), are left out with a warning,
        so the defaults apply to them. Only options that contradict each other are an `OptionsError`."""
        known = {k: v for k, v in (stored or {}).items() if k in cls.model_fields}
        while True:
            try:
                return cls.model_validate(known)
            except ValidationError as exc:
                bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"] and str(e["loc"][0]) in known}
                if not bad:
                    raise OptionsError(one_line(exc)) from None
                log.warning("stored connection options ignored", problem=one_line(exc), options=sorted(bad))
                known = {k: v for k, v in known.items() if k not in bad}

    def stored(self) -> dict[str, Any]:
        """What the connection row keeps: the options that were set, as JSON."""
        return self.model_dump(mode="json", exclude_unset=True)


class MergeOptions(ConnectionOptions):
    page_size: int | None = Field(default=None, ge=1, le=100)
    # Send `Idempotency-Key` on creates (Merge offers it per customer).
    idempotency: bool | None = None


class MaesnOptions(ConnectionOptions):
    resources: Literal["contacts", "split"] | None = None
    modified_param: Literal["lastModified", "lastModifiedAt"] | None = None
    company_id: str | None = Field(default=None, max_length=255, pattern=_TEXT)
    environment_name: str | None = Field(default=None, max_length=255, pattern=_TEXT)
    limit: int | None = None  # page size: one of MAESN_LIMITS
    update_method: str | None = None  # PATCH, or PUT (the whole record: read, merge, write)
    api_version: Literal["v1", "v2"] | None = None
    max_passes: int | None = Field(default=None, ge=0, le=100)
    max_rewalks: int | None = Field(default=None, ge=0, le=100)  # the older name of max_passes
    search_pages: int | None = Field(default=None, ge=0, le=10_000)
    first_page: Literal["auto"] | int | None = None  # auto, 0 or 1
    async_wait_seconds: float | None = Field(default=None, ge=0, le=3600)

    @field_validator("limit")
    @classmethod
    def _a_page_size_maesn_serves(cls, value: int | None) -> int | None:
        if value is not None and value not in MAESN_LIMITS:
            raise ValueError(f"must be one of {', '.join(map(str, MAESN_LIMITS))}")
        return value

    @field_validator("update_method")
    @classmethod
    def _patch_or_put(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in ("PATCH", "PUT"):
            raise ValueError("must be PATCH or PUT")
        return None if value is None else value.upper()

    @field_validator("first_page")
    @classmethod
    def _zero_or_one(cls, value: str | int | None) -> str | int | None:
        if value not in (None, "auto", 0, 1):
            raise ValueError("must be auto, 0 or 1")
        return value

    @model_validator(mode="after")
    def _one_list_in_v2(self) -> Self:
        if self.api_version == "v2" and self.resources == "split":
            raise ValueError("Maesn v2 has one contacts list: resources must be contacts")
        return self


class AnyDialectOptions(MergeOptions, MaesnOptions):
    """Every dialect's options in one shape, for request bodies that may name any dialect; a connection then
    takes only its own dialect's (`registry.check_options`)."""


def one_line(exc: ValidationError) -> str:
    """The first problem pydantic found, as one line naming the option."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        why = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown option {where!r}")
        else:
            problems.append(f"option {where!r}: {why}" if where else why)
    return "; ".join(problems)


def validate_options(model: type[ConnectionOptions], dialect: str, given: Mapping[str, Any]) -> ConnectionOptions:
    """The options, if a connection of `dialect` (whose options are `model`) can take them; else `OptionsError`
    naming the option, and the options the dialect knows when it was an unknown one."""
    try:
        return model.model_validate(dict(given))
    except ValidationError as exc:
        message = f"{dialect}: {one_line(exc)}"
        if any(e["type"] == "extra_forbidden" for e in exc.errors()):
            message += f" (known: {', '.join(sorted(model.model_fields))})"
        raise OptionsError(message) from None
