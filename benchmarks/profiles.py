"""How a benchmark or soak tenant is connected: the dialect, where its API sits on the sandbox, the connection's
options, the sandbox account's variant (the shape its platform serves) and the platform's nature (faults it
always has, such as fields it keeps for itself). Both benchmarks take `--dialects`, a comma-separated list of
these names that the tenants take in turn."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from contactsync.providers.registry import written_fields


@dataclass(frozen=True)
class Profile:
    dialect: str
    base_path: str
    options: dict[str, Any] = field(default_factory=dict)
    variant: dict[str, Any] = field(default_factory=dict)
    # Sandbox faults that are the platform's nature, not chaos: they stay when a soak's chaos ends.
    nature: dict[str, Any] = field(default_factory=dict)
    # Sandbox account settings that are the platform's limits (requests served at once).
    account: dict[str, Any] = field(default_factory=dict)

    def paged(self, size: int) -> dict[str, Any]:
        """The connection's options with pages of `size` (Merge's `page_size`; Maesn's `limit`, which takes 5,
        10, 20, 50 or 100)."""
        return {**self.options, ("page_size" if self.dialect == "merge" else "limit"): size}

    def written(self) -> frozenset[str]:
        """The fields a connection of this profile can write (`providers.registry.written_fields`)."""
        return written_fields(self.dialect, self.options)


# Maesn as its v1 reference documents it: lists without roles, status or currency (the sandbox's own default
# adds them, as Maesn's v2 does), phone types in its enum.
_MAESN_V1 = {"maesn_fields": "documented", "phone_words": "maesn"}
_ROLES = ["is_customer", "is_supplier"]
# How Xero hands records back through Merge: texts decomposed and without zero-width characters, phone numbers in
# E.164, lines in its slot order, phone types in its slots' words.
_XERO_FORMS = {
    "text_form": "nfd",
    "text_invisible": "dropped",
    "phone_form": "e164",
    "line_order": "slots",
    "phone_words": "xero",
}
PROFILES = {
    "merge": Profile("merge", "/api/accounting/v1"),
    # Xero behind Merge: roles set by its invoices and bills (writes cannot set them; the connection says so, as
    # Connect through Link would), texts handed back decomposed and without zero-width characters, phone numbers
    # in its own form (it keeps country, area and line apart), phones and addresses listed in its slot order,
    # phone types in its slots' words (DEFAULT, MOBILE, FAX).
    "merge-xero": Profile(
        "merge",
        "/api/accounting/v1",
        {"read_only_fields": _ROLES},
        _XERO_FORMS,
        {"ignored_on_write": _ROLES},
    ),
    # The same Xero, which serves five requests of a tenant at once (a sixth is refused, 429 "concurrent"), and
    # the connection capped to five as its operator would set it (`max_concurrent_requests`).
    "merge-xero5": Profile(
        "merge",
        "/api/accounting/v1",
        {"read_only_fields": _ROLES, "max_concurrent_requests": 5},
        _XERO_FORMS,
        {"ignored_on_write": _ROLES},
        {"max_concurrent": 5, "rate_limit_headers": "xero"},
    ),
    # The same Xero behind an API that answers a write with the request as sent, not as the platform kept it: the
    # next list shows the platform's own form of what the answer showed as sent.
    "merge-xero-echo": Profile(
        "merge",
        "/api/accounting/v1",
        {"read_only_fields": _ROLES},
        {**_XERO_FORMS, "write_answer": "sent"},
        {"ignored_on_write": _ROLES},
    ),
    # A platform that keeps a contact's currency for itself (writes of it are ignored) behind an API that answers
    # a write with the request as sent: the answer shows the app's currency, the next list the platform's. The
    # connection does not say so.
    "merge-echo": Profile(
        "merge", "/api/accounting/v1", {}, {"write_answer": "sent"}, {"ignored_on_write": ["currency"]}
    ),
    # A connection that sends the app's clearings (`send_clears`): the soak's app edits clear fields too.
    "merge-clears": Profile("merge", "/api/accounting/v1", {"send_clears": True}),
    "maesn": Profile("maesn", "", variant=_MAESN_V1),
    # Maesn v1 answering writes with the request as sent (its lists name phone types in Maesn's words).
    "maesn-echo": Profile("maesn", "", variant={**_MAESN_V1, "write_answer": "sent"}),
    "maesn-split": Profile("maesn", "", {"resources": "split"}, _MAESN_V1),
    "maesn-v2": Profile("maesn", "", {"api_version": "v2"}),
    # A platform without customer and supplier flags: Merge hands them back null, Maesn v2 leaves them out, and
    # writes of them are ignored; the connection does not say so (nothing names such a platform).
    "merge-roleless": Profile(
        "merge", "/api/accounting/v1", {}, {"role_flags": "unstated"}, {"ignored_on_write": _ROLES}
    ),
    "maesn-roleless": Profile(
        "maesn", "", {"api_version": "v2"}, {"role_flags": "unstated"}, {"ignored_on_write": _ROLES}
    ),
    # A platform that keeps no phone types: Merge hands its numbers back as bare strings (no type).
    "merge-untyped": Profile("merge", "/api/accounting/v1", variant={"merge_phones": "strings"}),
    # A platform that keeps one street line and no region: addresses come back without them.
    "merge-short": Profile("merge", "/api/accounting/v1", variant={"address_parts": "short"}),
    # Cursors that expire after 5 s: a walk resumed after a killed worker, or a retry's wait, starts again.
    "merge-expiring": Profile("merge", "/api/accounting/v1", variant={"merge_cursor_ttl": 5}),
}
HELP = (
    "comma-separated profiles the tenants take in turn: merge, merge-xero (roles the platform keeps for itself, "
    "texts, phone numbers and the order of lines handed back in its own form), merge-xero5 (the same, serving five "
    "requests at once, the connection capped to five), merge-xero-echo (merge-xero answering writes with the "
    "request as sent), merge-echo (currency kept by the platform, writes answered with the request as sent), "
    "merge-clears (the app's clearings sent), maesn (v1 as its reference "
    "documents it: no roles, status or currency in its lists), maesn-echo (the same, answering writes with the "
    "request as sent), maesn-split (v1 on /customers and /suppliers), "
    "maesn-v2, merge-roleless and maesn-roleless (v2; a platform that states no roles and ignores their writes), "
    "merge-untyped (phone numbers handed back without types), merge-short (addresses without a second street "
    "line or region), merge-expiring (cursors that expire after 5 s); default merge"
)


def profile_names(text: str) -> tuple[str, ...]:
    """`--dialects`, parsed: the names in order, each one of `PROFILES`."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in PROFILES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"profiles are {', '.join(PROFILES)}; not {', '.join(unknown) or text!r}")
    return names
