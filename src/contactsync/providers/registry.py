"""Dialect name -> provider class and what the dialect can carry. The connection row stores the name; nothing
else in contactsync switches on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from contactsync.contact import CanonicalContact
from contactsync.providers.base import ConnectionConfig, Provider
from contactsync.providers.maesn import MaesnProvider
from contactsync.providers.maesn_mapping import carried_by_maesn
from contactsync.providers.merge import MergeProvider
from contactsync.providers.merge_mapping import carried_by_merge

_FACTORIES: dict[str, Callable[..., Provider]] = {"merge": MergeProvider, "maesn": MaesnProvider}
_CARRIED: dict[str, Callable[[CanonicalContact], dict[str, Any]]] = {
    "merge": carried_by_merge,
    "maesn": carried_by_maesn,
}
DIALECTS = tuple(_FACTORIES)


def open_provider(
    config: ConnectionConfig,
    *,
    throttle: Callable[[], None] | None = None,
    on_request: Callable[[httpx.Request], None] | None = None,
) -> Provider:
    factory = _FACTORIES.get(config.dialect)
    if factory is None:
        raise ValueError(f"unknown provider dialect {config.dialect!r}; known: {', '.join(DIALECTS)}")
    return factory(config, throttle=throttle, on_request=on_request)


def carried_content(dialect: str, content: dict[str, Any]) -> dict[str, Any]:
    """The part of canonical content the dialect can carry. Comparing app and remote through this view keeps a
    field the platform cannot hold (Merge's second email, say) from looking like a difference to sync, and from
    being overwritten in the app by the platform's poorer copy."""
    view = _CARRIED[dialect](CanonicalContact.model_validate(content))
    view.pop("deleted", None)
    return view
