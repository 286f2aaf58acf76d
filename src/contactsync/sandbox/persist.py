"""Saving a sandbox's books to a JSON file and loading them back.

The demo keeps its sandbox state under the data dir so that a second run meets the very same books (same remote
ids, same contents) and can show that nothing is created twice. Broken payloads and webhooks are test fixtures,
not books, and are not kept.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from contactsync.contact import CanonicalContact
from contactsync.sandbox.faults import Faults
from contactsync.sandbox.state import Account, SandboxState, StoredContact

FORMAT = 1


def save_state(state: SandboxState, path: Path) -> None:
    accounts = []
    for account in state.accounts():
        with account.lock:
            accounts.append(
                {
                    "token": account.token,
                    "seed": account.seed,
                    "api_key": account.api_key,
                    "rate_limit_per_minute": account.rate_limit_per_minute,
                    "max_concurrent": account.max_concurrent,
                    "idempotency": account.idempotency,
                    "unique_names": account.unique_names,
                    "company_id": account.company_id,
                    "faults": asdict(account.faults),
                    "clock": account._clock.isoformat(),
                    "seq": account._seq,
                    "creates": account.creates,
                    "contacts": [
                        {
                            "id": s.id,
                            "platform_id": s.platform_id,
                            "seq": s.seq,
                            "contact": s.contact.model_dump(mode="json"),
                            "created_at": s.created_at.isoformat(),
                            "modified_at": s.modified_at.isoformat(),
                            "remote_updated_at": s.remote_updated_at.isoformat(),
                            "deleted": s.deleted,
                        }
                        for s in account.ordered()
                        if s.broken is None
                    ],
                }
            )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "accounts": accounts}))
    tmp.replace(path)


def load_state(path: Path, state: SandboxState) -> SandboxState:
    """The accounts saved at `path`, loaded into `state` (empty, with its listeners: see `sandbox.app.new_state`)."""
    data: dict[str, Any] = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown sandbox state format {data.get('format')!r}")
    for spec in data["accounts"]:
        account = Account(
            token=spec["token"],
            seed=spec["seed"],
            api_key=spec["api_key"],
            rate_limit_per_minute=spec["rate_limit_per_minute"],
            max_concurrent=spec.get("max_concurrent"),  # absent from files saved before it existed
            idempotency=spec["idempotency"],
            unique_names=spec["unique_names"],
            company_id=spec["company_id"],
            faults=Faults(**spec["faults"]),
            rng=random.Random(f"{spec['token']}:{spec['seed']}"),
        )
        account._clock = datetime.fromisoformat(spec["clock"])
        account._seq = spec["seq"]
        account.creates = spec["creates"]
        for row in spec["contacts"]:
            account.contacts[row["id"]] = StoredContact(
                id=row["id"],
                platform_id=row["platform_id"],
                seq=row["seq"],
                contact=CanonicalContact.model_validate(row["contact"]),
                created_at=datetime.fromisoformat(row["created_at"]),
                modified_at=datetime.fromisoformat(row["modified_at"]),
                remote_updated_at=datetime.fromisoformat(row["remote_updated_at"]),
                deleted=row["deleted"],
            )
        account.listeners.extend(state.listeners)
        with state._lock:
            state._accounts[account.token] = account
    return state
