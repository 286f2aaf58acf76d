"""Unsupervised calibration: the level weights re-estimated on one tenant's data by EM, as Splink does.

The default weights are set from what the fields mean; a tenant's data may differ (postcodes that are
always filled in, towns that are always misspelt, books full of people rather than companies). Given the
comparison levels of the candidate pairs blocking produced and of random pairs (counted by pattern, so a
batch sends counts, not pairs), u (how often a level occurs between different contacts) is read off the
random pairs and expectation-maximisation estimates m (how often it occurs between records of the same
contact) and the share of matches among the candidates (lambda), under the usual assumption that fields are
independent given match status (Fellegi-Sunter). A level's weight becomes log2(m / u).

The candidate pairs that lose to a better candidate of their own record (`scoring.candidate_patterns`) are
given to EM as known non-matches: a contact has one counterpart at most, so they are namesakes, household
members and neighbours. Left to EM, its match class absorbed a growing share of them as the tenant grew
(denser towns, more candidates per record), which lowered the agreement weights of true pairs while the
link threshold rose with the app side's size: review of calibrated person books grew from 3.6% at 10k to
5.2% at 100k (BENCHMARKS.md, "Matching"). u stays read off random pairs: taken from the losers too, the name
levels, which blocking already selected for, lost nearly all their weight and people who moved were lost.

What EM is not trusted with:

- the rules that stand for legal facts keep their default weights: two valid tax ids that differ, two
  different countries, the distinguishing words (too rare in any tenant's data to estimate), and different
  given names or surnames (EM counts households at one address as matches and would weaken them); the
  legal form's agreement too, which among namesakes goes with the name's (fitted, it counted twice);
- each weight moves at most `MAX_SHIFT` bits from its default, and a level seen fewer than `MIN_COUNT`
  times keeps its default, so a small or odd tenant cannot talk the model into something absurd;
- the thresholds keep their meaning as posterior odds (see `calibrated`).

Hand-written rather than taken from Splink, which would bring DuckDB and pandas into the pipeline for a
loop of a few dozen lines over a few thousand patterns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from math import log2

from contactsync.matching.decide import PRIOR_BITS
from contactsync.matching.model import DEFAULT_WEIGHTS, FREQUENCY_LEVELS, LEVELS_BY_FIELD, Model

FIXED = frozenset(
    {
        "tax:contradiction",
        "country:different",
        "distinct:listed",
        "distinct:other",
        "given:different",
        "surname:different",
        "legal:same",
        "legal:different",
    }
)
MAX_SHIFT = 8.0
MIN_COUNT = 20
MIN_PAIRS = 1000  # fewer candidate or random pairs than this: too little to fit anything, keep the defaults
ITERATIONS = 25
_PSEUDO = 0.5


def _field(level: str) -> str:
    return level.partition(":")[0]


def _levels_by_field(patterns: Mapping[tuple[str, ...], int]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for p, c in patterns.items():
        for level in p:
            out.setdefault(_field(level), Counter())[level] += c
    return out


def estimate(
    patterns: Mapping[tuple[str, ...], int],
    random_patterns: Mapping[tuple[str, ...], int],
    base: Model,
    losers: Mapping[tuple[str, ...], int] | None = None,
) -> tuple[Model, float]:
    """The model with fitted level weights, and the estimated share of matches among candidate pairs.

    `losers` (a part of `patterns`' counts) are known non-matches: they count towards the candidates but
    never towards the match class.

    As in Splink, u (how often a level occurs between two different contacts) comes from random pairs,
    which are almost all non-matches (`random_patterns`), and only m and lambda are estimated by EM over
    the candidate pairs (`patterns`): estimating u by EM as well lets the latent class settle on whatever
    the blocking favours (everyone at one address) instead of on "same contact".
    """
    if sum(patterns.values()) < MIN_PAIRS or sum(random_patterns.values()) < MIN_PAIRS:
        return base, 0.0
    u_by_field = _levels_by_field(random_patterns)
    u: dict[str, float] = {}
    for f, counts in u_by_field.items():
        n = sum(counts.values())
        for level in LEVELS_BY_FIELD.get(f, ()):
            u[level] = (counts[level] + _PSEUDO) / (n + _PSEUDO * len(LEVELS_BY_FIELD[f]))
    # Sorted, so that the floating-point sums do not depend on the order in which workers' counts arrived.
    known = losers or {}
    items = sorted((p, c, c - known.get(p, 0)) for p, c in patterns.items() if c > 0)
    seen: Counter[str] = Counter()
    for p, c, _ in items:
        for level in p:
            seen[level] += c
    weights = dict(base.weights)
    lam = 0.3
    for _ in range(ITERATIONS):
        m_num: Counter[str] = Counter()
        m_field: Counter[str] = Counter()
        matches = 0.0
        total = 0.0
        prior = log2(lam / (1 - lam))
        for p, c, free in items:
            total += c
            if not free:
                continue
            odds = prior + sum(weights[level] for level in p)
            post = 1.0 / (1.0 + 2.0 ** (-max(-60.0, min(60.0, odds))))
            matches += post * free
            for level in p:
                m_num[level] += post * free
                m_field[_field(level)] += post * free
        lam = min(0.99, max(0.001, matches / total))
        for level, n in seen.items():
            if level in FIXED or n < MIN_COUNT or level not in u:
                continue
            f = _field(level)
            m = (m_num[level] + _PSEUDO) / (m_field[f] + _PSEUDO * len(LEVELS_BY_FIELD[f]))
            default = DEFAULT_WEIGHTS[level]
            weights[level] = max(default - MAX_SHIFT, min(default + MAX_SHIFT, log2(m / u[level])))
    # The exact name levels' u, the reference of the weights' adjustment for how common a name is.
    name_u = {level: u[level] for level in FREQUENCY_LEVELS if u_by_field.get(_field(level), Counter())[level]}
    return replace(base, weights=weights, name_u=name_u), lam


def token_counts(token_lists: Iterable[tuple[str, ...]]) -> Counter[str]:
    """How many records hold each name word (each record counted once per word)."""
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(set(tokens))
    return counts


def calibrated(
    patterns: Mapping[tuple[str, ...], int],
    losers: Mapping[tuple[str, ...], int],
    random_patterns: Mapping[tuple[str, ...], int],
    counts: Mapping[str, int],
    sampled_left: int,
    n_right: int,
    base: Model,
) -> Model:
    """`base` with fitted weights, thresholds moved to their scale, and the right side's word counts
    (`losers`: the candidate pairs known to be non-matches, see `estimate`).

    The default weights measure evidence against a *candidate* pair, with a prior of `PRIOR_BITS`; fitted
    weights measure it against a *random* pair, whose prior is far lower (about one in the size of the right
    side). The thresholds keep their meaning as posterior odds: link at the default's posterior, review at
    the default's, both under the fitted prior (`sampled_left` left records' `patterns` were counted).
    """
    model, lam = estimate(patterns, random_patterns, base, losers)
    if lam <= 0.0 or not sampled_left or not n_right:
        return base  # too little to fit: the defaults, exactly (word counts included), as without calibration
    candidates = sum(patterns.values())
    prior = lam * candidates / (sampled_left * n_right)
    prior_bits = log2(prior / (1 - prior))
    shift = PRIOR_BITS - prior_bits
    return replace(
        model,
        link_weight=base.link_weight + shift,
        review_weight=base.review_weight + shift,
        token_counts=dict(counts),
        records=n_right,
    )
