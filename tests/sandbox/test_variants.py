"""The sandbox really serves the shapes an account's `variant` names (so provider tests over them mean something)."""

from __future__ import annotations

import pytest

MERGE = "/api/accounting/v1"


def merge_get(api, token, path, **params):
    headers = {"Authorization": "Bearer k", "X-Account-Token": token}
    return api.get(MERGE + path, params=params, headers=headers)


def maesn_get(api, token, path, **params):
    return api.get(path, params=params, headers={"X-API-KEY": "k", "X-ACCOUNT-KEY": token})


def test_merge_variant_shapes(admin, api):
    variant = {
        "merge_next": "url",
        "merge_case": "lower",
        "merge_phones": "long_keys",
        "merge_country": "alpha3",
        "merge_time": "seconds",
        "merge_sparse": True,
        "merge_page_cap": 2,
    }
    token = admin.create_account(seed=5, count=6, variant=variant)
    body = merge_get(api, token, "/contacts", page_size=50).json()
    assert len(body["results"]) == 2 and body["next"].startswith("http") and "cursor=" in body["next"]
    item = body["results"][0]
    assert item["status"] == "active" and item["modified_at"].endswith("Z") and "." not in item["modified_at"]
    assert len(item["modified_at"]) == len("2026-01-01T00:00:00Z")
    assert "remote_was_deleted" not in item and "integration_params" in item
    assert all(set(p) == {"phone_number", "phone_number_type"} for p in item["phone_numbers"])
    assert all(len(a["country"]) == 3 for a in item["addresses"] if a.get("country"))
    assert admin.configure(token)["variant"] == variant


@pytest.mark.parametrize("mode", ["omit", "null"])
def test_merge_lazy_next_ends_on_an_empty_page(admin, api, mode):
    token = admin.create_account(seed=5, count=2, variant={"merge_lazy_next": True, "merge_empty_results": mode})
    first = merge_get(api, token, "/contacts", page_size=2).json()
    assert len(first["results"]) == 2 and first["next"]
    last = merge_get(api, token, "/contacts", page_size=2, cursor=first["next"]).json()
    assert last["next"] is None and (("results" not in last) if mode == "omit" else last["results"] is None)


def test_maesn_spring_pages_count_from_zero(admin, api):
    token = admin.create_account(seed=6, count=7, variant={"maesn_envelope": "content", "maesn_pagination": "spring"})
    first = maesn_get(api, token, "/accounting/contacts", limit=5).json()
    assert first["data"]["number"] == 0 and first["data"]["totalElements"] == 7 and len(first["data"]["content"]) == 5
    second = maesn_get(api, token, "/accounting/contacts", limit=5, page=1).json()
    assert len(second["data"]["content"]) == 2


def test_maesn_v2_fields_and_bare_list(admin, api):
    token = admin.create_account(seed=6, count=3, variant={"maesn_fields": "v2", "maesn_envelope": "bare"})
    items = maesn_get(api, token, "/accounting/customers", limit=5).json()
    assert isinstance(items, list) and items
    assert {"name", "updatedAt", "isCustomer"} <= set(items[0]) and "companyName" not in items[0]
    assert all(isinstance(e, str) for item in items for e in item["emailAddresses"])


def test_maesn_task_create_is_pending_then_completed(admin, api):
    token = admin.create_account(seed=6, count=0, variant={"maesn_create": "task"})
    headers = {"X-API-KEY": "k", "X-ACCOUNT-KEY": token}
    answer = api.post("/accounting/contacts", json={"companyName": "Async AG"}, headers=headers)
    assert answer.status_code == 202
    task = answer.json()["taskId"]
    assert maesn_get(api, token, f"/asyncTask/{task}").json()["data"]["status"] == "PENDING"
    done = maesn_get(api, token, f"/asyncTask/{task}").json()["data"]
    assert done["status"] == "COMPLETED" and done["resourceId"] == admin.contacts(token)[0]["remote_id"]
    assert maesn_get(api, token, "/asyncTask/unknown").status_code == 404


