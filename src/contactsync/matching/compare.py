"""Field comparisons and their evidence weights, summed into one score.

Each field contributes a weight in bits: roughly log2 of how much more often we would see this agreement (or
disagreement) between two records of the same company than between two different companies that happen to
be candidates of each other (Fellegi-Sunter). The values are set from what the fields mean, not fitted to a
data set:

- a shared *valid* tax id is near-proof (+14); two valid ids of the same kind that differ are proof of two
  legal entities (-25), which outweighs any name, address or email agreement;
- different countries mean different legal entities (-12), even under the same brand;
- a shared email address or phone line is strong (+7..+9) but not proof (a bookkeeper's mailbox, a
  franchise switchboard); a shared corporate email domain is moderate (+4), a shared free-mail domain nothing;
- the name carries up to +7 when identical after normalisation, less when short, and turns into evidence
  against as similarity drops;
- address parts add or subtract a few bits each, because companies move and branches share names.

Missing data on either side contributes nothing: absence of evidence is neither for nor against.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import Indel

from contactsync.matching.normalise.names import legal_family
from contactsync.matching.normalise.taxids import contradicts, same_id
from contactsync.matching.prepared import Prepared

TAX_SAME_VALID = 14.0
TAX_SAME_UNCHECKED = 9.0
TAX_CONTRADICTION = -25.0
TAX_DIFFERENT = -2.0
COUNTRY_DIFFERENT = -12.0
COUNTRY_SAME = 0.5
EMAIL_SAME_CORPORATE = 9.0
EMAIL_SAME_FREE = 7.0
DOMAIN_SAME = 4.0
DOMAIN_DIFFERENT = -2.0
PHONE_SAME = 7.0
PHONE_SAME_UNPARSED = 5.0
PHONE_DIFFERENT = -1.0
LEGAL_SAME = 0.5
LEGAL_DIFFERENT = -1.5
POSTAL_SAME = 3.0
POSTAL_NEARBY = -1.0
POSTAL_DIFFERENT = -3.0
CITY_SAME = 2.0
CITY_DIFFERENT = -3.0
STREET_SAME = 3.0
STREET_SAME_NAME = 1.5
STREET_OTHER_NUMBER = -1.0
STREET_DIFFERENT = -2.0

# Name similarity (0-100) to weight, linear between the points. Identical short names ("ABC") are common
# by chance, so they earn less (`NAME_SHORT_EXACT`).
_NAME_CURVE = (
    (0.0, -8.0),
    (60.0, -6.0),
    (70.0, -3.0),
    (80.0, 1.0),
    (85.0, 3.0),
    (90.0, 4.5),
    (95.0, 6.0),
    (100.0, 7.0),
)
NAME_SHORT_EXACT = 5.0
_SHORT_NAME = 5
# A name that is a subset of the other ("Acme" / "Acme Logistics") is not as good as an equal one.
_SUBSET_PENALTY = 8.0


def _interpolate(x: float) -> float:
    points = _NAME_CURVE
    for (x0, y0), (x1, y1) in pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def name_similarity(a: Prepared, b: Prepared) -> float:
    """0-100: the best of word-order-free, subset-tolerant (penalised) and spacing-free comparisons."""
    if a.core == b.core:
        return 100.0
    sim = Indel.normalized_similarity(a.sorted_core, b.sorted_core) * 100.0
    subset = fuzz.token_set_ratio(a.core, b.core, processor=None) - _SUBSET_PENALTY
    squashed = Indel.normalized_similarity(a.core.replace(" ", ""), b.core.replace(" ", "")) * 100.0
    return max(sim, subset, squashed)


def _ratio(x: str, y: str) -> float:
    return 100.0 if x == y else Indel.normalized_similarity(x, y) * 100.0


def _note(fields: dict[str, Any], field: str, weight: float, **detail: Any) -> None:
    fields[field] = {"weight": round(weight, 2), **detail}


def compare(a: Prepared, b: Prepared, explain: bool = False) -> tuple[float, dict[str, Any] | None]:
    """Total weight of evidence that `a` and `b` are the same company, and optionally the per-field detail.

    Written as one flat function because it runs for every candidate pair of a batch: field lookups and
    string equality first, rapidfuzz only where equality fails.
    """
    total = 0.0
    # Explanations are built only when asked for: in a batch, formatting them for every candidate pair
    # (rounding, sorting, f-strings) costs more than the comparisons themselves.
    fields: dict[str, Any] | None = {} if explain else None

    if a.tokens and b.tokens:
        sim = name_similarity(a, b)
        w = NAME_SHORT_EXACT if sim >= 100.0 and len(a.core) < _SHORT_NAME else _interpolate(sim)
        total += w
        if fields is not None:
            _note(fields, "name", w, left=a.core, right=b.core, similarity=round(sim, 1))
        if a.legal and b.legal:
            w = LEGAL_SAME if legal_family(a.legal) == legal_family(b.legal) else LEGAL_DIFFERENT
            total += w
            if fields is not None:
                _note(fields, "legal_form", w, left=a.legal, right=b.legal)

    if a.tax is not None and b.tax is not None:
        ta, tb = a.tax, b.tax
        if same_id(ta, tb):
            w = TAX_SAME_VALID if ta.valid and tb.valid else TAX_SAME_UNCHECKED
            result = "same"
        elif contradicts(ta, tb):
            w, result = TAX_CONTRADICTION, "different valid ids"
        else:
            w, result = TAX_DIFFERENT, "different"
        total += w
        if fields is not None:
            _note(fields, "tax_id", w, left=ta.canonical, right=tb.canonical, result=result, valid=[ta.valid, tb.valid])

    if a.country and b.country:
        w = COUNTRY_SAME if a.country == b.country else COUNTRY_DIFFERENT
        total += w
        if fields is not None:
            _note(fields, "country", w, left=a.country, right=b.country)

    if a.emails and b.emails:
        shared = [e for e in a.emails if e in b.emails]
        if shared:
            free = all(e.rpartition("@")[2] not in a.domains for e in shared)
            w = EMAIL_SAME_FREE if free else EMAIL_SAME_CORPORATE
            if fields is not None:
                _note(fields, "email", w, result="same address", shared=sorted(shared))
        elif a.domains and b.domains:
            common = [d for d in a.domains if d in b.domains]
            w = DOMAIN_SAME if common else DOMAIN_DIFFERENT
            if fields is not None:
                _note(
                    fields, "email", w, result="same domain" if common else "different domains", shared=sorted(common)
                )
        else:
            w = 0.0
            if fields is not None:
                _note(fields, "email", w, result="different addresses (free mail)")
        total += w

    if a.phones and b.phones:
        shared = [p for p in a.phones if p in b.phones]
        if shared:
            w = PHONE_SAME if any(p.startswith("+") for p in shared) else PHONE_SAME_UNPARSED
        else:
            w = PHONE_DIFFERENT
        total += w
        if fields is not None:
            _note(
                fields,
                "phone",
                w,
                left=sorted(a.phones),
                right=sorted(b.phones),
                result="same" if shared else "different",
            )

    if a.postal and b.postal:
        if a.postal == b.postal:
            w = POSTAL_SAME
        elif a.postal[:2] == b.postal[:2]:
            w = POSTAL_NEARBY
        else:
            w = POSTAL_DIFFERENT
        total += w
        if fields is not None:
            _note(fields, "postal_code", w, left=a.postal, right=b.postal)

    if a.city and b.city:
        if a.city == b.city or a.city.startswith(b.city + " ") or b.city.startswith(a.city + " "):
            sim = 100.0
        else:
            sim = _ratio(a.city, b.city)
        w = CITY_SAME if sim >= 90.0 else (CITY_DIFFERENT if sim < 70.0 else 0.0)
        total += w
        if fields is not None:
            _note(fields, "city", w, left=a.city, right=b.city, similarity=round(sim, 1))

    if a.street and b.street:
        sim = _ratio(a.street, b.street)
        if sim >= 85.0:
            if a.street_number and b.street_number and a.street_number != b.street_number:
                w = STREET_OTHER_NUMBER
            elif a.street_number and b.street_number:
                w = STREET_SAME
            else:
                w = STREET_SAME_NAME
        else:
            w = STREET_DIFFERENT if sim < 60.0 else 0.0
        total += w
        if fields is not None:
            _note(
                fields,
                "street",
                w,
                left=f"{a.street} {a.street_number}".strip(),
                right=f"{b.street} {b.street_number}".strip(),
                similarity=round(sim, 1),
            )

    return total, fields


# The most the name, legal-form and street fields can add together; `score` uses it as a bound.
_MAX_LATE = max(NAME_SHORT_EXACT, *(y for _, y in _NAME_CURVE)) + LEGAL_SAME + STREET_SAME


def score(a: Prepared, b: Prepared, floor: float) -> float:
    """`compare(a, b)[0]` exactly when that is at least `floor`; otherwise some value below `floor`.

    The batch keeps only pairs that reach the review threshold, and most candidate pairs (namesakes, shared
    words) are far below it once the cheap fields are known: a different tax id, city and phone line leave no
    room for the name to matter. So the exact fields come first, and the fuzzy name and street comparisons
    run only when they could still lift the pair to `floor`. The field rules are those of `compare` (a test
    holds the two to the same results), and the weights are summed in `compare`'s order so that the total is
    the same float to the last bit.
    """
    tax_w = 0.0
    if a.tax is not None and b.tax is not None:
        ta, tb = a.tax, b.tax
        if same_id(ta, tb):
            tax_w = TAX_SAME_VALID if ta.valid and tb.valid else TAX_SAME_UNCHECKED
        elif contradicts(ta, tb):
            tax_w = TAX_CONTRADICTION
        else:
            tax_w = TAX_DIFFERENT
    country_w = 0.0
    if a.country and b.country:
        country_w = COUNTRY_SAME if a.country == b.country else COUNTRY_DIFFERENT
    email_w = 0.0
    if a.emails and b.emails:
        shared = [e for e in a.emails if e in b.emails]
        if shared:
            free = all(e.rpartition("@")[2] not in a.domains for e in shared)
            email_w = EMAIL_SAME_FREE if free else EMAIL_SAME_CORPORATE
        elif a.domains and b.domains:
            email_w = DOMAIN_SAME if any(d in b.domains for d in a.domains) else DOMAIN_DIFFERENT
    phone_w = 0.0
    if a.phones and b.phones:
        shared = [p for p in a.phones if p in b.phones]
        if shared:
            phone_w = PHONE_SAME if any(p.startswith("+") for p in shared) else PHONE_SAME_UNPARSED
        else:
            phone_w = PHONE_DIFFERENT
    postal_w = 0.0
    if a.postal and b.postal:
        if a.postal == b.postal:
            postal_w = POSTAL_SAME
        elif a.postal[:2] == b.postal[:2]:
            postal_w = POSTAL_NEARBY
        else:
            postal_w = POSTAL_DIFFERENT
    city_w = 0.0
    if a.city and b.city:
        if a.city == b.city or a.city.startswith(b.city + " ") or b.city.startswith(a.city + " "):
            sim = 100.0
        else:
            sim = _ratio(a.city, b.city)
        city_w = CITY_SAME if sim >= 90.0 else (CITY_DIFFERENT if sim < 70.0 else 0.0)
    bound = tax_w + country_w + email_w + phone_w + postal_w + city_w + _MAX_LATE
    if bound < floor:
        return bound
    name_w = legal_w = 0.0
    if a.tokens and b.tokens:
        sim = name_similarity(a, b)
        name_w = NAME_SHORT_EXACT if sim >= 100.0 and len(a.core) < _SHORT_NAME else _interpolate(sim)
        if a.legal and b.legal:
            legal_w = LEGAL_SAME if legal_family(a.legal) == legal_family(b.legal) else LEGAL_DIFFERENT
    street_w = 0.0
    if a.street and b.street:
        sim = _ratio(a.street, b.street)
        if sim >= 85.0:
            if a.street_number and b.street_number and a.street_number != b.street_number:
                street_w = STREET_OTHER_NUMBER
            elif a.street_number and b.street_number:
                street_w = STREET_SAME
            else:
                street_w = STREET_SAME_NAME
        else:
            street_w = STREET_DIFFERENT if sim < 60.0 else 0.0
    # Adding 0.0 for a missing field leaves a float unchanged, so this is `compare`'s running sum.
    total = 0.0
    total += name_w
    total += legal_w
    total += tax_w
    total += country_w
    total += email_w
    total += phone_w
    total += postal_w
    total += city_w
    total += street_w
    return total
