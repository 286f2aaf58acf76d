"""What contactsync knows about the accounting platforms behind a unified API, by the platform's slug (Merge
names it in the account-token exchange of Link: `integration.slug`).

Only what an operator would otherwise have to know and set by hand on every connection, and only where the
platform's own reference says so: a connection's options always take precedence, and a platform not listed here
gets no defaults.
"""

from __future__ import annotations

from typing import Any

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
