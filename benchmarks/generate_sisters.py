"""Sister companies at one address: an operating company and its holding, management or service company.

"Glaser GmbH" and "Glaser Holding GmbH", "Niederl & Walcher GmbH" and "Niederl & Walcher Verwaltungs GmbH":
two legal entities registered at the same street address, often with the same switchboard and email domain.
Half of the sisters show their own valid VAT id (two valid ids that differ), half show none, so that the
distinguishing word is the only evidence. Each sister lands in one of three places:

- on the left only: a hard negative next to the operating company's true pair;
- on both sides: a true pair of its own, which must not be confused with the operating company's;
- on the right only: the operating company's left copy must not link to it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

DISTINGUISHING = {
    "de": ["Holding", "Verwaltungs", "Verwaltung", "Beteiligungs", "Beteiligungen", "Management", "Services",
           "Logistik", "Immobilien", "Properties", "Trading", "International", "Nord", "Süd", "West", "Ost",
           "Bayern", "Sachsen", "Rheinland"],
    "en": ["Holding", "Holdings", "Management", "Services", "Logistics", "Properties", "Trading", "International",
           "North", "South", "Midlands", "Scotland", "East Coast", "Europe"],
    "fr": ["Holding", "Gestion", "Services", "Logistique", "Immobilier", "International", "Nord", "Sud", "Est"],
    "nl": ["Holding", "Beheer", "Management", "Services", "Logistiek", "Vastgoed", "International", "Noord", "Zuid"],
}  # fmt: skip


def add_sister(
    g: Any, c: Any, left_rows: list[dict[str, str]], right_rows: list[dict[str, str]], truth: list[tuple[str, str]]
) -> None:
    """Add a sister of company `c` (a `generate.Company`) at the same address, placed as described above."""
    rng = g.rng
    lang = {"DE": "de", "AT": "de", "CH": "de", "GB": "en", "US": "en", "FR": "fr", "NL": "nl"}[c.country]
    word = rng.choice(DISTINGUISHING[lang])
    core = f"{c.core} {word}" if rng.random() < 0.85 else f"{word} {c.core}"
    sister = replace(c, core=core, vat=g.vat(c.country), legal=rng.choice([c.legal, c.legal, []]) or c.legal)
    if rng.random() < 0.5:
        sister = replace(sister, email=c.email, phone=c.phone)  # one switchboard, one mailbox
    show_vat = rng.random() < 0.5
    place = rng.random()

    def render(rid: str, noisy: bool) -> dict[str, str]:
        row: dict[str, str] = g.row(sister, rid, noisy)
        if not show_vat:
            row["tax_number"] = ""
        return row

    if place < 0.4:
        left_rows.append(render(f"L{len(left_rows):07d}", True))
    elif place < 0.7:
        rid = f"R{len(right_rows):07d}"
        right_rows.append(render(rid, False))
        lid = f"L{len(left_rows):07d}"
        left_rows.append(render(lid, True))
        truth.append((lid, rid))
    else:
        right_rows.append(render(f"R{len(right_rows):07d}", False))
