import pytest

from contactsync.matching.normalise.names import legal_family, normalise_name


@pytest.mark.parametrize(
    "spellings",
    [
        (
            "Müller Bau GmbH",
            "Mueller Bau G.m.b.H.",
            "MÜLLER BAU Gesellschaft mit beschränkter Haftung",
            "Muller Bau GmbH",
        ),
        ("Acme Ltd", "ACME Limited", "Acme Ltd."),
        ("Dupont S.A.R.L.", "SARL Dupont", "Dupont S.à r.l.", "Dupont Société à responsabilité limitée"),
        ("Jansen B.V.", "Jansen BV", "Jansen Besloten Vennootschap"),
        ("Smith & Sons Inc.", "Smith and Sons, Incorporated", "SMITH + SONS INC"),
        ("Schulz & Partner", "Schulz und Partner", "Schulz Partner"),
        ("Großmann Straßenbau AG", "Grossmann Strassenbau AG", "Großmann Straßenbau Aktiengesellschaft"),
        ("Österreichische Post AG", "Oesterreichische Post AG"),
    ],
)
def test_spellings_of_one_company_share_core_and_legal_form(spellings: tuple[str, ...]) -> None:
    norms = {normalise_name(s) for s in spellings}
    assert len({n.tokens for n in norms}) == 1, norms
    assert len({n.legal for n in norms}) == 1, norms


def test_legal_form_is_separated_from_the_core() -> None:
    n = normalise_name("Schmidt GmbH & Co. KG")
    assert n.tokens == ("schmidt",)
    assert n.legal == "gmbh co kg"


def test_different_legal_forms_stay_different() -> None:
    assert normalise_name("Müller AG").legal != normalise_name("Müller GmbH").legal
    assert legal_family("inc") == legal_family("corp")
    assert legal_family("gmbh") != legal_family("ag")


def test_holding_and_group_are_descriptors_not_core() -> None:
    holding = normalise_name("Acme Holding Ltd")
    assert holding.tokens == ("acme",)
    assert holding.descriptors == ("holding",)
    assert normalise_name("Bertelsmann Gruppe").tokens == ("bertelsmann",)


def test_a_name_made_only_of_a_descriptor_keeps_it() -> None:
    assert normalise_name("Holding AG").tokens == ("holding",)


def test_legal_form_word_inside_a_name_is_kept() -> None:
    # "Company" is a legal-form term, but only at the end of a name.
    assert normalise_name("Company Store GmbH").tokens == ("company", "store")
    assert normalise_name("Company").tokens == ("company",)


def test_transliteration_of_other_scripts() -> None:
    assert normalise_name("Société Générale SA").tokens == ("societe", "generale")
    assert normalise_name("Łódź Trading sp. z o.o.").tokens == ("lodz", "trading")
    assert normalise_name("Łódź Trading sp. z o.o.").legal == "spzoo"


def test_different_companies_do_not_collapse() -> None:
    assert normalise_name("Meier GmbH").tokens != normalise_name("Maier GmbH").tokens
    assert normalise_name("Müller Logistik GmbH").tokens != normalise_name("Müller Bau GmbH").tokens
