# ruff: noqa: E501  (data tables read better unwrapped)
"""Labelled person contacts: sole traders, freelancers and private customers, name and address only.

    python benchmarks/generate.py --people --right 10000 --seed 1 --out benchmarks/data/people-10k

A small business's books hold many contacts that are people, not companies, and such rows rarely carry an
email address, a phone number or a tax id: a name and a postal address is all there is, typed by hand or
read from a scanned invoice. Each left copy of a person disagrees with its right copy the way such rows do:

- names: double given names, hyphenated ("Anna-Luise", "Jean-Pierre") or written apart ("Mary Ann"), with
  the hyphen dropped or added, the second name dropped, or both cut to initials ("J.-P.") on one side;
  keyboard typos (a neighbouring key, a letter dropped, doubled or swapped), OCR confusions (rn/m,
  cl/d, l/i, e/c, u/v), transliteration (ü / ue / u), a nickname (Bill / William, Hans / Johannes), the given
  name cut to an initial or missing, a middle name added or dropped, "Surname, Given" or "Surname Given"
  order, a trade word or owner prefix for sole traders ("Hans Müller Elektro", "Inh. Hans Müller") on one
  side only, upper case;
- addresses: the same typos in street and suburb, street types written out or abbreviated (Straße / Str. /
  Strasse, Street / St), a house number typed wrong or missing, a postcode one digit off (same suburb) or
  missing, now and then the whole address missing, and a few people who moved.

Hard negatives are left contacts with no partner: another member of the household (same surname, same
address, other given name), a namesake (same given name and surname) in another town, a neighbour in the
same street, and unrelated people.

`--config b` is a second, harsher configuration (more typos, more swapped and missing parts, more
households and namesakes), so that thresholds are not fitted to one mixture.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, replace
from pathlib import Path

from faker import Faker

LOCALES = {"DE": "de_DE", "AT": "de_AT", "CH": "de_CH", "GB": "en_GB", "US": "en_US", "FR": "fr_FR", "NL": "nl_NL"}
COUNTRY_WEIGHTS = {"DE": 34, "AT": 8, "CH": 8, "GB": 16, "US": 14, "FR": 10, "NL": 10}
NICKNAMES = {
    "William": ["Bill", "Will"], "Robert": ["Bob", "Rob"], "Elizabeth": ["Liz", "Beth"], "Margaret": ["Maggie", "Peggy"],
    "Richard": ["Rick", "Dick"], "James": ["Jim", "Jimmy"], "Michael": ["Mike"], "Thomas": ["Tom"], "Christopher": ["Chris"],
    "Jennifer": ["Jen", "Jenny"], "Katherine": ["Kate", "Kathy"], "Catherine": ["Cathy", "Kate"], "Daniel": ["Dan", "Danny"],
    "Joseph": ["Joe"], "Anthony": ["Tony"], "Samuel": ["Sam"], "Patricia": ["Pat", "Trish"], "Susan": ["Sue"],
    "Johannes": ["Hans"], "Katharina": ["Kathi", "Katrin"], "Wolfgang": ["Wolf"], "Alexander": ["Alex"],
    "Friedrich": ["Fritz"], "Elisabeth": ["Lisa", "Elli"], "Matthias": ["Matze"], "Jakob": ["Jaap"], "Johanna": ["Hanna"],
}  # fmt: skip
TRADES = {
    "DE": ["Elektro", "Malerbetrieb", "Fliesenleger", "Gartenbau", "Physiotherapie", "Fotografie", "Friseur", "Übersetzungen"],
    "AT": ["Elektro", "Malerei", "Tischlerei", "Massage", "Fotografie"],
    "CH": ["Schreinerei", "Treuhand", "Coiffeur", "Grafik"],
    "GB": ["Plumbing", "Photography", "Decorating", "Bookkeeping", "Gardening", "Tutoring"],
    "US": ["Photography", "Handyman Services", "Consulting", "Web Design", "Landscaping"],
    "FR": ["Plomberie", "Photographie", "Traduction", "Coiffure"],
    "NL": ["Schilderwerken", "Fotografie", "Vertalingen", "Klussenbedrijf"],
}  # fmt: skip
# Double given names where Faker's locales have none: French ones hyphenated, English ones written apart
# (German Faker locales already hold hyphenated ones, "Anna-Luise", "Hans-Jürgen").
DOUBLE_GIVEN = {
    "FR": ["Jean-Pierre", "Jean-Luc", "Jean-Claude", "Jean-Marc", "Marie-Claire", "Marie-Christine", "Anne-Sophie",
           "Pierre-Yves", "Marie-Hélène", "Jean-François", "Anne-Laure", "Marie-Thérèse"],
    "GB": ["Mary Ann", "Sarah Jane", "Anna Marie", "John Paul", "Mary Kate", "Lucy Ann"],
    "US": ["Mary Ann", "Mary Beth", "Billy Joe", "Jo Ann", "Lee Ann", "John Paul", "Anna Mae"],
}  # fmt: skip
OWNER_PREFIX = {"DE": "Inh.", "AT": "Inh.", "CH": "Inh.", "GB": "t/a", "US": "dba", "FR": "M.", "NL": "Eigenaar"}
STREET_TYPES = [("straße", "str."), ("strasse", "str."), ("Straße", "Str."), ("Street", "St"), ("Road", "Rd"),
                ("Avenue", "Ave"), ("Lane", "Ln"), ("straat", "str"), ("weg", "wg"), ("rue", "r."), ("Gasse", "G.")]  # fmt: skip
KEYBOARD = ["qwertzuiop", "asdfghjkl", "yxcvbnm"]
OCR = [("rn", "m"), ("m", "rn"), ("cl", "d"), ("l", "i"), ("i", "l"), ("e", "c"), ("u", "v"), ("h", "b"), ("o", "0")]


@dataclass(frozen=True)
class Person:
    country: str
    given: str
    middle: str
    surname: str
    trade: str
    street: str
    number: str
    postal: str
    city: str


@dataclass(frozen=True)
class PeopleConfig:
    """Probabilities of each disagreement on a left copy, and the mix of hard negatives."""

    typo: float = 0.12
    ocr: float = 0.05
    nickname: float = 0.06
    initial: float = 0.06
    given_missing: float = 0.04
    swapped: float = 0.15
    trade_one_side: float = 0.5
    street_typo: float = 0.12
    number_wrong: float = 0.03
    postal_off: float = 0.08
    city_typo: float = 0.08
    part_missing: float = 0.05
    address_missing: float = 0.02
    moved: float = 0.01
    households: float = 0.05
    namesakes: float = 0.05
    neighbours: float = 0.03


CONFIGS = {
    "a": PeopleConfig(),
    "b": PeopleConfig(typo=0.2, ocr=0.08, nickname=0.08, initial=0.1, given_missing=0.06, swapped=0.25,
                      street_typo=0.2, number_wrong=0.05, postal_off=0.12, city_typo=0.15, part_missing=0.08,
                      households=0.08, namesakes=0.08, neighbours=0.05),
}  # fmt: skip


def keyboard_typo(rng: random.Random, word: str) -> str:
    """One keyboard slip: a neighbouring key, a dropped, doubled or swapped letter (never the first letter)."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word))
    op = rng.random()
    ch = word[i].lower()
    if op < 0.35:
        for row in KEYBOARD:
            j = row.find(ch)
            if j >= 0:
                near = [row[k] for k in (j - 1, j + 1) if 0 <= k < len(row)]
                return word[:i] + rng.choice(near) + word[i + 1 :]
        return word[:i] + word[i + 1 :]
    if op < 0.6:
        return word[:i] + word[i + 1 :]
    if op < 0.8 and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i] + word[i:]


