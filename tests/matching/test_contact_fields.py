import pytest

from contactsync.matching.normalise.addresses import (
    country_code,
    normalise_city,
    normalise_postal_code,
    normalise_street,
)
from contactsync.matching.normalise.emails import is_free_mail, normalise_email, split_emails
from contactsync.matching.normalise.phones import normalise_phone, split_phones


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("030 1234567", "DE", "+49301234567"),
        ("+49 (0)30 1234567", None, "+49301234567"),
        ("0049 30 123 45 67", "DE", "+49301234567"),
        ("+49-30-1234567", "GB", "+49301234567"),
        ("(212) 555-0123", "US", "+12125550123"),
        ("212.555.0123", "US", "+12125550123"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("01 42 68 53 00", "FR", "+33142685300"),
        ("044 668 18 00", "CH", "+41446681800"),
    ],
)
def test_phone_to_e164(raw: str, country: str | None, e164: str) -> None:
    assert normalise_phone(raw, country) == e164


def test_phone_without_region_falls_back_to_digits() -> None:
    assert normalise_phone("030 1234567") == "#0301234567"
    assert normalise_phone("12") is None


def test_several_phones_in_one_field() -> None:
    assert split_phones("030 1234567 / 0171 9876543", "DE") == ["+49301234567", "+491719876543"]


def test_email_case_and_idna() -> None:
    assert normalise_email(" Info@Müller-Bau.DE ") == "info@xn--mller-bau-q9a.de"
    assert normalise_email("mailto:John.Smith@Example.com") == "john.smith@example.com"
    assert normalise_email("not an email") is None
    assert split_emails("a@x.de; B@X.de, c@y.com") == ["a@x.de", "b@x.de", "c@y.com"]


def test_free_mail_domains() -> None:
    assert is_free_mail("gmail.com")
    assert is_free_mail("web.de")
    assert not is_free_mail("mueller-bau.de")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("DE", "DE"),
        ("deu", "DE"),
        ("Germany", "DE"),
        ("Deutschland", "DE"),
        ("Allemagne", "DE"),
        ("UK", "GB"),
        ("United Kingdom", "GB"),
        ("USA", "US"),
        ("Schweiz", "CH"),
        ("Österreich", "AT"),
        ("Nederland", "NL"),
        ("The Netherlands", "NL"),
        ("Atlantis", None),
        ("XX", None),
    ],
)
def test_country_codes(raw: str, code: str | None) -> None:
    assert country_code(raw) == code


def test_postal_codes() -> None:
    assert normalise_postal_code("D-80331") == "80331"
    assert normalise_postal_code("SW1A 1AA") == normalise_postal_code("sw1a1aa")
    assert normalise_postal_code("1012 AB") == "1012AB"


@pytest.mark.parametrize(
    "spellings",
    [
        ("Hauptstraße 12a", "Hauptstr. 12 a", "Hauptstrasse 12A", "HAUPTSTR 12a"),
        ("221B Baker Street", "221b Baker St.", "Baker St 221B"),
        ("12 rue de la Paix", "12, Rue de la Paix"),
        ("Bahnhofplatz 1", "Bahnhofpl. 1"),
    ],
)
def test_street_spellings(spellings: tuple[str, ...]) -> None:
    assert len({normalise_street(s) for s in spellings}) == 1


def test_street_numbers_are_separate() -> None:
    a, b = normalise_street("Hauptstraße 12"), normalise_street("Hauptstraße 14")
    assert a is not None and b is not None
    assert a.name == b.name and a.number != b.number


def test_city_transliteration() -> None:
    assert normalise_city("München") == normalise_city("Muenchen") == normalise_city("MUNCHEN")
    assert normalise_city("Köln") != normalise_city("Berlin")


def test_fast_idna_agrees_with_the_codec() -> None:
    from contactsync.matching.normalise.emails import idna_domain

    domains = ["müller-bau.de", "bäckerei-groß.de", "café.fr", "señor.es", "ÄRZTE.de", "xn--mller-kva.de",
               "münchen..de", "ø" * 70 + ".dk", "例え.jp", "straße.de", "ĳssel.nl", "a-ü-b.c-ö.de"]  # fmt: skip
    for domain in domains:
        try:
            expected: str | None = domain.encode("idna").decode("ascii")
        except UnicodeError:
            expected = None
        assert idna_domain(domain) == expected, domain