@pytest.mark.parametrize("form", ["nfc", "nfd"])
def test_texts_come_back_in_the_accounts_unicode_form_without_invisible_characters(admin, api, form):
    import unicodedata

    token = admin.create_account(seed=6, count=0, variant={"text_form": form, "text_invisible": "dropped"})
    name = "Mu\u0308ller\u200b Ba\u0308ckerei GmbH"  # decomposed ü and ä, a zero-width space
    headers = {"Authorization": "Bearer k", "X-Account-Token": token}
    created = api.post(MERGE + "/contacts", json={"model": {"name": name}}, headers=headers).json()["model"]
    listed = merge_get(api, token, "/contacts").json()["results"]
    maesn = maesn_get(api, token, "/accounting/contacts").json()["data"]
    want = unicodedata.normalize(form.upper(), "Müller Bäckerei GmbH")
    assert created["name"] == want and listed[0]["name"] == want and maesn[0]["companyName"] == want
    assert admin.contacts(token)[0]["name"] == "Müller\u200b Bäckerei GmbH"  # stored composed, as sent


def test_texts_are_served_as_stored_without_a_text_variant(admin, api):
    token = admin.create_account(seed=6, count=0)
    name = "Zero\u200bWidth GmbH"
    headers = {"Authorization": "Bearer k", "X-Account-Token": token}
    api.post(MERGE + "/contacts", json={"model": {"name": name}}, headers=headers).raise_for_status()
    assert merge_get(api, token, "/contacts").json()["results"][0]["name"] == name


def test_unstated_role_flags_are_null_at_merge_and_left_out_at_maesn_unless_the_list_says_them(admin, api):
    token = admin.create_account(seed=7, count=4, variant={"role_flags": "unstated"})
    merge = merge_get(api, token, "/contacts", page_size=50).json()["results"]
    assert len(merge) == 4 and all(i["is_customer"] is None and i["is_supplier"] is None for i in merge)
    v2 = maesn_get(api, token, "/accounting/v2/contacts").json()["data"]
    assert len(v2) == 4 and all("isCustomer" not in i and "isSupplier" not in i for i in v2)
    v1 = maesn_get(api, token, "/accounting/contacts").json()["data"]
    assert all("isCustomer" not in i and "isSupplier" not in i for i in v1)
    stated = admin.create_account(seed=7, count=4)
    assert all(isinstance(i["is_customer"], bool) for i in merge_get(api, stated, "/contacts").json()["results"])
    assert all(
        isinstance(i["isCustomer"], bool) for i in maesn_get(api, stated, "/accounting/v2/contacts").json()["data"]
    )


def test_phone_numbers_come_back_in_the_platforms_own_form(admin, api):
    token = admin.create_account(seed=8, count=0, variant={"phone_form": "e164"})
    model = {
        "name": "Bäckerei Nord GmbH",
        "phone_numbers": [{"number": "030 1234567", "phone_number_type": "WORK"}, {"number": "n/a"}],
        "addresses": [{"city": "Berlin", "country": "DE"}],
    }
    headers = {"Authorization": "Bearer k", "X-Account-Token": token}
    created = api.post(MERGE + "/contacts", json={"model": model}, headers=headers).json()["model"]
    listed = merge_get(api, token, "/contacts").json()["results"]
    maesn = maesn_get(api, token, "/accounting/contacts").json()["data"]
    for numbers in (
        [p["number"] for p in created["phone_numbers"]],
        [p["number"] for p in listed[0]["phone_numbers"]],
        [p["number"] for p in maesn[0]["phoneNumbers"]],
    ):
        assert numbers == ["+49301234567", "n/a"]  # a number that does not parse stays as written
    assert [p["number"] for p in admin.contacts(token)[0]["phones"]] == ["030 1234567", "n/a"]  # stored as sent
    plain = admin.create_account(seed=8, count=0)
    headers["X-Account-Token"] = plain
    served = api.post(MERGE + "/contacts", json={"model": model}, headers=headers).json()["model"]
    assert served["phone_numbers"][0]["number"] == "030 1234567"


def test_texts_come_back_trimmed_from_a_platform_that_trims(admin, api):
    token = admin.create_account(seed=9, count=0, variant={"text_spacing": "trimmed"})
    headers = {"Authorization": "Bearer k", "X-Account-Token": token}
    model = {"name": "  Nord   Handel GmbH ", "addresses": [{"street_1": "Hauptstr.  1 ", "city": "Kiel"}]}
    created = api.post(MERGE + "/contacts", json={"model": model}, headers=headers).json()["model"]
    listed = merge_get(api, token, "/contacts").json()["results"][0]
    maesn = maesn_get(api, token, "/accounting/contacts").json()["data"][0]
    assert created["name"] == listed["name"] == maesn["companyName"] == "Nord Handel GmbH"
    assert listed["addresses"][0]["street_1"] == "Hauptstr. 1"
    assert admin.contacts(token)[0]["name"] == "  Nord   Handel GmbH "  # stored as sent


