import pytest

from contactsync.matching.normalise.taxids import contradicts, normalise_tax_id, same_id


@pytest.mark.parametrize(
    ("raw", "country", "canonical"),
    [
        ("DE 136 695 976", None, "DE136695976"),
        ("de136695976", None, "DE136695976"),
        ("136695976", "DE", "DE136695976"),
        ("136.695.976", "de", "DE136695976"),
        ("GB 980 7806 84", None, "GB980780684"),
        ("980780684", "GB", "GB980780684"),
        ("XI 980 7806 84", None, "GB980780684"),
        ("CHE-116.281.710 MWST", None, "CH116281710"),
        ("CHE116281710", None, "CH116281710"),
        ("116281710", "CH", "CH116281710"),
        ("ATU13585627", None, "ATU13585627"),
        ("U13585627", "AT", "ATU13585627"),
        ("FR 40 303 265 045", None, "FR40303265045"),
        ("NL004495445B01", None, "NL004495445B01"),
        ("EL094259216", None, "GR094259216"),
        ("04-2103594", "US", "US042103594"),
    ],
)
def test_valid_ids_in_their_usual_spellings(raw: str, country: str | None, canonical: str) -> None:
    tax = normalise_tax_id(raw, country)
    assert tax is not None
    assert tax.valid
    assert tax.canonical == canonical


def test_invalid_checksum_is_kept_but_not_valid() -> None:
    tax = normalise_tax_id("DE123456789")
    assert tax is not None
    assert not tax.valid
    assert tax.number == "123456789"


def test_too_short_values_are_not_ids() -> None:
    assert normalise_tax_id("n/a") is None
    assert normalise_tax_id("-") is None


def test_prefix_optional_same_id() -> None:
    a = normalise_tax_id("DE136695976")
    b = normalise_tax_id("136695976")  # no prefix, no country known: not validated, still the same number
    assert a is not None and b is not None
    assert same_id(a, b)


def test_two_valid_different_ids_contradict() -> None:
    a = normalise_tax_id("DE136695976")
    b = normalise_tax_id("DE811569869")
    assert a is not None and b is not None and a.valid and b.valid
    assert contradicts(a, b)


def test_invalid_id_does_not_contradict() -> None:
    a = normalise_tax_id("DE136695976")
    b = normalise_tax_id("DE123456789")
    assert a is not None and b is not None
    assert not contradicts(a, b)


def test_same_number_other_country_is_not_the_same_id() -> None:
    a = normalise_tax_id("980780684", "GB")
    b = normalise_tax_id("980780684", "DE")
    assert a is not None and b is not None
    assert not same_id(a, b)


def test_fast_ein_check_agrees_with_stdnum() -> None:
    import random

    from stdnum.us import ein

    from contactsync.matching.normalise.taxids import ein_valid

    rng = random.Random(5)
    values = [f"{i:02d}{rng.randrange(10**7):07d}" for i in range(100)]
    values += ["".join(rng.choice("0123456789AB") for _ in range(rng.choice((8, 9, 10)))) for _ in range(300)]
    for value in values:
        assert ein_valid(value) == ein.is_valid(value), value
