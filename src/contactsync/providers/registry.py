"""Dialect name -> provider class. The connection row stores the name; nothing else switches on it."""

from __future__ import annotations

from collections.abc import Callable

from contactsync.providers.base import ConnectionConfig, Provider

DIALECTS = ("merge", "maesn")


def open_provider(config: ConnectionConfig, *, throttle: Callable[[], None] | None = None) -> Provider:
    factories: dict[str, Callable[..., Provider]] = {}
    try:
        from contactsync.providers.merge import MergeProvider

        factories["merge"] = MergeProvider
    except ImportError:  # pragma: no cover - during bring-up only
        pass
    try:
        from contactsync.providers.maesn import MaesnProvider

        factories["maesn"] = MaesnProvider
    except ImportError:  # pragma: no cover
        pass
    factory = factories.get(config.dialect)
    if factory is None:
        raise ValueError(f"unknown provider dialect {config.dialect!r}; known: {', '.join(DIALECTS)}")
    return factory(config, throttle=throttle)
