"""A record normalised once: every comparison and every blocking key reads from this, never from raw text.

Normalising is the expensive part per record (phone parsing, VAT validation, transliteration); comparing
prepared records is cheap string equality plus one or two rapidfuzz calls. Keeping the prepared form in a
flat slotted object of tuples and strings also keeps memory small when a batch holds a hundred thousand of them.
"""

from __future__ import annotations

from typing import Any

from contactsync.matching.normalise.addresses import (
    country_code,
    normalise_city,
    normalise_postal_code,
    normalise_street,
)
from contactsync.matching.normalise.emails import domain_of, is_free_mail, split_emails
from contactsync.matching.normalise.names import normalise_name
from contactsync.matching.normalise.persons import PersonName, loose_person, parse_person
from contactsync.matching.normalise.phones import split_phones
from contactsync.matching.normalise.taxids import TaxId, normalise_tax_id
from contactsync.matching.record import MatchRecord


class Prepared:
    """The normalised fields of one record (see the normalise modules for what each form means)."""

    __slots__ = (
        "city",
        "core",
        "country",
        "descriptors",
        "domains",
        "emails",
        "id",
        "legal",
        "person",
        "person_known",
        "phones",
        "postal",
        "sorted_core",
        "street",
        "street_number",
        "tax",
        "tokens",
    )

    def __init__(self, record: MatchRecord) -> None:
        self.id = record.id
        self.country = country_code(record.country) if record.country else None
        norm = normalise_name(record.name) if record.name else None
        self.tokens: tuple[str, ...] = norm.tokens if norm else ()
        self.core = " ".join(self.tokens)
        # One string object for both when word order cannot differ (pickling keeps the sharing, too).
        self.sorted_core = self.core if len(self.tokens) < 2 else " ".join(sorted(self.tokens))
        self.legal = norm.legal if norm else ""
        self.descriptors: tuple[str, ...] = norm.descriptors if norm else ()
        # A person's name parts: `person_known` when the name reads as a person's by itself (a known given
        # name or "Surname, Given"); otherwise a loose reading (first word given name) of a short name without
        # legal form, used only against a record whose name is known to be a person's.
        person = parse_person(record.name) if record.name else None
        self.person_known = person is not None
        self.person: PersonName | None = person or (loose_person(self.tokens) if norm and not norm.legal else None)
        self.tax: TaxId | None = normalise_tax_id(record.tax_number, self.country) if record.tax_number else None
        emails: list[str] = []
        for raw in (record.email, *record.emails):
            if raw:
                emails.extend(split_emails(raw))
        # Sorted, duplicate-free tuples rather than frozensets: a record rarely has more than one or two values,
        # and a one-element frozenset costs 216 bytes against a tuple's 48 (three such fields on every one of
        # a batch's records). Many records (people) have none: nothing is built for them.
        self.emails: tuple[str, ...] = ()
        self.domains: tuple[str, ...] = ()
        if emails:
            self.emails = tuple(sorted(set(emails)))
            self.domains = tuple(sorted({d for d in map(domain_of, emails) if not is_free_mail(d)}))
        phones: list[str] = []
        for raw_phone in (record.phone, *record.phones):
            if raw_phone:
                phones.extend(split_phones(raw_phone, self.country))
        self.phones: tuple[str, ...] = tuple(sorted(set(phones))) if phones else ()
        street = normalise_street(record.street) if record.street else None
        self.street = street.name if street else ""
        self.street_number = street.number if street else ""
        self.postal = (normalise_postal_code(record.postal_code) if record.postal_code else None) or ""
        self.city = (normalise_city(record.city) if record.city else None) or ""

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Batch workers pass their prepared left records to each other; a flat tuple of built-in values
        # pickles several times faster than the default slot-by-slot protocol.
        tax = None if self.tax is None else (self.tax.country, self.tax.number, self.tax.valid, self.tax.kind)
        return _restore, (tuple(getattr(self, s) for s in _PLAIN), tax)


_PLAIN = tuple(s for s in Prepared.__slots__ if s != "tax")


def _restore(values: tuple[Any, ...], tax: tuple[str, str, bool, str] | None) -> Prepared:
    p = Prepared.__new__(Prepared)
    for slot, value in zip(_PLAIN, values, strict=True):
        setattr(p, slot, value)
    p.tax = None if tax is None else TaxId(*tax)
    return p


def prepare(record: MatchRecord) -> Prepared:
    return Prepared(record)
