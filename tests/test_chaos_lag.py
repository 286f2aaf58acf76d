"""Chaos with a platform that behaves like real unified APIs: created contacts show in lists only seconds later
(stamped then), list filters are ignored, answers are dropped after commit, 5xx before and after commit, two workers
are SIGKILLed at random moments, a namesake (same name, other city, its own tax id) of app-only contacts sits on
the platform, and the platform hands every text back decomposed (NFD) and without zero-width characters, so the
echo of a lost create is not the string that was sent. Afterwards, once later runs have settled the parked
creates: every app-only contact is on the platform exactly once, no namesake was adopted or touched, nothing is
duplicated."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from contactsync import db
from contactsync.contact import Address, CanonicalContact
from contactsync.models import Link, RemoteContact, WriteOp
from contactsync.store.reconcile import review_candidate_ids
from contactsync.tasks.schedule import trigger_sync
from tests.conftest import Workers
from tests.pipeline import kill_worker, platform_contacts, setup_tenant, sync_until_settled

pytestmark = pytest.mark.pipeline

LAG_MS = 2500
FAULTS: dict[str, Any] = {
    "visibility_lag_ms": LAG_MS,
    "ignore_filters": True,
    "drop_after_commit_rate": 0.15,
    "error_after_commit_rate": 0.05,
    "error_rate": 0.03,
    "latency_ms": 5,
}
# Texts as a platform that stores its own Unicode form hands them back (see `sandbox.variants`).
VARIANT: dict[str, Any] = {"text_form": "nfd", "text_invisible": "dropped"}


def _namesake(contact: CanonicalContact, n: int) -> CanonicalContact:
    return contact.model_copy(
        update={
            "tax_number": f"DE{100000000 + n * 7919}",
            "emails": (f"office{n}@elsewhere-{n}.example",),
            "addresses": (Address(street_1=f"Andere Str. {n}", city="Elsewhere", postal_code="99999", country="DE"),),
        }
    )


def _kill_when_sent(victim: Any, sent_at_least: int) -> None:
    """SIGKILL a worker (and its pool) once that many ledger entries have left `pending`, or after 60 s."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with db.session() as s:
            sent = s.scalar(select(func.count()).select_from(WriteOp).where(WriteOp.status != "pending"))
        if sent and sent >= sent_at_least:
            break
        time.sleep(0.05)
    kill_worker(victim)


def _key(row: dict[str, Any]) -> tuple[str, str]:
    return row["name"].casefold(), row.get("tax_number") or ""


def test_lag_ignored_filters_lost_answers_kills_and_namesakes(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    from contactsync.demo import split_companies
    from contactsync.sandbox.seed import companies

    seed = 71
    split = split_companies(companies(seed, 280))
    remote_names = {c.name.casefold() for c in split.remote}
    app_only = [c for _a, c in split.app if c.name.casefold() not in remote_names]
    namesakes = [_namesake(c, n) for n, c in enumerate(app_only[:20])]
    workers.env["CONTACTSYNC_STALE_RUN_SECONDS"] = "5"
    _split, token = setup_tenant(
        sandbox,
        size=280,
        seed=seed,
        faults=FAULTS,
        options={"visibility_lag_seconds": LAG_MS / 1000 + 1.5},
        extra_remote=namesakes,
        variant=VARIANT,
    )
    before = {r["remote_id"]: r for r in platform_contacts(sandbox, token)}
    namesake_keys = {(n.name.casefold(), n.tax_number or "") for n in namesakes}
    namesake_ids = {rid for rid, r in before.items() if _key(r) in namesake_keys}
    assert len(namesake_ids) == len(namesakes)

    first, second = workers.start(2, concurrency=2)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    # Two SIGKILLs at random moments of the writing stage, each worker replaced by a fresh one.
    dice = random.Random(seed)
    _kill_when_sent(first, dice.randint(3, 30))
    workers.start(1)
    _kill_when_sent(second, dice.randint(35, 60))
    workers.start(1)

    runs = sync_until_settled(run_id, workers, redrive=True, max_runs=10)
    assert runs[-1].status == "succeeded", [(r.id, r.status, r.error) for r in runs]
    with db.session() as s:
        adopted = s.scalars(select(Link.explanation).where(Link.method == "created")).all()
    # The faults bit: some creates lost their answer and were resolved by evidence (a look-up or a walk).
    assert any(e.get("adopted_after_lost_response") for e in adopted)

    rows = platform_contacts(sandbox, token)
    copies = Counter(_key(r) for r in rows)
    with db.session() as s:
        in_review = review_candidate_ids(s, "t1")
        open_creates = s.scalar(
            select(func.count()).select_from(WriteOp).where(WriteOp.status.in_(("parked", "uncertain", "pending")))
        )
        adopted_namesakes = s.scalars(
            select(RemoteContact.remote_id).join(Link).where(RemoteContact.remote_id.in_(namesake_ids))
        ).all()
    assert open_creates == 0
    # Every app-only contact exactly once (none is waiting in review in this data, but one would be allowed).
    waiting = 0
    for contact in app_only:
        n = copies[(contact.name.casefold(), contact.tax_number or "")]
        waiting += n == 0
        assert n == 1 or (n == 0 and in_review), f"{contact.name!r} is on the platform {n} times"
    # No namesake adopted, none changed; nothing duplicated anywhere.
    assert adopted_namesakes == []
    after = {r["remote_id"]: r for r in rows}
    assert all(after[rid] == before[rid] for rid in namesake_ids)
    assert max(copies.values()) == 1
    assert len(rows) == len(split.remote) + len(namesakes) + len(app_only) - waiting
