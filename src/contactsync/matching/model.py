"""The matcher's parameters: a weight per comparison level, the decision thresholds, and token rarity.

Every field comparison ends in a named level ("postal:one_off", "given:nickname", ...), and a level's weight
is the evidence in bits (log2 of m/u, Fellegi-Sunter). The defaults below are set from what the fields mean;
`calibrate` re-estimates them for one tenant's data by EM (as Splink does), and `learn` re-fits them and the
thresholds from a tenant's review decisions. A `Model` is a plain frozen value, so the pipeline and the batch
path decide alike when they are given the same one, and it serialises to JSON for storing per tenant.

Some rules are not weights and no fit changes them: two valid, different tax ids of one country, and a
distinguishing word that only one name has (see `compare`), keep a pair from being linked automatically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from math import log, log2
from types import MappingProxyType
from typing import Any

DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "tax:same_valid": 14.0,
        "tax:same_unchecked": 9.0,
        "tax:contradiction": -25.0,
        "tax:different": -2.0,
        "country:same": 0.5,
        "country:different": -12.0,
        "email:same_corporate": 9.0,
        "email:same_free": 7.0,
        "email:domain_same": 4.0,
        "email:domain_different": -2.0,
        "email:free_different": 0.0,
        "phone:same": 7.0,
        "phone:same_unparsed": 5.0,
        "phone:different": -1.0,
        "legal:same": 0.5,
        "legal:different": -1.5,
        "postal:same": 3.0,
        "postal:one_off": 1.0,
        "postal:nearby": -1.0,
        "postal:different": -3.0,
        "city:same": 2.0,
        "city:similar": 1.0,
        "city:other": 0.0,
        "city:different": -3.0,
        "street:same": 3.0,
        "street:same_name": 1.5,
        "street:other_number": -1.0,
        "street:other": 0.0,
        "street:different": -2.0,
        # Street, postcode and town all different (see `compare.MOVED`): what the three weigh together.
        "street:moved": -8.0,
        # Company names by similarity (0-100) of the name cores; identical short names are common by chance.
        "name:exact": 7.0,
        "name:short_exact": 5.0,
        "name:s95": 6.0,
        "name:s90": 4.5,
        "name:s85": 3.0,
        "name:s80": 1.0,
        "name:s70": -3.0,
        "name:s60": -6.0,
        "name:low": -8.0,
        # Person names, part by part (see `persons`).
        "surname:exact": 6.0,
        "surname:close": 4.5,
        "surname:near": 0.5,
        "surname:different": -7.0,
        "given:exact": 4.5,
        "given:nickname": 3.5,
        "given:close": 3.5,
        "given:initial": 1.5,
        "given:missing": -1.5,
        "given:different": -9.0,
        # A word only one company name has; for a listed distinguishing word the pair is also capped at review.
        "distinct:listed": -4.0,
        "distinct:other": -1.5,
    }
)
# How far how common a person's name is may move an exact agreement's weight, in bits (see `frequency_bits`).
# Down further than up: a word seen once on the app side may be a typo that one other record repeats.
FREQUENCY_DOWN = 6.0
FREQUENCY_UP = 0.0
FREQUENCY_LEVELS = ("surname:exact", "given:exact")
LEVELS_BY_FIELD: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        f: tuple(k for k in DEFAULT_WEIGHTS if k.startswith(f + ":"))
        for f in {k.partition(":")[0] for k in DEFAULT_WEIGHTS}
    }
)


@dataclass(frozen=True)
class Model:
    """Weights by level, thresholds in bits, and (optionally) how many records of the tenant hold each name word.

    `link_weight`: enough evidence to link alone; `review_weight`: worth a person's look; `margin`: how far a
    link must be ahead of the best competing candidate on either side.
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    link_weight: float = 12.0
    review_weight: float = 6.0
    margin: float = 4.0
    token_counts: Mapping[str, int] = field(default_factory=dict)
    records: int = 0
    # u (chance agreement between two random records) of the exact person-name levels, as calibration saw it:
    # the reference for `frequency_bits`. Empty: no adjustment (uncalibrated models).
    name_u: Mapping[str, float] = field(default_factory=dict)
    # Kinds of pair (see `kind`) a tenant's reviewers have decided consistently: "link" or "apart".
    learned: Mapping[str, str] = field(default_factory=dict)

    def adjusted(self, levels: Iterable[str], weight: float, cap: str) -> float:
        """The weight after what reviewers taught: a learned "link" kind reaches the link threshold (unless a
        rule caps the pair), a learned "apart" kind drops out of review."""
        if not self.learned:
            return weight
        verdict = self.learned.get(kind(levels))
        if verdict == "link" and not cap:
            return max(weight, self.link_weight)
        if verdict == "apart":
            return min(weight, self.review_weight - 1.0)
        return weight

    @cached_property
    def late_max(self) -> float:
        """The most the name, legal-form and street levels can add together (a bound for early exits)."""
        w = self.weights

        def top(f: str) -> float:
            return max(w[k] for k in LEVELS_BY_FIELD[f])

        person = top("surname") + top("given") + (len(FREQUENCY_LEVELS) * FREQUENCY_UP if self.name_u else 0.0)
        return max(top("name"), person) + top("legal") + top("street")

    @cached_property
    def moved_gain(self) -> float:
        """How much more a move weighs than its parts (postcode and town different, the best street level):
        what an early-exit bound must add when it has counted the parts."""
        w = self.weights
        parts = w["postal:different"] + w["city:different"] + max(w[k] for k in LEVELS_BY_FIELD["street"])
        return max(0.0, w["street:moved"] - parts)

    def frequency_bits(self, level: str, token: str) -> float:
        """How much more (or less) an exact agreement on `token` weighs than the level's average agreement.

        The level's weight is log2(m / u) with u the chance that two random records agree on *some* name;
        for one name that chance is its share of the app side's records (Splink's term-frequency
        adjustment). A namesake of a common name is likely; of a rare one, not: for a person who moved,
        the name is all the evidence there is.
        """
        u = self.name_u.get(level)
        if not u or not self.records:
            return 0.0
        share = max(1, self.token_counts.get(token, 0)) / self.records
        return max(-FREQUENCY_DOWN, min(FREQUENCY_UP, log2(u / share)))

    def rarity(self, token: str) -> float:
        """1 for a word no other record holds, falling towards 0 for a word most records hold; 0.5 if unknown."""
        if not self.records:
            return 0.5
        n = self.token_counts.get(token, 0)
        return max(0.0, 1.0 - log(1 + n) / log(2 + self.records))

    def with_weights(self, weights: Mapping[str, float]) -> Model:
        return replace(self, weights={**self.weights, **weights})

    def to_json(self, with_counts: bool = False) -> dict[str, Any]:
        """The model as JSON; `with_counts` adds the word counts (large: one entry per distinct name word)."""
        counts = {"token_counts": dict(self.token_counts), "records": self.records} if with_counts else {}
        changed = {k: round(v, 4) for k, v in self.weights.items() if DEFAULT_WEIGHTS.get(k) != v}
        return {"weights": changed, "link_weight": self.link_weight, "review_weight": self.review_weight,
                "margin": self.margin, "learned": dict(self.learned), "name_u": dict(self.name_u),
                **counts}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Model:
        return cls(
            weights={**DEFAULT_WEIGHTS, **{k: float(v) for k, v in data.get("weights", {}).items()}},
            link_weight=float(data.get("link_weight", 12.0)),
            review_weight=float(data.get("review_weight", 6.0)),
            margin=float(data.get("margin", 4.0)),
            learned={str(k): str(v) for k, v in data.get("learned", {}).items()},
            name_u={str(k): float(v) for k, v in data.get("name_u", {}).items()},
            token_counts={str(k): int(v) for k, v in data.get("token_counts", {}).items()},
            records=int(data.get("records", 0)),
        )


def kind(levels: Iterable[str]) -> str:
    """The kind of a pair: its comparison levels, order-free, as one string (the key of `Model.learned`)."""
    return "|".join(sorted(levels))


DEFAULT_MODEL = Model()
