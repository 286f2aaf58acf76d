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


def platform_defaults(slug: Any, stored: dict[str, Any]) -> dict[str, Any]:
    """The options a new connection to the platform named `slug` should store: `stored` (what a person set),
    completed with what this module knows about the platform where the person did not say it."""
    options = dict(stored)
    fields = READ_ONLY_FIELDS.get(slug.strip().lower()) if isinstance(slug, str) else None
    if fields is not None and "read_only_fields" not in options:
        options["read_only_fields"] = list(fields)
    return options


def learned_defaults(config: ConnectionConfig) -> tuple[dict[str, Any], str]:
    """The options a new Merge connection should store, completed by asking Merge which platform is behind the
    linked account (`/account-details`), as Connect through Link learns it from the token exchange; and a line
    saying what was learned, or why nothing was ("" when there was nothing to ask). Another dialect names no
    platform, and a person's `read_only_fields` is never asked over. One short request: a platform that cannot
    be asked leaves the options as given, so attaching a connection never waits on it for long nor fails by it."""
    stored = dict(config.options)
    if config.dialect != "merge" or "read_only_fields" in stored:
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
    return completed, f"platform {slug}: read_only_fields {','.join(completed['read_only_fields'])}"
