"""Deterministic, realistic company data for sandbox accounts and for the application side of demos.

The same `(seed, count)` always yields the same companies, so a benchmark or a failing test can be replayed
exactly, and the demo can build application-side contacts that overlap a sandbox account's on purpose. VAT
ids carry correct check digits (python-stdnum accepts every one of them): matching on tax numbers is only
exercised honestly when the numbers look like the real thing.

Speed matters because benchmarks seed tens of thousands of contacts: Faker instances are built once per locale
and re-seeded per call; cheap choices come from one `random.Random`.
"""

from __future__ import annotations

import random
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import cache

from faker import Faker
from stdnum import luhn
from stdnum.at import uid as at_uid
from stdnum.de import vat as de_vat
from stdnum.fr import vat as fr_vat
from stdnum.gb import vat as gb_vat
from stdnum.iso7064 import mod_11_10
from stdnum.nl import vat as nl_vat
from stdnum.us import ein as us_ein

from contactsync.contact import Address, CanonicalContact, Phone


@dataclass(frozen=True)
class _Country:
    code: str
    locale: str
    legal_forms: tuple[str, ...]
    tld: str
    currency: str
    calling_code: str
    words: tuple[str, ...]


_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        "DE",
        "de_DE",
        ("GmbH", "AG", "KG", "GmbH & Co. KG", "UG (haftungsbeschränkt)", "e.K."),
        "de",
        "EUR",
        "+49",
        ("Bau", "Logistik", "Maschinenbau", "Elektrotechnik", "Handel", "Druck", "Metallbau"),
    ),
    _Country(
        "AT",
        "de_AT",
        ("GmbH", "AG", "KG", "OG", "e.U."),
        "at",
        "EUR",
        "+43",
        ("Holzbau", "Transporte", "Handel", "Installationen", "Tischlerei", "Gastro"),
    ),
    _Country(
        "GB",
        "en_GB",
        ("Ltd", "Limited", "PLC", "LLP"),
        "co.uk",
        "GBP",
        "+44",
        ("Engineering", "Logistics", "Consulting", "Supplies", "Trading", "Builders"),
    ),
    _Country(
        "US",
        "en_US",
        ("Inc.", "LLC", "Corp.", "Co."),
        "com",
        "USD",
        "+1",
        ("Industries", "Solutions", "Manufacturing", "Distribution", "Services", "Holdings"),
    ),
    _Country(
        "FR",
        "fr_FR",
        ("SARL", "SAS", "SA", "EURL", "SASU"),
        "fr",
        "EUR",
        "+33",
        ("Bâtiment", "Transports", "Conseil", "Industrie", "Distribution", "Services"),
    ),
    _Country(
        "NL",
        "nl_NL",
        ("B.V.", "N.V.", "V.O.F."),
        "nl",
        "EUR",
        "+31",
        ("Bouw", "Logistiek", "Techniek", "Handel", "Installatie", "Advies"),
    ),
)

_EIN_PREFIXES = (
    "10",
    "12",
    "20",
    "27",
    "30",
    "33",
    "45",
    "46",
    "47",
    "52",
    "54",
    "81",
    "84",
    "86",
    "88",
    "94",
)
_faker_lock = threading.Lock()


