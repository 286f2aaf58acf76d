"""What contactsync knows about the accounting platforms behind a unified API, by the platform's slug (Merge
names it in the account-token exchange of Link: `integration.slug`).

Only what an operator would otherwise have to know and set by hand on every connection, and only where the
platform's own reference says so: a connection's options always take precedence, and a platform not listed here
gets no defaults.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from contactsync.providers.base import ConnectionConfig
from contactsync.providers.errors import ProviderError

# Synced fields the platform keeps for itself (the `read_only_fields` option):
# - Xero: IsCustomer and IsSupplier are set by its invoices and bills; a PUT or POST cannot set them.
# - QuickBooks Online and NetSuite keep customers and vendors as separate record types: a create says which one
#   (through the roles), an update cannot turn one into the other.
READ_ONLY_FIELDS: dict[str, tuple[str, ...]] = {
    "xero": ("is_customer", "is_supplier"),
    "quickbooks-online": ("is_customer", "is_supplier"),
    "netsuite": ("is_customer", "is_supplier"),
}


# Requests of a tenant the platform serves at once (the `max_concurrent_requests` option); one more is refused:
# - Xero: 5 concurrent calls per tenant (429, `X-Rate-Limit-Problem: concurrent`).
# - QuickBooks Online: 10 concurrent requests per realm and app.
# NetSuite's limit depends on the account's licence: not guessed here.
MAX_CONCURRENT_REQUESTS: dict[str, int] = {"xero": 5, "quickbooks-online": 10}
KNOWN_OPTIONS = ("read_only_fields", "max_concurrent_requests")


def platform_defaults(slug: Any, stored: dict[str, Any]) -> dict[str, Any]:
    """The options a new connection to the platform named `slug` should store: `stored` (what a person set),
    completed with what this module knows about the platform where the person did not say it."""
    options = dict(stored)
    key = slug.strip().lower() if isinstance(slug, str) else None
    fields = READ_ONLY_FIELDS.get(key) if key is not None else None
    if fields is not None and "read_only_fields" not in options:
        options["read_only_fields"] = list(fields)
    cap = MAX_CONCURRENT_REQUESTS.get(key) if key is not None else None
    if cap is not None and "max_concurrent_requests" not in options:
        options["max_concurrent_requests"] = cap
    return options


def learned_defaults(config: ConnectionConfig) -> tuple[dict[str, Any], str]:
    """The options a new Merge connection should store, completed by asking Merge which platform is behind the
    linked account (`/account-details`), as Connect through Link learns it from the token exchange; and a line
    saying what was learned, or why nothing was ("" when there was nothing to ask). Another dialect names no
    platform, and nothing is asked where a person set every option this module knows. One short request: a
    platform that cannot be asked leaves the options as given, so attaching a connection never waits on it for
    long nor fails by it."""
    stored = dict(config.options)
    if config.dialect != "merge" or all(name in stored for name in KNOWN_OPTIONS):
        return stored, ""
    from contactsync.providers.merge import MergeProvider  # the dialect's client; this module stays data first

    provider = MergeProvider(dataclasses.replace(config, timeout_seconds=5, deadline_seconds=10))
    try:
        slug = provider.integration_slug()
    except ProviderError as exc:
        return stored, f"the platform behind the linked account is unknown ({exc}); options as given"
    finally:
        provider.close()
    completed = platform_defaults(slug, stored)
    if completed == stored:
        return stored, ""
    learned = [
        f"{name} {','.join(value) if isinstance(value, list) else value}"
        for name, value in completed.items()
        if name not in stored
    ]
    return completed, f"platform {slug}: {'; '.join(learned)}"