def test_trimming_comes_after_invisible_characters_are_dropped(admin, api):
    token = admin.create_account(seed=9, count=0, variant={"text_spacing": "trimmed", "text_invisible": "dropped"})
    headers = {"Authorization": "Bearer k", "X-Account-Token": token}
    model = {"name": "Nord \u200b Handel\u200b GmbH"}
    created = api.post(MERGE + "/contacts", json={"model": model}, headers=headers).json()["model"]
    assert created["name"] == merge_get(api, token, "/contacts").json()["results"][0]["name"] == "Nord Handel GmbH"


def test_postal_codes_come_back_upper_cased_from_a_platform_that_keeps_them_so(admin, api):
    token = admin.create_account(seed=10, count=0, variant={"postal_form": "upper"})
    headers = {"Authorization": "Bearer k", "X-Account-Token": token}
    model = {
        "name": "Thames Trading Ltd",
        "addresses": [{"city": "London", "zip_code": "sw1a 1aa", "country": "GB"}],
    }
    created = api.post(MERGE + "/contacts", json={"model": model}, headers=headers).json()["model"]
    listed = merge_get(api, token, "/contacts").json()["results"][0]
    maesn = maesn_get(api, token, "/accounting/contacts").json()["data"][0]
    codes = [created["addresses"][0]["zip_code"], listed["addresses"][0]["zip_code"]]
    assert [*codes, maesn["addresses"][0]["postalCode"]] == ["SW1A 1AA"] * 3
    assert admin.contacts(token)[0]["addresses"][0]["postal_code"] == "sw1a 1aa"  # stored as sent


def test_lines_come_back_in_slot_order_from_a_platform_that_keeps_slots(admin, api):
    token = admin.create_account(seed=11, count=0, variant={"line_order": "slots"})
    headers = {"Authorization": "Bearer k", "X-Account-Token": token}
    model = {
        "name": "Nord Handel GmbH",
        "phone_numbers": [
            {"number": "030 1", "type": "WORK"},
            {"number": "0171 2", "type": "MOBILE"},
            {"number": "030 3", "type": "FAX"},
        ],
        "addresses": [{"type": "BILLING", "city": "Kiel"}, {"type": "SHIPPING", "city": "Lübeck"}],
    }
    created = api.post(MERGE + "/contacts", json={"model": model}, headers=headers).json()["model"]
    listed = merge_get(api, token, "/contacts").json()["results"][0]
    maesn = maesn_get(api, token, "/accounting/contacts").json()["data"][0]
    for item in (created, listed):
        assert [p["number"] for p in item["phone_numbers"]] == ["0171 2", "030 3", "030 1"]
        assert [a["city"] for a in item["addresses"]] == ["Lübeck", "Kiel"]
    assert [p["number"] for p in maesn["phoneNumbers"]] == ["0171 2", "030 3", "030 1"]
    stored = admin.contacts(token)[0]
    assert [p["number"] for p in stored["phones"]] == ["030 1", "0171 2", "030 3"]  # stored as sent
    assert [a["city"] for a in stored["addresses"]] == ["Kiel", "Lübeck"]


def test_addresses_come_back_without_the_parts_a_platform_does_not_keep(admin, api):
    token = admin.create_account(seed=12, count=0, variant={"address_parts": "short"})
    headers = {"Authorization": "Bearer k", "X-Account-Token": token}
    address = {"street_1": "1 Main St", "street_2": "Suite 4", "city": "Austin", "country_subdivision": "TX"}
    created = api.post(
        MERGE + "/contacts", json={"model": {"name": "Lone Star LLC", "addresses": [address]}}, headers=headers
    ).json()["model"]
    listed = merge_get(api, token, "/contacts").json()["results"][0]
    maesn = maesn_get(api, token, "/accounting/contacts").json()["data"][0]
    for served in (created["addresses"][0], listed["addresses"][0]):
        assert (served["street_1"], served["street_2"], served["state"]) == ("1 Main St", None, None)
    assert maesn["addresses"][0]["addressLine1"] == "1 Main St" and not maesn["addresses"][0].get("addressLine2")
    stored = admin.contacts(token)[0]["addresses"][0]
    assert (stored["street_2"], stored["state"]) == ("Suite 4", "TX")  # stored as sent
