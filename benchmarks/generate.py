# ruff: noqa: E501  (data tables and generator rules read better unwrapped)
"""Labelled benchmark data for matching: the same companies on two sides, with realistic disagreements.

    python benchmarks/generate.py --right 100000 --seed 1 --out benchmarks/data/100k

writes left.csv (the "remote" side), right.csv (the "app" side) and truth.csv (left_id,right_id of every
true pair). Seeded and deterministic. Companies come from seven locales (DE, AT, CH, GB, US, FR, NL) with
Faker surnames, streets and cities, generated valid VAT ids / EINs, and phone numbers built from each
country's numbering plan.

Each left copy of a company disagrees with its right copy the way real books do: legal-form spellings
(GmbH / G.m.b.H. / Gesellschaft mit beschränkter Haftung), transliteration (ü / ue / u), case, typos, '&' / 'und'
/ 'and', Holding/Group variants, VAT with or without prefix and spacing, phone formats, street abbreviations,
postcode formatting, country names or codes, missing fields, other mailboxes, moves. Hard negatives are
left contacts with no partner: namesakes in another city with another VAT id, franchise branches of a brand
that has other branches on the right, companies named after a common surname alone, and sister companies at
the same address ("Glaser GmbH" / "Glaser Holding GmbH", see generate_sisters.py).

`--people` writes a person set instead (generate_people.py); `--config b` is a second configuration (twice
the sister companies; for people, more typos and hard negatives).
"""

from __future__ import annotations

import argparse
import csv
import random
import string
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import phonenumbers
from faker import Faker
from stdnum import get_cc_module
from stdnum.us import ein

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_people import generate_people
from generate_sisters import add_sister
from noise import abbreviate_street, format_phone, format_vat, transliterate, typo

LOCALES = {
    "DE": "de_DE",
    "AT": "de_AT",
    "CH": "de_CH",
    "GB": "en_GB",
    "US": "en_US",
    "FR": "fr_FR",
    "NL": "nl_NL",
}
COUNTRY_WEIGHTS = {"DE": 30, "AT": 8, "CH": 8, "GB": 18, "US": 14, "FR": 12, "NL": 10}
COUNTRY_NAMES = {
    "DE": ["Germany", "Deutschland", "DEU"],
    "AT": ["Austria", "Österreich", "AUT"],
    "CH": ["Switzerland", "Schweiz", "CHE"],
    "GB": ["United Kingdom", "UK", "GBR"],
    "US": ["United States", "USA", "US"],
    "FR": ["France", "FRA"],
    "NL": ["Netherlands", "Nederland", "NLD"],
}
# Legal forms per country, each with spellings people use for it.
LEGAL = {
    "DE": [["GmbH", "G.m.b.H.", "Gesellschaft mit beschränkter Haftung", "Gmbh"], ["AG", "Aktiengesellschaft"],
           ["GmbH & Co. KG", "GmbH & Co KG", "GmbH und Co. KG"], ["KG"], ["e.K.", "e.Kfm."], ["UG (haftungsbeschränkt)", "UG"]],
    "AT": [["GmbH", "Ges.m.b.H.", "GesmbH"], ["AG"], ["OG"], ["KG"]],
    "CH": [["AG"], ["GmbH"], ["SA", "S.A."], ["Sàrl", "S.à r.l."]],
    "GB": [["Ltd", "Ltd.", "Limited", "LTD"], ["PLC", "plc", "Public Limited Company"], ["LLP"]],
    "US": [["Inc.", "Inc", "Incorporated"], ["LLC", "L.L.C."], ["Corp.", "Corporation"], ["Co.", "Company"]],
    "FR": [["SARL", "S.A.R.L.", "Sarl"], ["SAS", "S.A.S."], ["SA", "S.A."], ["EURL"]],
    "NL": [["B.V.", "BV", "B.V"], ["N.V.", "NV"], ["V.O.F."]],
}  # fmt: skip
TRADES = {
    "de": ["Bau", "Logistik", "Elektro", "Haustechnik", "Metallbau", "Immobilien", "Software", "Consulting",
           "Druckerei", "Bäckerei", "Zimmerei", "Maschinenbau", "Autohaus", "Transporte", "Gartenbau", "Medien",
           "Steuerberatung", "Sanitär", "Dachdeckerei", "Feinkost", "Optik", "Reisen", "Handel"],
    "en": ["Construction", "Logistics", "Electrical", "Plumbing", "Software", "Consulting", "Printing",
           "Bakery", "Joinery", "Engineering", "Motors", "Transport", "Landscaping", "Media", "Accountancy",
           "Roofing", "Foods", "Optics", "Travel", "Trading", "Solutions", "Services"],
    "fr": ["Construction", "Transports", "Électricité", "Plomberie", "Logiciels", "Conseil", "Imprimerie",
           "Boulangerie", "Menuiserie", "Ingénierie", "Automobiles", "Paysages", "Médias", "Expertise",
           "Toitures", "Alimentation", "Optique", "Voyages", "Négoce"],
    "nl": ["Bouw", "Logistiek", "Elektro", "Installatietechniek", "Software", "Advies", "Drukkerij",
           "Bakkerij", "Timmerwerken", "Techniek", "Auto's", "Transport", "Hoveniers", "Media", "Accountants",
           "Dakwerken", "Voeding", "Optiek", "Reizen", "Handel"],
}  # fmt: skip
AND = {"de": ["&", "und", "+"], "en": ["&", "and", "+"], "fr": ["&", "et"], "nl": ["&", "en"]}
BRAND_PARTS = ["nova", "tec", "lux", "prime", "vita", "terra", "aqua", "trans", "medi", "inno", "flex", "sol",
               "astra", "opti", "vento", "digi", "quant", "eco", "alpha", "neo", "metro", "max", "uni", "pro"]  # fmt: skip
