"""Country names come from phonenumbers' locale table, read without loading its geocoding data."""

from __future__ import annotations

import subprocess
import sys

from phonenumbers.geodata.locale import LOCALE_DATA

from contactsync.matching.normalise.addresses import _locale_data, country_code


def test_the_table_read_as_data_is_phonenumbers_own() -> None:
    assert dict(_locale_data()) == LOCALE_DATA


def test_names_in_several_languages_resolve() -> None:
    assert country_code("Deutschland") == "DE"
    assert country_code("Allemagne") == "DE"
    assert country_code("Österreich") == "AT"
    assert country_code("DEU") == "DE"
    assert country_code("Holland") == "NL"
    assert country_code("Atlantis") is None


def test_a_worker_does_not_load_the_geocoding_data() -> None:
    """The geocoding data is about 90 MB in every worker process and nothing of contactsync uses it."""
    code = "import sys, contactsync.worker, contactsync.matching; print('phonenumbers.geodata' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