@cache
def _faker(locale: str) -> Faker:
    return Faker(locale)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def vat_id(country: str, rng: random.Random) -> str:
    """A tax id for `country` whose check digits are right (VAT for the EU and GB, EIN for the US)."""
    while True:
        if country == "DE":
            body = rng.choice("123456789") + _digits(rng, 7)
            number = "DE" + body + mod_11_10.calc_check_digit(body)
            ok = de_vat.is_valid(number)
        elif country == "AT":
            body = _digits(rng, 7)
            number = "ATU" + body + at_uid.calc_check_digit("U" + body)
            ok = at_uid.is_valid(number)
        elif country == "GB":
            body = rng.choice("123456789") + _digits(rng, 6)
            total = sum(w * int(d) for w, d in zip((8, 7, 6, 5, 4, 3, 2), body, strict=True))
            number = f"GB{body}{(-total) % 97:02d}"
            ok = gb_vat.is_valid(number)
        elif country == "FR":
            body = rng.choice("123456789") + _digits(rng, 7)
            siren = body + luhn.calc_check_digit(body)
            number = f"FR{int(siren + '12') % 97:02d}{siren}"
            ok = fr_vat.is_valid(number)
        elif country == "NL":
            body = rng.choice("123456789") + _digits(rng, 7)
            check = sum((9 - i) * int(d) for i, d in enumerate(body)) % 11
            if check == 10:
                continue
            number = f"NL{body}{check}B{rng.randint(1, 99):02d}"
            ok = nl_vat.is_valid(number)
        elif country == "US":
            number = f"{rng.choice(_EIN_PREFIXES)}-{_digits(rng, 7)}"
            ok = us_ein.is_valid(number)
        else:
            raise ValueError(f"no tax id scheme for {country}")
        if ok:
            return number


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "company"


def _phone(country: _Country, fake: Faker, rng: random.Random) -> str:
    number: str = fake.phone_number()
    if rng.random() < 0.5 and not number.startswith("+"):
        # The international form of the same line, as platforms often hold both styles side by side.
        national = re.sub(r"[^\d]", "", number).lstrip("0")
        if country.code == "US" and national.startswith("1"):
            national = national[1:]
        number = f"{country.calling_code} {national}"
    return number


def _company(index: int, rng: random.Random) -> CanonicalContact:
    country = _COUNTRIES[index % len(_COUNTRIES)] if rng.random() < 0.7 else rng.choice(_COUNTRIES)
    fake = _faker(country.locale)
    surname: str = fake.last_name()
    shape = rng.random()
    if shape < 0.4:
        core = f"{surname} {rng.choice(country.words)}"
    elif shape < 0.65:
        core = f"{surname} & {fake.last_name()}"
    elif shape < 0.85:
        core = f"{surname} {rng.choice(country.words)} {fake.city()}"
    else:
        core = surname
    name = f"{core} {rng.choice(country.legal_forms)}"
    domain = f"{_slug(core)}.{country.tld}"
    greeting = "kontakt" if country.locale.startswith("de") else "hello"
    emails = [f"{rng.choice(('info', 'office', greeting))}@{domain}"]
    if rng.random() < 0.35:
        emails.append(f"{rng.choice(('billing', 'accounts', 'invoices'))}@{domain}")
    phones = [Phone(number=_phone(country, fake, rng), type="work")]
    if rng.random() < 0.25:
        phones.append(Phone(number=_phone(country, fake, rng), type=rng.choice(("mobile", "fax"))))
    billing = Address(
        type="billing",
        street_1=fake.street_address(),
        city=fake.city(),
        state=fake.state() if country.code == "US" else None,
        postal_code=fake.postcode(),
        country=country.code,
    )
    addresses = [billing]
    if rng.random() < 0.2:
        addresses.append(
            Address(
                type="shipping",
                street_1=fake.street_address(),
                street_2=rng.choice((None, "Lager 2", "Unit 4", "Tor 3")),
                city=fake.city(),
                postal_code=fake.postcode(),
                country=country.code,
            )
        )
    role = rng.random()
    return CanonicalContact(
        name=name,
        is_customer=role < 0.7,
        is_supplier=role >= 0.6,
        emails=tuple(emails),
        tax_number=vat_id(country.code, rng) if rng.random() < 0.85 else None,
        phones=tuple(phones),
        addresses=tuple(addresses),
        status="archived" if rng.random() < 0.05 else "active",
        currency=country.currency,
    )


def companies(seed: int, count: int) -> list[CanonicalContact]:
    """`count` companies, the same for the same `seed`, spread over DE, AT, GB, US, FR, NL."""
    rng = random.Random(seed)
    with _faker_lock:
        for i, country in enumerate(_COUNTRIES):
            _faker(country.locale).seed_instance(seed * 7919 + i)
        return [_company(i, rng) for i in range(count)]
