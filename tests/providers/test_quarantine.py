"""Records that break the contract are quarantined one by one; the rest of their page still arrives."""

from __future__ import annotations

import pytest

from contactsync.providers.base import Window
from contactsync.sandbox.payloads import INVALID_UTF8

STAMP = "2026-01-02T03:04:05.000000Z"

MERGE_GOOD = {"id": "m-ok", "name": "Fine GmbH", "modified_at": STAMP}
MAESN_GOOD = {"id": "a-ok", "companyName": "Fine GmbH", "updatedDate": STAMP}

BROKEN = {
    "merge": [
        ({"name": "No Id GmbH", "modified_at": STAMP}, "id is missing"),
        ({**MERGE_GOOD, "id": "m1", "is_customer": "maybe"}, "is_customer should be true or false"),
        ({**MERGE_GOOD, "id": "m2", "status": "DORMANT"}, "status has unknown value 'DORMANT'"),
        ({**MERGE_GOOD, "id": "m3", "name": "x" * 10_000_000}, "name is 10,000,000 characters long"),
        ({**MERGE_GOOD, "id": "m4", "name": INVALID_UTF8}, "name is not valid UTF-8"),
        ({**MERGE_GOOD, "id": "m5", "modified_at": "yesterday"}, "modified_at is not a time"),
        ({**MERGE_GOOD, "id": "m6", "email_address": ["a@b.c"]}, "email_address should be a string"),
        ("just a string", "a contact should be an object"),
        ({**MERGE_GOOD, "id": "m7", "name": "Nul\x00 GmbH"}, "name contains a NUL character"),
        ({**MERGE_GOOD, "id": "m" * 256}, "id is 256 characters long (limit 255)"),
        ({**MERGE_GOOD, "id": "m8", "addresses": [{"city\x00": "Köln"}]}, "a key in addresses[0] contains a NUL"),
    ],
    "maesn": [
        ({"companyName": "No Id GmbH", "updatedDate": STAMP}, "id is missing"),
        ({**MAESN_GOOD, "id": "a1", "isSupplier": 7}, "isSupplier should be true or false"),
        ({**MAESN_GOOD, "id": "a2", "updatedDate": "last week"}, "updatedDate is not a time"),
        ({**MAESN_GOOD, "id": "a3", "vatId": "1" * 10_000_000}, "vatId is 10,000,000 characters long"),
        ({**MAESN_GOOD, "id": "a4", "companyName": INVALID_UTF8}, "companyName is not valid UTF-8"),
        ({**MAESN_GOOD, "id": "a5", "companyName": None}, "companyName (or name, or firstName/lastName) is missing"),
        ({**MAESN_GOOD, "id": "a6", "emailAddresses": 42}, "emailAddresses should be a list of objects or strings"),
        ({**MAESN_GOOD, "id": "a7", "companyName": "Nul\x00 GmbH"}, "companyName contains a NUL character"),
        ({**MAESN_GOOD, "id": "a\x00"}, "id contains a NUL character"),
    ],
}


@pytest.mark.parametrize("dialect", ["merge", "maesn"])
def test_each_broken_record_is_quarantined_with_a_readable_reason(admin, connect, dialect):
    token = admin.create_account(seed=31, count=3)
    for payload, _ in BROKEN[dialect]:
        admin.mutate(token, "broken", **{dialect: payload})
    admin.mutate(token, "add", contact={"name": "Added After The Broken Ones Ltd"})
    provider = connect(dialect, token)
    page = provider.fetch_page(Window(), None)
    assert page.next_token is None
    assert len(page.contacts) == 4
    assert "Added After The Broken Ones Ltd" in {c.name for c in page.contacts}
    assert len(page.quarantined) == len(BROKEN[dialect])
    for record, (_, reason) in zip(page.quarantined, BROKEN[dialect], strict=True):
        assert reason in record.reason
        assert len(record.excerpt) < 400
    ids = [q.remote_id for q in page.quarantined]
    assert ids[0] is None and ids[1] in ("m1", "a1")


def test_a_page_that_is_not_json_at_all_is_transient(sandbox):
    import httpx

    from contactsync.providers.base import ConnectionConfig
    from contactsync.providers.errors import Transient
    from contactsync.providers.merge import MergeProvider

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"<html>proxy error</html>"))
    provider = MergeProvider(ConnectionConfig("merge", "http://merge.invalid/api", "k", "t"), transport=transport)
    with pytest.raises(Transient):
        provider.fetch_page(Window(), None)
