"""Legal-form vocabulary: cleanco's multilingual term list plus the spelled-out forms it lacks.

cleanco knows several hundred legal-form abbreviations across countries, but its `basename` scans every term
for every call (tens of microseconds a name) and does not know the spelled-out forms that platforms store
("Gesellschaft mit beschränkter Haftung", "Société à responsabilité limitée"). We take its term data, add the
long forms, and index everything by the squashed token string so that "GmbH", "G.m.b.H.", "G m b H" and
"Ges.m.b.H." are found with one dictionary lookup per suffix length.

Each form maps to a canonical class so "Ltd" and "Limited" compare equal while "GmbH" and "AG" do not.
"""

from __future__ import annotations

from cleanco import termdata

# Spelled-out forms and their abbreviations, grouped by the canonical class they stand for. The natural
# spellings are normalised with the same tokeniser as names at import time, so they stay readable here.
CANONICAL_FORMS: dict[str, tuple[str, ...]] = {
    "gmbh": ("GmbH", "mbH", "Ges.m.b.H.", "GesmbH", "Gesellschaft mit beschränkter Haftung"),
    "gmbh co kg": ("GmbH & Co. KG", "GmbH und Co. KG", "mbH & Co. KG", "GmbH & Co KG"),
    "ag co kg": ("AG & Co. KG",),
    "ug": ("UG", "UG (haftungsbeschränkt)", "UG haftungsbeschränkt"),
    "ag": ("AG", "Aktiengesellschaft"),
    "kg": ("KG", "Kommanditgesellschaft"),
    "kgaa": ("KGaA", "Kommanditgesellschaft auf Aktien"),
    "ohg": ("OHG", "offene Handelsgesellschaft"),
    "gbr": ("GbR", "Gesellschaft bürgerlichen Rechts"),
    "ek": ("e.K.", "e.Kfm.", "eingetragener Kaufmann"),
    "ev": ("e.V.", "eingetragener Verein"),
    "eg": ("eG", "eingetragene Genossenschaft"),
    "og": ("OG", "offene Gesellschaft"),
    "ltd": ("Ltd", "Ltd.", "Limited", "Private Limited Company"),
    "plc": ("PLC", "Public Limited Company"),
    "llp": ("LLP", "L.L.P.", "Limited Liability Partnership"),
    "llc": ("LLC", "L.L.C.", "Limited Liability Company"),
    "lp": ("LP", "L.P.", "Limited Partnership"),
    "inc": ("Inc", "Inc.", "Incorporated"),
    "corp": ("Corp", "Corp.", "Corporation"),
    "co": ("Co", "Co.", "Company", "& Co.", "and Company"),
    "pllc": ("PLLC", "Professional Limited Liability Company"),
    "sarl": ("SARL", "S.A.R.L.", "S.à r.l.", "S.à.r.l.", "Société à responsabilité limitée"),
    "sa": ("SA", "S.A.", "Société anonyme", "Sociedad Anónima"),
    "sas": ("SAS", "S.A.S.", "Société par actions simplifiée"),
    "sasu": ("SASU", "Société par actions simplifiée unipersonnelle"),
    "eurl": ("EURL", "Entreprise unipersonnelle à responsabilité limitée"),
    "snc": ("SNC", "Société en nom collectif"),
    "bv": ("BV", "B.V.", "Besloten Vennootschap"),
    "nv": ("NV", "N.V.", "Naamloze Vennootschap"),
    "vof": ("VOF", "V.O.F.", "Vennootschap onder firma"),
    "spa": ("SpA", "S.p.A.", "Società per azioni"),
    "srl": ("Srl", "S.r.l.", "Società a responsabilità limitata", "Sociedad de responsabilidad limitada"),
    "sl": ("SL", "S.L.", "Sociedad Limitada"),
    "spzoo": ("Sp. z o.o.", "Spółka z ograniczoną odpowiedzialnością"),
    "as": ("AS", "A/S", "Aktieselskab"),
    "aps": ("ApS", "Anpartsselskab"),
    "ab": ("AB", "Aktiebolag"),
    "oy": ("Oy", "Osakeyhtiö"),
    "pty ltd": ("Pty Ltd", "Pty. Ltd.", "Proprietary Limited"),
}

# Forms that also stand first in a name in practice ("SARL Dupont", "BV Jansen"). Other forms are stripped
# only at the end, because words such as "Company" or "AG" at the start are more often part of the name.
LEADING_FORMS = frozenset({"sarl", "sas", "sasu", "eurl", "sa", "snc", "bv", "nv", "gmbh", "spa", "srl"})

# Classes that people use interchangeably for the same company (a US corporation is "Inc." on one invoice and
# "Corp." on the next); a difference inside a family is not evidence against a match.
FAMILIES: dict[str, str] = {
    "inc": "us-corp",
    "corp": "us-corp",
    "co": "us-corp",
    "ltd": "ltd",
    "pty ltd": "ltd",
    "gmbh": "gmbh",
    "gmbh co kg": "gmbh",
    "sa": "sa",
    "sas": "sa",
    "sasu": "sa",
}


def cleanco_terms() -> list[str]:
    """Every legal-form term cleanco knows, by type and by country."""
    terms: set[str] = set()
    for group in (termdata.terms_by_type, termdata.terms_by_country):
        for values in group.values():
            terms.update(v.strip() for v in values if v.strip())
    return sorted(terms)
