"""Learning from review decisions: a person's "same" / "not the same" re-fits the tenant's model.

Every decided candidate pair is a labelled example, stored with the comparison levels it had (its *kind*:
"surname close, given name initial, same street and postcode" is one kind). Two things are re-fitted:

- kinds: once a kind of pair has been decided often enough and (nearly) always the same way, pairs of that
  kind are decided that way without asking again: linked (if no other rule, such as two valid tax ids
  that differ, forbids it) or left apart;
- the link threshold: if every labelled pair from some weight upwards was a match, the threshold comes
  down to that weight (never below the review threshold, never by more than `MAX_LINK_DROP` bits), so
  that a tenant whose data is cleaner than the defaults assume gets fewer questions.

The fit is plain counting over a few hundred labels, deliberately conservative (Laplace-smoothed, with a
minimum support); it needs no library, and its output is a `Model` the pipeline and the batch path use alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from contactsync.matching.model import DEFAULT_MODEL, Model, kind

MIN_SUPPORT = 5  # decisions of one kind before the kind is decided without asking
MIN_AGREEMENT = 0.95  # smoothed share of one answer among them
MAX_LINK_DROP = 3.0  # bits the link threshold may come down by


@dataclass(frozen=True, slots=True)
class Label:
    """One decided candidate pair: its comparison levels, its weight under the model of the time, the answer."""

    levels: tuple[str, ...]
    weight: float
    same: bool


def fit(labels: Sequence[Label], base: Model = DEFAULT_MODEL) -> Model:
    """The tenant's model re-fitted from its labels (see the module docstring)."""
    counts: dict[str, list[int]] = {}
    for lab in labels:
        c = counts.setdefault(kind(lab.levels), [0, 0])
        c[0 if lab.same else 1] += 1
    learned: dict[str, str] = {}
    for k, (same, apart) in counts.items():
        n = same + apart
        if n < MIN_SUPPORT:
            continue
        if (same + 0.5) / (n + 1) >= MIN_AGREEMENT - 0.5 / (n + 1) and apart == 0:
            learned[k] = "link"
        elif (apart + 0.5) / (n + 1) >= MIN_AGREEMENT - 0.5 / (n + 1) and same == 0:
            learned[k] = "apart"
    link_weight = base.link_weight
    ordered = sorted(labels, key=lambda lab: -lab.weight)
    # The lowest weight above which every labelled pair was a match, with enough of them to trust it.
    seen = 0
    for lab in ordered:
        if lab.weight >= base.link_weight:
            continue
        if not lab.same:
            break
        seen += 1
        if seen >= MIN_SUPPORT * 3:
            link_weight = max(lab.weight, base.link_weight - MAX_LINK_DROP, base.review_weight)
    return replace(base, learned={**base.learned, **learned}, link_weight=link_weight)
