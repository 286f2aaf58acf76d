"""Property: whatever the platform's users do between and during walks, the mirror ends equal to the platform.

The mirror is what the fetch task keeps: a dict by remote id, upserted by content, with deletions applied
(Merge reports them; for Maesn, ids missing from a complete full walk, decided by the sync core's own rule in
`sync.walks`). Walks advance the watermark only when they complete; a walk that fails (Maesn gives up when its
list keeps moving) is simply started again. Like the fetch task, the mirror tells the walk which records it
holds as they are (by the digest of the record each row came from), and a record the walk leaves unmapped
counts as seen and as it was.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactsync.contact import CanonicalContact
from contactsync.providers.base import Window
from contactsync.providers.errors import NotFound, Transient
from contactsync.providers.maesn_mapping import carried_by_maesn
from contactsync.providers.merge_mapping import carried_by_merge
from contactsync.providers.records import raw_digest
from contactsync.providers.registry import dialect_of
from contactsync.providers.window import advance_watermark, next_window
from contactsync.sync.walks import Deletions, deletions_after_walk, infers_deletions

LOOKBACK = timedelta(seconds=2)
CARRIED = {"merge": carried_by_merge, "maesn": carried_by_maesn}

ops = st.lists(
    st.one_of(
        st.tuples(st.just("step")),
        st.tuples(st.just("edit"), st.integers(0, 10_000), st.sampled_from(["name", "emails", "tax_number"])),
        st.tuples(st.just("archive"), st.integers(0, 10_000)),
        st.tuples(st.just("delete"), st.integers(0, 10_000)),
        st.tuples(st.just("add"), st.integers(0, 10_000)),
        st.tuples(st.just("late"), st.integers(0, 10_000), st.integers(0, 1500)),
    ),
    min_size=1,
    max_size=30,
)


class Mirror:
    def __init__(self, provider: Any, dialect: str) -> None:
        self.provider = provider
        self.dialect = dialect
        self.rows: dict[str, dict[str, Any]] = {}
        self.digests: dict[str, str | None] = {}  # of the record each row was mapped from
        self.mapped = 0
        self.watermark: Any = None
        self.walk: tuple[Window, Any, list[Any], set[str]] | None = None

    def apply(self, contact: CanonicalContact) -> None:
        self.mapped += 1
        if contact.deleted:
            self.rows.pop(contact.remote_id or "", None)
            self.digests.pop(contact.remote_id or "", None)
            return
        self.digests[contact.remote_id or ""] = raw_digest(contact.raw)
        content = CARRIED[self.dialect](contact)
        if self.rows.get(contact.remote_id or "") != content:
            self.rows[contact.remote_id or ""] = content

    def step(self) -> bool:
        """Fetch one page of the current walk (starting one if needed); True when a walk just completed."""
        if self.walk is None:
            self.walk = (next_window(self.watermark, LOOKBACK), None, [], set())
        window, token, stamps, seen = self.walk
        try:
            page = self.provider.fetch_page(window, token, self.known)
        except Transient:
            self.walk = None  # a failed walk leaves the watermark alone and starts over
            return False
        for contact in page.contacts:
            self.apply(contact)
            seen.add(contact.remote_id)
        seen.update(page.unchanged)
        stamps.append(page.max_modified_at)
        if page.next_token is not None:
            self.walk = (window, page.next_token, stamps, seen)
            return False
        for stamp in stamps:
            self.watermark = advance_watermark(self.watermark, stamp)
        self.walk = None
        deletions = deletions_after_walk(
            full_walk=window.modified_after is None,
            infers=infers_deletions(None, dialect_flags_deletions=dialect_of(self.dialect).flags_deletions),
            platform_was_still=page.infer_deletions,
        )
        for missing in set(self.rows) - seen if deletions is not Deletions.NONE else ():
            if deletions is Deletions.UNSEEN or self._gone(missing):
                del self.rows[missing]
                self.digests.pop(missing, None)
        return True

    def known(self, digests: dict[str, str]) -> set[str]:
        return {remote_id for remote_id, digest in digests.items() if self.digests.get(remote_id) == digest}

    def _gone(self, remote_id: str) -> bool:
        """The platform's word on one absentee of a walk that saw it change (as the fetch task asks it)."""
        try:
            self.provider.get(remote_id)
        except NotFound:
            return True
        return False

    def finish(self) -> None:
        while not self.step():
            pass


