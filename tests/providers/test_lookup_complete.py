"""Look-ups read every page and check filters on the client: "not among the first pages" is never "absent"."""

from __future__ import annotations

from typing import Any

import pytest

from contactsync.providers.errors import LookupIncomplete


def test_merge_search_reads_past_the_fifth_page_when_the_server_ignores_the_filter(admin: Any, connect: Any) -> None:
    token = admin.create_account(
        count=650, contacts=[{"name": "Last In Line GmbH", "emails": ["last@line.de"]}], faults={"ignore_filters": True}
    )
    provider = connect("merge", token)
    found = provider.search(name="Last In Line GmbH")
    assert [c.name for c in found] == ["Last In Line GmbH"]  # the other 650 held to the name on the client
    assert [c.name for c in provider.search(email="last@line.de")] == ["Last In Line GmbH"]
    assert admin.stats(token)["requests"]["GET /api/accounting/v1/contacts"] == 14  # 7 pages per look-up
    # Asked by name and email at once, the whole book is read once: the ignored filter showed in the first pass.
    assert [c.name for c in provider.search(name="Last In Line GmbH", email="last@line.de")] == ["Last In Line GmbH"]
    assert admin.stats(token)["requests"]["GET /api/accounting/v1/contacts"] == 21


def test_maesn_search_that_cannot_finish_is_unknown_not_absent(admin: Any, connect: Any) -> None:
    token = admin.create_account(count=250)
    provider = connect("maesn", token, search_pages=2)
    with pytest.raises(LookupIncomplete):
        provider.search(name="Nobody Here Ltd")