def ocr_typo(rng: random.Random, word: str) -> str:
    options = [(a, b) for a, b in OCR if a in word[1:]]
    if not options:
        return keyboard_typo(rng, word)
    a, b = rng.choice(options)
    i = word.index(a, 1)
    return word[:i] + b + word[i + len(a) :]


def transliterate(text: str) -> str:
    table = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "ç": "c", "ë": "e", "ï": "i"}
    return "".join(table.get(ch, ch) for ch in text)


class PeopleGenerator:
    def __init__(self, seed: int, config: PeopleConfig) -> None:
        self.rng = random.Random(seed)
        # Double given names draw from their own stream, so that the rest of a seed's set stays as it was
        # before they were added.
        self.double_rng = random.Random(seed * 7919 + 17)
        self.cfg = config
        self.fakers = {cc: Faker(loc) for cc, loc in LOCALES.items()}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed * 100 + 50 + i)

    def person(self, cc: str | None = None) -> Person:
        rng = self.rng
        cc = cc or rng.choices(list(COUNTRY_WEIGHTS), list(COUNTRY_WEIGHTS.values()))[0]
        f = self.fakers[cc]
        given = rng.choice(list(NICKNAMES)) if rng.random() < 0.08 else f.first_name()
        if cc in DOUBLE_GIVEN and self.double_rng.random() < 0.08:
            given = self.double_rng.choice(DOUBLE_GIVEN[cc])
        surname = f.last_name()
        if cc in ("DE", "AT", "CH") and rng.random() < 0.05:
            surname = f"{surname}-{f.last_name()}"
        return Person(
            country=cc,
            given=given,
            middle=f.first_name() if rng.random() < 0.1 else "",
            surname=surname,
            trade=rng.choice(TRADES[cc]) if rng.random() < 0.3 else "",
            street=f.street_name(),
            number=str(rng.randint(1, 180)) + ("a" if rng.random() < 0.05 else ""),
            postal=f.postcode(),
            city=f.city(),
        )

    def _word_noise(self, word: str) -> str:
        rng, cfg = self.rng, self.cfg
        if rng.random() < cfg.typo:
            word = keyboard_typo(rng, word)
        elif rng.random() < cfg.ocr:
            word = ocr_typo(rng, word)
        return word

    def _double_noise(self, given: str) -> str:
        """A double given name as another writer has it: hyphen dropped or added, second name dropped, initials."""
        parts = given.replace("-", " ").split()
        if len(parts) < 2:
            return given
        rng = self.double_rng
        roll = rng.random()
        hyphen = "-" in given
        if roll < 0.2:  # "Anna-Luise" / "Anna Luise"
            return " ".join(parts) if hyphen else "-".join(parts)
        if roll < 0.3:
            return parts[0]
        if roll < 0.38:
            return ("-" if hyphen else " ").join(x[0] + "." for x in parts)
        return given

    def name(self, p: Person, noisy: bool) -> str:
        rng, cfg = self.rng, self.cfg
        given, middle, surname, trade = p.given, p.middle, p.surname, p.trade
        if not noisy:
            full = " ".join(x for x in (given, middle, surname) if x)
            return f"{full} {trade}" if trade else full
        if rng.random() < cfg.nickname and given in NICKNAMES:
            given = rng.choice(NICKNAMES[given])
        given = self._double_noise(given)
        given = self._word_noise(given)
        surname = self._word_noise(surname)
        if rng.random() < 0.1:
            surname, given = transliterate(surname), transliterate(given)
        if rng.random() < cfg.initial:
            given = given[0] + "."
        elif rng.random() < cfg.given_missing:
            given = ""
        if middle and rng.random() < 0.5:
            middle = ""
        roll = rng.random()
        if given and roll < cfg.swapped * 0.6:
            full = f"{surname}, {' '.join(x for x in (given, middle) if x)}"
        elif given and roll < cfg.swapped:
            full = " ".join(x for x in (surname, given, middle) if x)
        else:
            full = " ".join(x for x in (given, middle, surname) if x)
        if trade and rng.random() < cfg.trade_one_side:
            trade = ""
        if trade:
            full = f"{full} {trade}" if rng.random() < 0.7 else f"{trade} {OWNER_PREFIX[p.country]} {full}"
        if rng.random() < 0.04:
            full = full.upper()
        return full

    def row(self, p: Person, rid: str, noisy: bool) -> dict[str, str]:
        rng, cfg = self.rng, self.cfg
        street, number, postal, city = p.street, p.number, p.postal, p.city
        if noisy:
            if rng.random() < 0.35:
                for long, short in STREET_TYPES:
                    if long in street:
                        street = street.replace(long, rng.choice([short, long.replace("ß", "ss")]))
                        break
            if rng.random() < cfg.street_typo:
                words = street.split()
                k = max(range(len(words)), key=lambda i: len(words[i]))
                words[k] = self._word_noise(words[k]) if rng.random() < 0.3 else keyboard_typo(rng, words[k])
                street = " ".join(words)
            if rng.random() < cfg.number_wrong:
                number = "" if rng.random() < 0.4 else (number[::-1] if len(number) > 1 else str(rng.randint(1, 9)))
            if rng.random() < cfg.postal_off:
                digits = [i for i, ch in enumerate(postal) if ch.isdigit()]
                if digits:
                    i = digits[-1]
                    postal = postal[:i] + str((int(postal[i]) + rng.choice([1, 9])) % 10) + postal[i + 1 :]
            if rng.random() < cfg.city_typo:
                city = keyboard_typo(rng, city)
            if rng.random() < cfg.part_missing:
                which = rng.choice(["postal", "city", "number"])
                postal = "" if which == "postal" else postal
                city = "" if which == "city" else city
                number = "" if which == "number" else number
        line = f"{street} {number}".strip() if p.country in ("DE", "AT", "CH", "NL") else f"{number} {street}".strip()
        if noisy and rng.random() < cfg.address_missing:
            line, postal, city = "", "", ""
        return {"id": rid, "name": self.name(p, noisy), "email": "", "tax_number": "", "phone": "", "street": line,
                "city": city, "postal_code": postal, "country": p.country if not noisy or rng.random() < 0.7 else ""}  # fmt: skip


