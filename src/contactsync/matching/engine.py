"""Deciding links (first cut: an exact key in common is a link)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from contactsync.matching.keys import blocking_keys
from contactsync.matching.record import MatchRecord


@dataclass(frozen=True, slots=True)
class Decision:
    left_id: str
    right_id: str
    score: float
    decision: Literal["link", "review"]
    explanation: dict[str, float | str] = field(default_factory=dict)


def match_candidates(left: Sequence[MatchRecord], right: Sequence[MatchRecord]) -> list[Decision]:
    by_key: dict[str, list[MatchRecord]] = {}
    for rec in right:
        for key in blocking_keys(rec):
            by_key.setdefault(key, []).append(rec)
    out: list[Decision] = []
    used: set[str] = set()
    for rec in left:
        hits = {r.id: r for key in blocking_keys(rec) for r in by_key.get(key, []) if r.id not in used}
        if len(hits) == 1:
            (rid,) = hits
            used.add(rid)
            out.append(Decision(rec.id, rid, 1.0, "link", {"method": "exact"}))
    return out
