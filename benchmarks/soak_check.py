"""What the soak did (its edits and additions) and the invariants it checks at the end.

The checks read each platform through the tenant's own provider (see `harness`): duplicates by name against
what the books plus the creates justify, linked pairs field by field, the newest edit of every edited pair on
both sides, and every app contact the soak added linked to a platform contact.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from benchmarks.harness import TenantData, runs_by_status
from benchmarks.platform_check import disagreeing, duplicates, linked_pairs, read_platform
from benchmarks.profiles import PROFILES
from contactsync import db
from contactsync.models import ACTIVE_RUN_STATES, AppContact, Link, RemoteContact, SyncRun, WriteOp, WriteState
from contactsync.sync.alike import agrees


def say(*parts: Any) -> None:
    print(*parts, flush=True)


@dataclass
class Edit:
    tenant: str
    app_contact_id: int
    side: str  # app | platform
    field: str
    value: Any  # as the dialect carries it
    at: float


@dataclass
class Tally:
    kills: Counter[str] = field(default_factory=Counter)
    redis_restarts: int = 0
    pg_cuts: int = 0
    pg_backends_terminated: int = 0
    bursts: int = 0
    beat_restarts: int = 0
    worker_exits: int = 0  # workers that exited by themselves (not killed by the soak) and were started again
    edit_rounds: int = 0
    edit_rounds_skipped: int = 0
    edits: list[Edit] = field(default_factory=list)
    platform_clears: int = 0  # platform edits that cleared a field (of `edits`)
    app_clears: int = 0  # app edits that cleared a field, on connections that send clearings (of `edits`)
    added_app: dict[str, list[str]] = field(default_factory=dict)  # tenant -> app ids
    added_names: dict[str, Counter[str]] = field(default_factory=dict)  # tenant -> names expected once more
    dialects: dict[str, str] = field(default_factory=dict)  # tenant -> its profile (`profiles.PROFILES`)


def check(datas: list[TenantData], tally: Tally) -> dict[str, Any]:
    """The invariants, with examples of what broke them."""
    statuses = runs_by_status()
    unfinished = sum(statuses.get(s, 0) for s in ACTIVE_RUN_STATES)
    dup_total = lost_total = missing_total = 0
    stale_edits = 0
    for t, data in enumerate(datas):
        tenant = f"t{t}"
        platform = read_platform(tenant)
        expected = data.expected_names() + tally.added_names[tenant]
        dups, examples = duplicates(platform, expected)
        dup_total += dups
        if dups:
            say(f"{tenant}: {dups} duplicate(s) on the platform, e.g. {examples}")
        # A field the platform keeps for itself (its nature, `ignored_on_write`) cannot agree: the app keeps its
        # own value (checked with the newest edits below), the platform its.
        ignored = frozenset(PROFILES[tally.dialects.get(tenant, "merge")].nature.get("ignored_on_write", ()))
        pairs = linked_pairs(tenant, platform)
        bad = disagreeing([replace(p, written=p.written - ignored) for p in pairs])
        lost_total += len(bad)
        for pair, fields in bad[:5]:
            diff = {f: {"app": pair.app.get(f), "platform": (pair.platform or {}).get(f)} for f in fields}
            say(f"{tenant}: linked pair {pair.app_id} / {pair.remote_id} disagrees: {json.dumps(diff)}")
        by_id = {p.app_contact_id: p for p in pairs}
        newest: dict[int, Edit] = {}
        for e in tally.edits:
            if e.tenant == tenant and (e.app_contact_id not in newest or e.at >= newest[e.app_contact_id].at):
                newest[e.app_contact_id] = e
        for app_contact_id, e in newest.items():
            pair = by_id.get(app_contact_id)
            if pair is None or pair.platform is None:
                continue
            platform_holds = (e.side == "app" and e.field in ignored) or _holds(pair.platform, e.field, e.value)
            if not _holds(pair.app, e.field, e.value) or not platform_holds:
                stale_edits += 1
                if stale_edits <= 5:
                    say(
                        f"{tenant}: newest edit lost on {pair.app_id} / {pair.remote_id}: {e.side} set {e.field} to "
                        f"{e.value!r}; app has {pair.app.get(e.field)!r}, platform {pair.platform.get(e.field)!r}"
                    )
                    for h in tally.edits:
                        if h.tenant == tenant and h.app_contact_id == app_contact_id:
                            stamp = datetime.fromtimestamp(h.at, UTC).isoformat()
                            say(f"    edit at {stamp}: {h.side} {h.field} = {h.value!r}")
                    for line in _trace(tenant, app_contact_id):
                        say("    " + line)
        with db.session() as s:
            linked_app_ids = set(
                s.scalars(
                    select(AppContact.app_id)
                    .join(Link, Link.app_contact_id == AppContact.id)
                    .where(AppContact.tenant_id == tenant)
                )
            )
        missing = [a for a in tally.added_app[tenant] if a not in linked_app_ids]
        missing_total += len(missing)
        if missing:
            say(f"{tenant}: {len(missing)} added app contact(s) never reached the platform, e.g. {missing[:5]}")
    failures = _failed_runs()
    for line in failures:
        say(f"a run failed (allowed; its reason): {line}")
    return {
        "runs": dict(statuses),
        "failed_run_reasons": failures,
        "partial_run_write_errors": _write_errors(),
        "walk_restarts": _walk_restarts(),
        "unfinished_runs": unfinished,
        "duplicates": dup_total,
        "lost": lost_total + stale_edits + missing_total,
        "disagreeing_pairs": lost_total,
        "newest_edits_lost": stale_edits,
        "added_app_contacts_not_synced": missing_total,
    }


def _holds(side: dict[str, Any], field: str, value: Any) -> bool:
    """The side holds the edit's value, as written or in its own form of it (`sync.alike`: a platform that
    keeps phone numbers in E.164 shows the app's "+49 30 1234567" as "+49301234567"; one that keeps no phone
    types shows the lines without them, and an app takes such lines in untyped)."""
    return side.get(field) == value or agrees(field, {field: value}, side)


def _failed_runs(limit: int = 5) -> list[str]:
    """The reasons of the runs that ended `failed`, the commonest first. A failed run breaks no invariant (the next
    run starts afresh), but a soak's count of them says nothing about why without its reasons."""
    with db.session() as s:
        reasons = Counter(
            f"{run.kind} run: {(run.error or '')[:300]}"
            for run in s.scalars(select(SyncRun).where(SyncRun.status == "failed"))
        )
    return [f"{n} x {reason}" for reason, n in reasons.most_common(limit)]


