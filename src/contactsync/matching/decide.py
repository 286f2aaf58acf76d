"""From scored pairs to decisions: one-to-one, globally by score, with ambiguity sent to a person.

Thresholds are in bits of evidence (see `compare`) and there are three (defaults here, per tenant in `Model`):

- `LINK_WEIGHT` (12 bits, odds of about 4000:1 before the prior): enough for, e.g., an identical name plus a
  matching postcode and city, or a shared valid VAT id alone; not enough for a name alone.
- `REVIEW_WEIGHT` (6 bits): worth a person's look.
- `MARGIN` (4 bits, 16 times more likely): how far a link must be ahead of the best competing candidate on
  either side. Two near-equal candidates (a duplicate in the books, a remote duplicate) go to review.

A pair `compare` capped (two valid tax ids that differ, a distinguishing word) is never linked: it goes to
review if it would otherwise have been taken.

Pairs are taken greedily by descending weight, ties broken by ids, so the outcome does not depend on input
order. Greedy by weight is the usual choice for record linkage: it never lets a weak pair block a strong
one, and it is near-linear, where an optimal assignment would cost cubic time for little gain since close
contests are sent to review anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import exp2

from contactsync.matching.model import DEFAULT_MODEL, Model

# The defaults; a tenant's `Model` may move them (see `learn`).
LINK_WEIGHT = DEFAULT_MODEL.link_weight
REVIEW_WEIGHT = DEFAULT_MODEL.review_weight
MARGIN = DEFAULT_MODEL.margin
# Prior odds that a blocked candidate pair is a match, in bits; only used to express weights as a
# probability-like score in [0, 1] for people and CSV files. Decisions are taken on the weights.
PRIOR_BITS = -6.0
# A left record whose best candidate is ambiguous shows at most this many candidates for review.
MAX_REVIEW_CANDIDATES = 3


def probability(weight: float) -> float:
    """The weight as a posterior probability under the fixed prior."""
    return 1.0 / (1.0 + exp2(-(weight + PRIOR_BITS)))


@dataclass(frozen=True, slots=True)
class Outcome:
    left: int
    right: int
    weight: float
    decision: str  # "link" or "review"
    runner_up: float | None  # best competing weight on either side, None if there was none
    reason: str


Pair = tuple[int, int, float, str]
"""(left index, right index, weight, cap); cap is "" for a pair that may be linked, else why it may not."""


def _top_two(pairs: Iterable[Pair]) -> tuple[dict[int, list[tuple[float, int]]], ...]:
    best_left: dict[int, list[tuple[float, int]]] = {}
    best_right: dict[int, list[tuple[float, int]]] = {}
    for li, ri, w, _ in pairs:
        for table, node, other in ((best_left, li, ri), (best_right, ri, li)):
            top = table.get(node)
            if top is None:
                table[node] = [(w, other)]
            else:
                top.append((w, other))
                top.sort(reverse=True)
                del top[2:]
    return best_left, best_right


def _competitor(top: list[tuple[float, int]] | None, partner: int) -> float | None:
    if not top:
        return None
    for w, other in top:
        if other != partner:
            return w
    return None


def resolve(
    pairs: list[Pair],
    left_ids: list[str],
    right_ids: list[str],
    model: Model = DEFAULT_MODEL,
) -> list[Outcome]:
    """Decide links and reviews for scored pairs given as (left index, right index, weight, cap)."""
    link_weight, margin = model.link_weight, model.margin
    kept = [p for p in pairs if p[2] >= model.review_weight]
    best_left, best_right = _top_two(kept)
    kept.sort(key=lambda p: (-p[2], left_ids[p[0]], right_ids[p[1]]))
    used_left: set[int] = set()
    used_right: set[int] = set()
    outcomes: list[Outcome] = []
    for li, ri, w, cap in kept:
        if li in used_left or ri in used_right:
            continue
        used_left.add(li)
        used_right.add(ri)
        rivals = [c for c in (_competitor(best_left.get(li), ri), _competitor(best_right.get(ri), li)) if c is not None]
        runner = max(rivals) if rivals else None
        if cap:
            outcomes.append(Outcome(li, ri, w, "review", runner, f"review at most: {cap}"))
        elif w >= link_weight and (runner is None or w - runner >= margin):
            outcomes.append(Outcome(li, ri, w, "link", runner, "strong evidence, clearly ahead"))
        elif w >= link_weight:
            outcomes.append(Outcome(li, ri, w, "review", runner, "ambiguous: a close competing candidate"))
        else:
            outcomes.append(Outcome(li, ri, w, "review", runner, "some evidence, not enough to link"))
    # Show a person the close alternatives of an ambiguous left record, and the candidates of a left record
    # that lost every candidate to reviews of others, unless those candidates are linked elsewhere.
    linked = {o.right for o in outcomes if o.decision == "link"}
    assigned = {o.left: o for o in outcomes}
    shown: dict[int, int] = {}
    best: dict[int, float] = {}
    for li, ri, w, _ in kept:
        best.setdefault(li, w)
        o = assigned.get(li)
        if o is not None and (o.decision == "link" or not o.reason.startswith("ambiguous") or ri == o.right):
            continue
        if ri in linked or w < best[li] - margin:
            continue
        count = shown.get(li, 1 if o is not None else 0)
        if count >= MAX_REVIEW_CANDIDATES:
            continue
        shown[li] = count + 1
        outcomes.append(Outcome(li, ri, w, "review", best[li], "alternative among close candidates"))
    return outcomes
