"""A platform that never stands still: a background mutator per account (admin knob `churn`).

Real books change while a sync walks them — users edit, add and delete contacts every second on a busy tenant.
`{"churn": {"every_ms": 1000, "edit": 3, "add": 1, "delete": 1, "seed": 7}}` makes the sandbox do the same to an
account: every `every_ms` one change, picked by the weights. Edits change the currency only: the row moves (its
change time is new) while everything matching looks at stays, so a test can tell a skipped row from a contact
that simply no longer matches; additions are new companies with names of their own. `{"churn": null}` stops it.
Every change goes through the account's own mutation methods, so it is stamped, ordered and announced
(webhooks) like any other.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from contactsync.sandbox.seed import companies
from contactsync.sandbox.state import Account, UnknownContact, WriteRejected

_OPS = ("edit", "add", "delete")
_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK")


class Churn(threading.Thread):
    def __init__(self, account: Account, spec: dict[str, Any]) -> None:
        super().__init__(name=f"churn-{account.token}", daemon=True)
        unknown = set(spec) - {"every_ms", "seed", *_OPS}
        if unknown:
            raise ValueError(f"unknown churn keys: {sorted(unknown)}")
        self.account = account
        self.every = max(0.01, float(spec.get("every_ms", 1000)) / 1000.0)
        self.weights = [max(0.0, float(spec.get(op, 1 if op == "edit" else 0))) for op in _OPS]
        if not any(self.weights):
            raise ValueError("churn needs a positive weight for edit, add or delete")
        self.rng = random.Random(f"churn:{account.token}:{spec.get('seed', 0)}")
        self.stopped = threading.Event()
        self.changes = 0

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                self._one()
            except (UnknownContact, WriteRejected, IndexError):
                continue  # a contact that went away in the meantime, or nothing left to change

    def _one(self) -> None:
        op = self.rng.choices(_OPS, self.weights)[0]
        live = [s.id for s in self.account.ordered() if not s.deleted and s.broken is None]
        self.changes += 1
        if op == "add" or not live:
            contact = companies(self.rng.randrange(1 << 30), 1)[0]
            name = f"{contact.name} {self.changes}-{self.rng.randrange(10**6)}"
            self.account.mutate_add(contact.model_copy(update={"name": name}))
        elif op == "edit":
            target = self.rng.choice(live)
            self.account.mutate_edit(target, {"currency": self.rng.choice(_CURRENCIES)})
        else:
            self.account.mutate_delete(self.rng.choice(live))

    def stop(self) -> None:
        self.stopped.set()


class ChurnRegistry:
    """The running mutators, one per account token at most."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Churn] = {}

    def apply(self, account: Account, spec: dict[str, Any] | None) -> None:
        """Start (or replace) the account's mutator, or stop it when `spec` is None."""
        churn = Churn(account, spec) if spec is not None else None
        with self._lock:
            old = self._running.pop(account.token, None)
            if churn is not None:
                self._running[account.token] = churn
        if old is not None:
            old.stop()
        if churn is not None:
            churn.start()

    def changes(self, token: str) -> int:
        with self._lock:
            churn = self._running.get(token)
        return churn.changes if churn is not None else 0