def _walk_restarts() -> int:
    """How many times the runs' walks went back over rows they had read (refused cursors, rows that moved)."""
    with db.session() as s:
        return int(s.scalar(select(func.coalesce(func.sum(SyncRun.walk_restarts), 0))) or 0)


def _write_errors(limit: int = 5) -> list[str]:
    """Why ledger entries are still failed or parked after the settling runs (what left a run `partial` and no
    later run finished), the commonest first, digits dropped so that one cause counts once."""
    with db.session() as s:
        reasons = Counter(
            f"{op.kind} {op.status}: {re.sub(r'[0-9]+', 'N', (op.last_error or '')[:200])}"
            for op in s.scalars(select(WriteOp).where(WriteOp.status.in_((WriteState.FAILED, WriteState.PARKED))))
        )
    return [f"{n} x {reason}" for reason, n in reasons.most_common(limit)]


def _trace(tenant: str, app_contact_id: int) -> list[str]:
    """What contactsync holds about a pair whose newest edit was lost, so that a failure read from a CI log alone
    can be explained: the link, both sides' clocks, the ledger entries of the app contact and the tenant's runs."""
    lines: list[str] = []
    with db.session() as s:
        link = s.scalar(select(Link).where(Link.app_contact_id == app_contact_id))
        app = s.get(AppContact, app_contact_id)
        if link is not None:
            lines.append(f"link: method={link.method} basis={link.basis} created={link.created_at.isoformat()} "
                         f"updated={link.updated_at.isoformat()} baseline={json.dumps(link.baseline)}")  # fmt: skip
            remote = s.get(RemoteContact, link.remote_contact_id)
            if remote is not None:
                lines.append(f"platform mirror: remote_updated_at={remote.remote_updated_at} "
                             f"modified_at={remote.modified_at} last_seen_at={remote.last_seen_at}")  # fmt: skip
        if app is not None:
            lines.append(f"app: edited_at={app.edited_at} updated_at={app.updated_at} version={app.version} "
                         f"taken_in={json.dumps(app.taken_in)} "
                         f"edited_fields={json.dumps(app.edited_fields)}")  # fmt: skip
        for op in s.scalars(select(WriteOp).where(WriteOp.app_contact_id == app_contact_id).order_by(WriteOp.id)):
            changes = op.payload.get("changes") if op.kind == "update" else None
            lines.append(f"ledger {op.id}: run {op.run_id} {op.kind} {op.status} attempts={op.attempts} "
                         f"created={op.created_at.isoformat()} first_sent={op.first_sent_at} "
                         f"updated={op.updated_at.isoformat()} changes={json.dumps(changes)}")  # fmt: skip
        for run in s.scalars(select(SyncRun).where(SyncRun.tenant_id == tenant).order_by(SyncRun.id)):
            lines.append(f"run {run.id}: {run.kind} {run.status} {run.started_at.isoformat()} -> "
                         f"{run.finished_at.isoformat() if run.finished_at else None}")  # fmt: skip
    return lines