FRANCHISES = ["Burger Palace", "QuickClean", "Sunshine Bakery", "Fit & Fun Studio", "CityCopy", "Green Garden Center",
              "AutoGlas Express", "Pizza Nova", "Travel Point", "Happy Paws"]  # fmt: skip
FREE_MAIL = {"DE": ["gmx.de", "web.de", "t-online.de"], "AT": ["gmx.at", "aon.at"], "CH": ["bluewin.ch", "gmx.ch"],
             "GB": ["btinternet.com", "gmail.com"], "US": ["gmail.com", "yahoo.com"], "FR": ["orange.fr", "free.fr"],
             "NL": ["ziggo.nl", "gmail.com"]}  # fmt: skip
FREE_MAIL_ALL = [d for ds in FREE_MAIL.values() for d in ds]
TLD = {"DE": "de", "AT": "at", "CH": "ch", "GB": "co.uk", "US": "com", "FR": "fr", "NL": "nl"}
LANG = {"DE": "de", "AT": "de", "CH": "de", "GB": "en", "US": "en", "FR": "fr", "NL": "nl"}
VAT_PATTERN = {
    "DE": "#########",
    "AT": "U########",
    "GB": "#########",
    "FR": "###########",
    "NL": "#########B##",
}


@dataclass(frozen=True)
class Company:
    country: str
    core: str  # the name without legal form
    legal: list[str]  # spellings of its legal form (empty for none)
    vat: str  # canonical, with prefix (EIN for US)
    phone: phonenumbers.PhoneNumber | None
    email: str
    street: str
    number: str
    city: str
    postal: str


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers = {cc: Faker(loc) for cc, loc in LOCALES.items()}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed * 100 + i)
        self.countries = list(COUNTRY_WEIGHTS)
        self.weights = list(COUNTRY_WEIGHTS.values())
        self.used_vat: set[str] = set()

    def country(self) -> str:
        return self.rng.choices(self.countries, self.weights)[0]

    def vat(self, cc: str) -> str:
        rng = self.rng
        while True:
            if cc == "US":
                value = f"{rng.choice(['10', '20', '27', '45', '46', '52', '84', '94'])}{rng.randrange(10**7):07d}"
                ok = ein.is_valid(value)
            elif cc == "CH":
                base = f"{rng.randrange(10**7, 10**8)}"
                module = get_cc_module("ch", "uid")
                value = "CHE" + base + module.calc_check_digit(base)
                ok = len(value) == 12 and module.is_valid(value)
            elif cc == "FR":
                # Brute force over the two-digit key would take ~100 tries; derive it from the SIREN instead.
                siren = f"{rng.randrange(10**8, 10**9)}"
                if not get_cc_module("fr", "siren").is_valid(siren):
                    continue
                value = f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
                ok = get_cc_module("fr", "vat").is_valid(value)
            else:
                pattern = VAT_PATTERN[cc]
                value = cc + "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in pattern)
                if cc in ("DE", "GB", "NL") and value[2] == "0":
                    continue
                ok = get_cc_module(cc.lower(), "vat").is_valid(value)
            if ok and value not in self.used_vat:
                self.used_vat.add(value)
                return value

    def phone(self, cc: str) -> phonenumbers.PhoneNumber | None:
        example = phonenumbers.example_number_for_type(cc, phonenumbers.PhoneNumberType.FIXED_LINE)
        digits = str(example.national_number)
        for _ in range(20):
            keep = self.rng.randint(2, 3)
            nsn = digits[:keep] + "".join(str(self.rng.randrange(10)) for _ in digits[keep:])
            number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(nsn))
            if phonenumbers.is_valid_number(number):
                return number
        return None

    def core_name(self, cc: str) -> str:
        f, rng, lang = self.fakers[cc], self.rng, LANG[cc]
        kind = rng.random()
        if kind < 0.25:
            return f"{f.last_name()} {rng.choice(TRADES[lang])}"
        if kind < 0.42:
            return f"{f.last_name()} {rng.choice(AND[lang])} {f.last_name()}"
        if kind < 0.55:
            return f.last_name()
        if kind < 0.72:
            brand = "".join(rng.sample(BRAND_PARTS, 2)).capitalize()
            return f"{brand} {rng.choice(TRADES[lang])}" if rng.random() < 0.6 else brand
        if kind < 0.85:
            return f"{f.city().split()[0].split('-')[0]} {rng.choice(TRADES[lang])}"
        return f"{f.last_name()} {f.last_name()} {rng.choice(TRADES[lang])}"

    def company(self, cc: str | None = None, core: str | None = None) -> Company:
        cc = cc or self.country()
        f, rng = self.fakers[cc], self.rng
        core = core or self.core_name(cc)
        legal = rng.choice(LEGAL[cc]) if rng.random() < 0.9 else []
        slug = "".join(ch for ch in core.lower() if ch.isalnum())[:20] or "firma"
        if rng.random() < 0.8:
            email = f"{rng.choice(['info', 'office', 'kontakt', 'accounts', 'hello', 'mail'])}@{slug}.{TLD[cc]}"
        else:
            email = f"{f.first_name().lower()}.{f.last_name().lower()}@{rng.choice(FREE_MAIL[cc])}"
            email = "".join(ch for ch in email if ch.isascii() and not ch.isspace())
        street_line = f.street_name()
        return Company(
            country=cc,
            core=core,
            legal=legal,
            vat=self.vat(cc),
            phone=self.phone(cc),
            email=email,
            street=street_line,
            number=str(rng.randint(1, 250)) + (rng.choice(string.ascii_lowercase[:4]) if rng.random() < 0.1 else ""),
            city=f.city(),
            postal=f.postcode(),
        )

    # --- rendering a company as one side's row -----------------------------------------------------------
    def row(self, c: Company, rid: str, noisy: bool) -> dict[str, str]:
        rng = self.rng
        p = (lambda x: rng.random() < x) if noisy else (lambda x: False)
        name = c.core
        if p(0.15):
            name = typo(rng, name)
        if p(0.25):
            name = transliterate(rng, name)
        if p(0.15):
            lang = LANG[c.country]
            for sym in AND[lang]:
                if f" {sym} " in name:
                    name = name.replace(f" {sym} ", f" {rng.choice(AND[lang])} ")
                    break
        if p(0.06):
            # A group word added on one side only (not Holding, Verwaltung and the like: those name a sister
            # company, see generate_sisters.py).
            name = f"{name} {'Gruppe' if LANG[c.country] == 'de' and rng.random() < 0.5 else 'Group'}"
        legal = rng.choice(c.legal) if c.legal and not p(0.1) else ""
        full = (
            f"{name} {legal}".strip() if not (legal and c.country == "FR" and rng.random() < 0.2) else f"{legal} {name}"
        )
        if p(0.08):
            full = full.upper()
        elif p(0.05):
            full = full.lower()
        vat = ""
        if not p(0.35):
            vat = format_vat(rng, c.vat, c.country) if noisy else c.vat
        phone = ""
        if c.phone is not None and not p(0.3):
            phone = (
                format_phone(rng, c.phone)
                if noisy
                else phonenumbers.format_number(c.phone, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            )
        email = c.email
        if p(0.3):
            email = ""
        elif p(0.15) and "@" in email and not any(email.endswith(d) for d in FREE_MAIL_ALL):
            email = f"{rng.choice(['buchhaltung', 'billing', 'invoices', 'compta', 'finance'])}@{email.split('@')[1]}"
        elif p(0.1):
            email = email.upper()
        street = f"{c.street} {c.number}" if c.country in ("DE", "AT", "CH", "NL") else f"{c.number} {c.street}"
        if c.country == "FR":
            street = f"{c.number}, {c.street}"
        if noisy:
            street = abbreviate_street(rng, street)
        city, postal = c.city, c.postal
        if p(0.1):
            city = transliterate(rng, city)
        if p(0.1):
            postal = (
                postal.replace(" ", "")
                if " " in postal
                else (f"{c.country[0]}-{postal}" if c.country in "DEATCH" else postal)
            )
        country = c.country
        if p(0.3):
            country = rng.choice(COUNTRY_NAMES[c.country])
        if p(0.15):
            country = ""
        if p(0.15):
            street, city, postal = "", city if p(0.5) else "", ""
        return {"id": rid, "name": full, "email": email, "tax_number": vat, "phone": phone, "street": street,
                "city": city, "postal_code": postal, "country": country}  # fmt: skip


def generate(n_right: int, seed: int, out: Path, sisters: float = 0.06) -> None:
    g = Generator(seed)
    rng = g.rng
    n_matched = int(n_right * 0.8)
    right_rows: list[dict[str, str]] = []
    left_rows: list[dict[str, str]] = []
    truth: list[tuple[str, str]] = []

    # Franchise brands: several branches on the right, some of them also on the left (true pairs), others
    # only on the left (hard negatives that share brand, domain pattern and often the phone hotline).
    n_branches = max(10, n_right // 200)
    for i in range(n_branches):
        brand = FRANCHISES[i % len(FRANCHISES)]
        c = g.company("DE" if i % 3 else rng.choice(g.countries), core=brand)
        c = replace(
            c,
            email=f"{g.fakers[c.country].city().split()[0].lower()}@{brand.lower().replace(' ', '').replace('&', '')}.com",
        )
        rid = f"R{len(right_rows):07d}"
        right_rows.append(g.row(c, rid, noisy=False))
        roll = rng.random()
        if roll < 0.4:
            lid = f"L{len(left_rows):07d}"
            left_rows.append(g.row(c, lid, noisy=True))
            truth.append((lid, rid))
        elif roll < 0.8:
            other = g.company(c.country, core=brand)
            other = replace(
                other,
                email=c.email.replace(c.email.split("@")[0], g.fakers[c.country].city().split()[0].lower()),
            )
            left_rows.append(g.row(other, f"L{len(left_rows):07d}", noisy=True))
    while len(right_rows) < n_right:
        c = g.company()
        rid = f"R{len(right_rows):07d}"
        right_rows.append(g.row(c, rid, noisy=False))
        roll = rng.random()
        paired = len(truth) < n_matched and roll < 0.84
        if paired:
            lid = f"L{len(left_rows):07d}"
            left_rows.append(g.row(c, lid, noisy=True))
            truth.append((lid, rid))
        if rng.random() < sisters:
            add_sister(g, c, left_rows, right_rows, truth)
        if not paired and roll < 0.92:
            # Namesake: same name (and legal form), other place, other VAT id, other contact details.
            twin = g.company(c.country, core=c.core)
            twin = replace(twin, legal=c.legal)
            left_rows.append(g.row(twin, f"L{len(left_rows):07d}", noisy=True))
    # Unrelated left-only companies, a share of them named after a common surname alone.
    n_left_only = n_right // 10
    for _ in range(n_left_only):
        cc = g.country()
        core = g.fakers[cc].last_name() if rng.random() < 0.5 else None
        left_rows.append(g.row(g.company(cc, core=core), f"L{len(left_rows):07d}", noisy=True))

    # Shuffle so ids carry no order information, then write.
    rng.shuffle(left_rows)
    rng.shuffle(right_rows)
    out.mkdir(parents=True, exist_ok=True)
    columns = ["id", "name", "email", "tax_number", "phone", "street", "city", "postal_code", "country"]
    for fname, rows in (("left.csv", left_rows), ("right.csv", right_rows)):
        with (out / fname).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    with (out / "truth.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["left_id", "right_id"])
        writer.writerows(sorted(truth))
    print(f"{out}: {len(left_rows)} left, {len(right_rows)} right, {len(truth)} true pairs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--right", type=int, default=10000, help="number of right (app) contacts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--people", action="store_true", help="person contacts (generate_people.py) instead of companies"
    )
    parser.add_argument("--config", choices=["a", "b"], default="a", help="b: the second, harsher configuration")
    args = parser.parse_args()
    if args.people:
        generate_people(args.right, args.seed, args.out, args.config)
    else:
        generate(args.right, args.seed, args.out, sisters=0.06 if args.config == "a" else 0.12)


if __name__ == "__main__":
    main()
