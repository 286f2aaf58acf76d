"""How one side's copy of a company disagrees with the other's: typos, transliteration, id and phone formats."""

from __future__ import annotations

import random
import string

import phonenumbers


def typo(rng: random.Random, text: str) -> str:
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) < 4:
        return text
    i = rng.choice(letters[1:])
    op = rng.random()
    if op < 0.35:
        return text[:i] + text[i + 1 :]
    if op < 0.7:
        return text[:i] + rng.choice(string.ascii_lowercase) + text[i + 1 :]
    if op < 0.85 and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + text[i] + text[i:]


def transliterate(rng: random.Random, text: str) -> str:
    mapping = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "é": "e", "è": "e",
               "ç": "c", "à": "a", "ë": "e", "ï": "i"}  # fmt: skip
    strip = {"ä": "a", "ö": "o", "ü": "u", "ß": "ss", "Ä": "A", "Ö": "O", "Ü": "U"}
    table = mapping if rng.random() < 0.7 else {**mapping, **strip}
    return "".join(table.get(ch, ch) for ch in text)


def format_vat(rng: random.Random, vat: str, cc: str) -> str:
    if cc == "US":
        return rng.choice([f"{vat[:2]}-{vat[2:]}", vat])
    if cc == "CH":
        d = vat[3:]
        return rng.choice([f"CHE-{d[:3]}.{d[3:6]}.{d[6:]}", f"CHE-{d[:3]}.{d[3:6]}.{d[6:]} MWST", vat, d])
    body = vat[2:]
    style = rng.random()
    if style < 0.35:
        return vat
    if style < 0.6:
        return body  # prefix dropped; the country field says where
    if style < 0.8:
        return f"{vat[:2]} " + " ".join(body[i : i + 3] for i in range(0, len(body), 3))
    return vat.lower()


def format_phone(rng: random.Random, number: phonenumbers.PhoneNumber) -> str:
    fmt = rng.random()
    if fmt < 0.35:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    if fmt < 0.7:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if fmt < 0.85:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return "00" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def abbreviate_street(rng: random.Random, street: str) -> str:
    swaps = [("straße", "str."), ("strasse", "str."), ("Straße", "Str."), ("Street", "St."), ("Road", "Rd."),
             ("Avenue", "Ave"), ("avenue", "av."), ("straat", "str."), ("weg", "weg"), ("Lane", "Ln")]  # fmt: skip
    if rng.random() < 0.4:
        for long, short in swaps:
            if long in street:
                return street.replace(long, short)
    if rng.random() < 0.1:
        return street.replace("ß", "ss")
    return street
