"""Seeded companies: deterministic, fast, and realistic enough to exercise matching honestly."""

from __future__ import annotations

from collections import Counter

from stdnum import vatin
from stdnum.us import ein

from contactsync.sandbox.seed import companies


def test_same_seed_same_companies_other_seed_other_companies():
    assert companies(7, 60) == companies(7, 60)
    assert companies(7, 20) == companies(7, 60)[:20]
    assert companies(8, 60) != companies(7, 60)


def test_five_thousand_companies_are_distinct_and_prefix_stable():
    # How fast seeding is belongs in the benchmarks; here: a large batch is complete, its names and tax ids
    # do not collapse onto a few values, and a longer batch extends a shorter one with the same seed.
    batch = companies(1, 5000)
    assert len(batch) == 5000
    assert batch[:1200] == companies(1, 1200)
    assert len({c.name for c in batch}) > 4500
    taxed = [c.tax_number for c in batch if c.tax_number is not None]
    assert len(taxed) > 3000 and len(set(taxed)) == len(taxed)


def test_companies_look_like_companies_from_six_countries():
    batch = companies(11, 1200)
    countries = Counter(c.addresses[0].country for c in batch)
    assert set(countries) == {"DE", "AT", "GB", "US", "FR", "NL"}
    assert min(countries.values()) > 100
    for contact in batch:
        country = contact.addresses[0].country
        domain = contact.emails[0].split("@")[1]
        assert all(email.endswith("@" + domain) for email in contact.emails)
        assert contact.phones and contact.currency in ("EUR", "GBP", "USD")
        assert contact.is_customer or contact.is_supplier
        if contact.tax_number is None:
            continue
        if country == "US":
            assert ein.is_valid(contact.tax_number), contact.tax_number
        else:
            assert vatin.is_valid(contact.tax_number), contact.tax_number
            assert contact.tax_number.startswith(country)
    assert sum(c.tax_number is not None for c in batch) > 900
    assert 10 < sum(c.status == "archived" for c in batch) < 150
    assert sum(c.is_customer and c.is_supplier for c in batch) > 50
    assert len({c.name for c in batch}) > 1150
    legal = ("GmbH", "AG", "Ltd", "Limited", "PLC", "Inc.", "LLC", "SARL", "SAS", "B.V.", "OG", "e.U.")
    assert sum(any(form in c.name for form in legal) for c in batch) > 600
