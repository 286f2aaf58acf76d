"""How a benchmark or soak tenant is connected: the dialect, where its API sits on the sandbox, the connection's
options and the sandbox account's variant (the shape its platform serves). Both benchmarks take `--dialects`,
a comma-separated list of these names that the tenants take in turn."""

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

    def paged(self, size: int) -> dict[str, Any]:
        """The connection's options with pages of `size` (Merge's `page_size`; Maesn's `limit`, which takes 5,
        10, 20, 50 or 100)."""
        return {**self.options, ("page_size" if self.dialect == "merge" else "limit"): size}

    def written(self) -> frozenset[str]:
        """The fields a connection of this profile can write (`providers.registry.written_fields`)."""
        return written_fields(self.dialect, self.options)


# Maesn as its v1 reference documents it: lists without roles, status or currency (the sandbox's own default
# adds them, as Maesn's v2 does).
_MAESN_V1 = {"maesn_fields": "documented"}
PROFILES = {
    "merge": Profile("merge", "/api/accounting/v1"),
    "maesn": Profile("maesn", "", variant=_MAESN_V1),
    "maesn-split": Profile("maesn", "", {"resources": "split"}, _MAESN_V1),
    "maesn-v2": Profile("maesn", "", {"api_version": "v2"}),
}
HELP = (
    "comma-separated profiles the tenants take in turn: merge, maesn (v1 as its reference documents it: no roles, "
    "status or currency in its lists), maesn-split (v1 on /customers and /suppliers), maesn-v2; default merge"
)


def profile_names(text: str) -> tuple[str, ...]:
    """`--dialects`, parsed: the names in order, each one of `PROFILES`."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in PROFILES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"profiles are {', '.join(PROFILES)}; not {', '.join(unknown) or text!r}")
    return names
