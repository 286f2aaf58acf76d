"""Property-based calls of every operation in the OpenAPI spec (schemathesis, bounded examples): no input makes
the server answer 5xx, whether the key is the tenant's own or an admin's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from contactsync import db
from contactsync.api import create_app
from contactsync.contact import CanonicalContact
from contactsync.models import Tenant
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.tenants import upsert_tenant
from tests.api.conftest import make_key
from tests.conftest import fresh_env

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())


@pytest.fixture(scope="module")
def keys(servers: tuple[str, str], template_db: str, secret_key: str) -> Iterator[dict[str, str]]:
    """One database for the whole walk (a fresh one per operation would cost more than the calls)."""
    with pytest.MonkeyPatch.context() as mp, fresh_env(servers, template_db, secret_key, mp):
        with db.session() as s:
            upsert_tenant(
                s, "t1", name="T", dialect="merge", base_url="http://127.0.0.1:9", api_key="k", account_token="a"
            )
            upsert_app_contacts(s, "t1", [("c1", CanonicalContact(name="Some GmbH"))])
        yield {"admin": make_key(None), "tenant": make_key("t1")}


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_input_answers_5xx(case: schemathesis.Case, keys: dict[str, str]) -> None:
    if case.path_parameters is not None and "tenant_id" in case.path_parameters:
        # Deleting is tried on a tenant of its own, so t1 (and its key) serve every other operation.
        doomed = case.method == "DELETE" and case.path == "/v1/tenants/{tenant_id}"
        case.path_parameters["tenant_id"] = "t2" if doomed else "t1"
        with db.session() as s:
            if doomed and s.get(Tenant, "t2") is None:
                s.add(Tenant(id="t2", name="Doomed"))
    for key in (keys["tenant"], keys["admin"]):
        case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=[not_a_server_error])