def _platform(admin: Any, token: str, dialect: str) -> dict[str, dict[str, Any]]:
    out = {}
    for row in admin.contacts(token):
        if row["deleted"]:
            continue
        contact = CanonicalContact.model_validate({k: v for k, v in row.items() if k != "remote_id"})
        out[row["remote_id"]] = CARRIED[dialect](contact)
    return out


def _run(admin: Any, connect: Any, dialect: str, operations: list[tuple[Any, ...]]) -> None:
    token = admin.create_account(seed=len(operations), count=12)
    options = {"page_size": 3} if dialect == "merge" else {"limit": 5, "max_rewalks": 2}
    mirror = Mirror(connect(dialect, token, **options), dialect)
    mirror.finish()
    added = 0
    for op in operations:
        live = [r["remote_id"] for r in admin.contacts(token) if not r["deleted"]]
        kind = op[0]
        if kind == "step":
            mirror.step()
        elif kind == "add" or not live:
            added += 1
            admin.mutate(
                token,
                "add",
                contact={"name": f"Added {added} {op[1] if len(op) > 1 else 0} Ltd", "is_customer": True},
            )
        else:
            target = live[op[1] % len(live)]
            if kind == "edit":
                value = {
                    "name": f"Edited {op[1]} GmbH",
                    "emails": [f"e{op[1]}@example.org"],
                    "tax_number": f"DE{op[1]:09d}",
                }[op[2]]
                admin.mutate(token, "edit", id=target, changes={op[2]: value})
            elif kind == "archive":
                admin.mutate(token, "archive", id=target)
            elif kind == "delete":
                admin.mutate(token, "delete", id=target)
            elif kind == "late":
                admin.mutate(token, "edit", id=target, changes={"currency": "CHF"}, backdate_ms=op[2])
    mirror.finish()  # the walk in progress, if any
    mirror.finish()  # and one clean incremental walk after the last change
    platform = _platform(admin, token, dialect)
    if dialect == "merge":
        assert mirror.rows == platform
        return
    # Maesn: every live contact is already right; deletions need a full walk to be seen at all.
    assert {k: v for k, v in mirror.rows.items() if k in platform} == platform
    mirror.watermark = None
    mirror.finish()
    assert mirror.rows == platform


def test_a_merge_walk_maps_only_the_records_the_mirror_does_not_hold(admin, connect):
    """A second full walk over an unchanged account maps nothing, yet sees every contact and moves the
    watermark as far; after edits, only the edited records are mapped again."""
    token = admin.create_account(seed=7, count=12)
    mirror = Mirror(connect("merge", token, page_size=5), "merge")
    mirror.finish()
    assert mirror.mapped == 12
    first, rows = mirror.watermark, dict(mirror.rows)
    mirror.watermark, mirror.mapped = None, 0
    mirror.finish()
    assert mirror.mapped == 0 and mirror.rows == rows and mirror.watermark == first
    live = sorted(r["remote_id"] for r in admin.contacts(token) if not r["deleted"])
    for remote_id in live[:2]:
        admin.mutate(token, "edit", id=remote_id, changes={"name": f"Neu {remote_id} GmbH"})
    mirror.watermark = None
    mirror.finish()
    assert mirror.mapped == 2 and mirror.rows == _platform(admin, token, "merge")


SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(operations=ops)
def test_merge_mirror_converges(admin, connect, operations):
    _run(admin, connect, "merge", operations)


@SETTINGS
@given(operations=ops)
def test_maesn_mirror_converges(admin, connect, operations):
    _run(admin, connect, "maesn", operations)