def generate_people(n_right: int, seed: int, out: Path, config: str = "a") -> None:
    cfg = CONFIGS[config]
    g = PeopleGenerator(seed, cfg)
    rng = g.rng
    right: list[dict[str, str]] = []
    left: list[dict[str, str]] = []
    truth: list[tuple[str, str]] = []

    def add_left(p: Person) -> str:
        lid = f"L{len(left):07d}"
        left.append(g.row(p, lid, noisy=True))
        return lid

    for _ in range(n_right):
        p = g.person()
        rid = f"R{len(right):07d}"
        right.append(g.row(p, rid, noisy=False))
        roll = rng.random()
        if roll < 0.8:
            moved = g.person(p.country) if rng.random() < cfg.moved else None
            q = (
                p
                if moved is None
                else replace(p, street=moved.street, number=moved.number, postal=moved.postal, city=moved.city)
            )
            truth.append((add_left(q), rid))
        f = g.fakers[p.country]
        if rng.random() < cfg.households:  # another member of the household: same surname and address
            other = f.first_name()
            if other != p.given:
                add_left(replace(p, given=other, middle="", trade=""))
        if rng.random() < cfg.namesakes:  # the same name in another town
            elsewhere = g.person(p.country)
            add_left(replace(elsewhere, given=p.given, surname=p.surname, middle=p.middle, trade=""))
        if rng.random() < cfg.neighbours:  # someone else in the same street
            neighbour = g.person(p.country)
            add_left(replace(neighbour, street=p.street, postal=p.postal, city=p.city, number=str(rng.randint(1, 180))))
    for _ in range(n_right // 10):
        add_left(g.person())
    rng.shuffle(left)
    rng.shuffle(right)
    write(out, left, right, truth)


def write(out: Path, left: list[dict[str, str]], right: list[dict[str, str]], truth: list[tuple[str, str]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    columns = ["id", "name", "email", "tax_number", "phone", "street", "city", "postal_code", "country"]
    for fname, rows in (("left.csv", left), ("right.csv", right)):
        with (out / fname).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    with (out / "truth.csv").open("w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        w.writerow(["left_id", "right_id"])
        w.writerows(sorted(truth))
    print(f"{out}: {len(left)} left, {len(right)} right, {len(truth)} true pairs")
