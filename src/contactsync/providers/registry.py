"""Dialect name -> everything contactsync knows about the dialect: its provider class, what its contacts can
carry, how its webhooks look, whether it flags deletions, its default request budget and the options it takes.
The connection row stores the name; nothing outside `providers/` switches on it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from contactsync.contact import SYNCED_FIELDS, CanonicalContact
from contactsync.providers.base import ConnectionConfig, Provider
from contactsync.providers.http import Throttle
from contactsync.providers.maesn import MaesnProvider, written_by_maesn
from contactsync.providers.maesn_mapping import carried_by_maesn
from contactsync.providers.merge import MergeProvider
from contactsync.providers.merge_mapping import carried_by_merge
from contactsync.providers.options import ConnectionOptions, MaesnOptions, MergeOptions, validate_options
from contactsync.providers.webhooks import MAESN_WEBHOOKS, MERGE_WEBHOOKS, WebhookFormat


@dataclass(frozen=True)
class Dialect:
    name: str
    factory: Callable[..., Provider]
    # The part of canonical content the dialect can carry (see `carried_content`).
    carried: Callable[[CanonicalContact], dict[str, Any]]
    # The synced fields a connection with the given options can write (see `written_fields`).
    written: Callable[[Any], frozenset[str]]
    webhooks: WebhookFormat
    # Whether the platform marks deleted contacts. Where it does not, a contact missing from a complete full
    # walk is the only sign of a deletion, so such walks infer deletions (the `infer_deletions` option's default).
    flags_deletions: bool
    # The options a connection of this dialect takes.
    options: type[ConnectionOptions]
    # A connection's request budget unless its `rate_limit_per_minute` option says otherwise: Merge's documented
    # per-account limit; for Maesn the tightest platform behind it (Xero's 60 per tenant).
    requests_per_minute: int
    # (failed requests, seconds): the unified API blocks an address that sends it more failed requests than that
    # within that many seconds (Merge: 20 in 10), so they are counted across workers (`providers.failure_window`).
    failure_block: tuple[int, float] | None = None


_DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            "merge",
            MergeProvider,
            carried_by_merge,
            lambda _options: frozenset(SYNCED_FIELDS),
            MERGE_WEBHOOKS,
            flags_deletions=True,
            options=MergeOptions,
            requests_per_minute=100,
            failure_block=(20, 10.0),
        ),
        Dialect(
            "maesn",
            MaesnProvider,
            carried_by_maesn,
            written_by_maesn,
            MAESN_WEBHOOKS,
            flags_deletions=False,
            options=MaesnOptions,
            requests_per_minute=60,
        ),
    )
}
DIALECTS = tuple(_DIALECTS)


def dialect_of(name: str) -> Dialect:
    dialect = _DIALECTS.get(name)
    if dialect is None:
        raise ValueError(f"unknown provider dialect {name!r}; known: {', '.join(DIALECTS)}")
    return dialect


def options_of(dialect: str, stored: Mapping[str, Any] | None) -> ConnectionOptions:
    """A connection's options as its row stores them (see `ConnectionOptions.loaded`)."""
    return dialect_of(dialect).options.loaded(stored)


def written_fields(dialect: str, stored: Mapping[str, Any] | None) -> frozenset[str]:
    """The synced fields a connection of `dialect` with these stored options can write to its platform (Maesn's
    v1 schema has no currency, status or roles, say), less those the connection's `read_only_fields` says its
    platform keeps for itself (Xero's roles): an app value of any other field stays in the app only, and the
    two sides may differ there for good."""
    options = options_of(dialect, stored)
    return dialect_of(dialect).written(options) - frozenset(options.read_only_fields or ())


def unwritable_fields(dialect: str, stored: Mapping[str, Any] | None) -> frozenset[str]:
    """The synced fields such a connection cannot write (`written_fields`' complement): planning's unwritable
    rule and the contact view's `kept_apart` both read it."""
    return frozenset(SYNCED_FIELDS) - written_fields(dialect, stored)


def check_options(dialect: str, given: Mapping[str, Any]) -> ConnectionOptions:
    """Options about to be set on a connection of `dialect`; `OptionsError` names what it cannot take."""
    return validate_options(dialect_of(dialect).options, dialect, given)


def open_provider(
    config: ConnectionConfig,
    *,
    throttle: Throttle | None = None,
    on_request: Callable[[httpx.Request], None] | None = None,
) -> Provider:
    return dialect_of(config.dialect).factory(config, throttle=throttle, on_request=on_request)


def carried_content(dialect: str, content: dict[str, Any]) -> dict[str, Any]:
    """The part of canonical content the dialect can carry. Comparing app and remote through this view keeps a
    field the platform cannot hold (Merge's second email, say) from looking like a difference to sync, and from
    being overwritten in the app by the platform's poorer copy."""
    return carried_view(dialect, CanonicalContact.model_validate(content))


def carried_view(dialect: str, contact: CanonicalContact) -> dict[str, Any]:
    """`carried_content` of a contact already validated (validating is most of the view's cost)."""
    view = dialect_of(dialect).carried(contact)
    view.pop("deleted", None)
    return view
