"""What a platform keeps in its own form, or does not keep at all, with real workers: roles it does not state,
postal codes, countries, phone numbers and texts it rewrites, phone types it drops, lines it lists in its own
order. The first link writes such differences neither way, and an app edit of them goes out once and is not
chased."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from contactsync import db
from contactsync.contact import Phone
from contactsync.matching.normalise.phones import dialled
from contactsync.models import AppContact, Link, RemoteContact, WriteOp
from contactsync.models.base import utcnow
from contactsync.providers.countries import spellings
from contactsync.sandbox.seed import companies
from contactsync.store.contacts import upsert_app_contacts
from tests.conftest import Workers
from tests.pipeline import OLD, admin, contact_view, full_sync, platform_contacts, setup_tenant

pytestmark = pytest.mark.pipeline


def test_maesn_v1_roles_status_and_currency_stay_the_apps_on_a_first_link(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    """Maesn's v1 /contacts list says no roles and no status (they read as "no role" and "active"), and its write
    schema carries neither them nor a currency: a first link, the platform's clock the newer, must not take the
    platform's reading of them into the app, nor plan updates that cannot be written."""
    split, token = setup_tenant(sandbox, size=80, seed=21, dialect="maesn")
    admin(sandbox, token, "PATCH", variant={"maesn_fields": "documented"})
    given = {app_id: contact for app_id, contact in split.app}
    workers.start(1)
    run = full_sync(workers)
    assert run.status == "succeeded"
    with db.session() as s:
        linked = s.execute(
            select(AppContact.app_id, AppContact.data, Link.method).join(Link, Link.app_contact_id == AppContact.id)
        ).all()
    matched = [(app_id, data) for app_id, data, method in linked if method != "created"]
    assert len(matched) >= 10
    kept = [
        (data["is_customer"], data["is_supplier"], data["status"], data["currency"])
        == (given[app_id].is_customer, given[app_id].is_supplier, given[app_id].status, given[app_id].currency)
        for app_id, data in matched
    ]
    assert all(kept), f"{kept.count(False)} of {len(kept)} matched app contacts lost a role, status or currency"
    # Roles the platform cannot say were not what this test saw kept by chance
    assert any(given[app_id].is_customer or given[app_id].is_supplier for app_id, _ in matched)


ROLES = ("is_customer", "is_supplier")


def _an_app_edit_goes_out_once(workers: Workers, app_id: str, edited: Any) -> None:
    """The app edits one contact: the next run sends it (one update, nothing back to the app), and the run after
    finds nothing to do (whatever the platform made of it is not chased)."""
    with db.session() as s:
        upsert_app_contacts(s, "t1", [(app_id, edited)], updated_at=utcnow())
    second = full_sync(workers, full=False)
    assert second.status == "succeeded" and second.updated_remote == 1 and second.updated_app == 0
    third = full_sync(workers, full=False)
    assert third.status == "succeeded" and third.updated_remote == 0 and third.updated_app == 0


def _roles_cleared_on_the_platform_then_synced(sandbox: Any, token: str, workers: Workers) -> None:
    """Every platform contact edited after the app's contacts were stated (its roles cleared), then a full sync."""
    for row in platform_contacts(sandbox, token):
        admin(sandbox, token, "POST", "/mutate", op="edit", id=row["remote_id"], changes=dict.fromkeys(ROLES, False))
    workers.start(1)
    assert full_sync(workers).status == "succeeded"


@pytest.mark.parametrize(("dialect", "options"), [("merge", {}), ("maesn", {"api_version": "v2"})])
def test_roles_a_platform_does_not_state_are_never_taken_from_it(
    env: dict[str, str], workers: Workers, sandbox: Any, dialect: str, options: dict[str, Any]
) -> None:
    """A platform without customer and supplier flags: Merge hands them back null, a Maesn v2 server leaves them
    out, and writes of them are ignored. Its records, edited after the app's, must not read as "no role": every
    matched app contact keeps its roles on the first link, and what was sent and did not stick is not chased."""
    split, token = setup_tenant(
        sandbox,
        size=80,
        seed=29,
        dialect=dialect,
        options=options,
        faults={"ignored_on_write": list(ROLES)},
        variant={"role_flags": "unstated"},
    )
    given = dict(split.app)
    _roles_cleared_on_the_platform_then_synced(sandbox, token, workers)
    with db.session() as s:
        linked = s.execute(
            select(AppContact.app_id, AppContact.data, Link.method).join(Link, Link.app_contact_id == AppContact.id)
        ).all()
    matched = [(app_id, data) for app_id, data, method in linked if method != "created"]
    assert len(matched) >= 10 and any(given[a].is_customer or given[a].is_supplier for a, _ in matched)
    lost = [
        a
        for a, data in matched
        if (data["is_customer"], data["is_supplier"]) != (given[a].is_customer, given[a].is_supplier)
    ]
    assert lost == [], f"{len(lost)} of {len(matched)} matched app contacts lost a role"
    with db.session() as s:
        sent = [op.payload["changes"] for op in s.scalars(select(WriteOp).where(WriteOp.kind == "update"))]
    assert not [c for c in sent if set(c) & set(ROLES)]  # no edit of the app's: nothing sent to a first link
    # The app's API says which of a contact's values the platform does not hold
    customer = next(a for a, _ in matched if given[a].is_customer)
    view = contact_view(customer)
    assert "is_customer" in view["kept_apart"] and view["remote_id"]

    # The app makes a matched non-customer a customer: sent once, ignored by the platform, not chased after
    app_id = next(a for a, _ in matched if not given[a].is_customer)
    _an_app_edit_goes_out_once(workers, app_id, given[app_id].model_copy(update={"is_customer": True}))
    with db.session() as s:
        data = s.scalar(select(AppContact.data).where(AppContact.app_id == app_id))
    assert data is not None and data["is_customer"] is True


def test_roles_the_platform_keeps_for_itself_stay_the_apps_and_its_own_change_comes_in(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    """Xero sets its customer and supplier flags from invoices and bills, and its API cannot set them. A
    connection that says so (`read_only_fields`) keeps the app's roles on a first link although the platform's
    clock is newer and says "no role", never sends them, does not chase what a create could not set, and takes in
    the platform's own later change of one (an invoice made the contact a customer)."""
    split, token = setup_tenant(
        sandbox,
        size=80,
        seed=23,
        faults={"ignored_on_write": list(ROLES)},
        options={"read_only_fields": list(ROLES)},
    )
    # As Xero shows contacts without invoices or bills, edited after the app's contacts were stated.
    given = dict(split.app)
    _roles_cleared_on_the_platform_then_synced(sandbox, token, workers)
    with db.session() as s:
        linked = s.execute(
            select(AppContact.app_id, AppContact.data, Link.method, RemoteContact.remote_id)
            .join(Link, Link.app_contact_id == AppContact.id)
            .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
        ).all()
        sent_roles = [
            op.id
            for op in s.scalars(select(WriteOp).where(WriteOp.kind == "update"))
            if set(op.payload["changes"]) & set(ROLES)
        ]
    matched = [(app_id, data, rid) for app_id, data, method, rid in linked if method != "created"]
    assert len(matched) >= 10 and any(given[a].is_customer or given[a].is_supplier for a, _, _ in matched)
    lost = [
        a
        for a, data, _ in matched
        if (data["is_customer"], data["is_supplier"]) != (given[a].is_customer, given[a].is_supplier)
    ]
    assert lost == [], f"{len(lost)} of {len(matched)} matched app contacts lost a role"
    assert sent_roles == []
    created = [(a, rid) for a, _d, method, rid in linked if method == "created"]
    assert any(given[a].is_customer or given[a].is_supplier for a, _ in created)  # roles a create could not set

    # An invoice: the platform makes a matched contact that is no customer in the app one.
    app_id, _data, remote_id = next((a, d, r) for a, d, r in matched if not given[a].is_customer)
    admin(sandbox, token, "POST", "/mutate", op="edit", id=remote_id, changes={"is_customer": True})
    second = full_sync(workers, full=False)
    assert second.status == "succeeded"
    assert second.updated_remote == 0  # nothing chased: no role was written, none differs since the last sync
    with db.session() as s:
        data = s.scalar(select(AppContact.data).where(AppContact.app_id == app_id))
    assert data is not None and data["is_customer"] is True
    platform = {r["remote_id"]: r for r in platform_contacts(sandbox, token)}
    assert all(not platform[rid]["is_customer"] and not platform[rid]["is_supplier"] for _a, rid in created)


@pytest.mark.parametrize("app_newer", [False, True], ids=["platform-newer", "app-newer"])
def test_postal_codes_and_countries_a_platform_keeps_in_its_own_form_are_written_neither_way(
    env: dict[str, str], workers: Workers, sandbox: Any, app_newer: bool
) -> None:
    """The app keeps postal codes in lower case and countries by name; the platform hands codes back upper-cased
    and countries as ISO codes. The first link sends the addresses neither way, whichever clock is newer."""
    split, _token = setup_tenant(
        sandbox, size=80, seed=41, variant={"postal_form": "upper"}, app_updated_at=utcnow() if app_newer else OLD
    )

    def own_spelling(address: Any) -> Any:
        spelled = spellings(address.country) if address.country else None
        country = spelled[1] if spelled else address.country
        return address.model_copy(
            update={"postal_code": (address.postal_code or "").lower() or None, "country": country}
        )

    respelled = [(a, c.model_copy(update={"addresses": tuple(map(own_spelling, c.addresses))})) for a, c in split.app]
    with db.session() as s:
        # A second upsert needs a newer clock to be taken: the first was at `app_updated_at`
        upsert_app_contacts(s, "t1", respelled, updated_at=utcnow() if app_newer else OLD + timedelta(seconds=1))
    workers.start(1)
    assert full_sync(workers).status == "succeeded"
    with db.session() as s:
        linked = s.execute(
            select(AppContact.id, AppContact.app_id, AppContact.data, RemoteContact.data)
            .join(Link, Link.app_contact_id == AppContact.id)
            .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
            .where(Link.method != "created")
        ).all()
        sent = {
            op.app_contact_id
            for op in s.scalars(select(WriteOp).where(WriteOp.kind == "update"))
            if "addresses" in op.payload["changes"]
        }
    given = {a: c.model_dump(mode="json")["addresses"] for a, c in respelled}
    before = {a: c.model_dump(mode="json")["addresses"] for a, c in split.app}
    # Pairs whose addresses were the same as written before the app's respelling (lower-case codes, country
    # names), and now differ as written
    respelled_pairs = [
        (pk, app_id, data)
        for pk, app_id, data, remote in linked
        if before[app_id] == remote["addresses"] != given[app_id]
    ]
    assert len(respelled_pairs) >= 10
    assert [a for pk, a, _ in respelled_pairs if pk in sent] == []
    assert [a for _, a, data in respelled_pairs if data["addresses"] != given[a]] == []  # the app's spelling stays


@dataclass
class FirstSync:
    """A tenant after its first full sync: the app's contacts as the run began (`given`), the companies as the
    platform was seeded with them (`books`, by app id), the matcher's links and the fields of the updates
    planned (`_matched_pairs_and_updates`)."""

    token: str
    given: dict[str, Any]
    books: dict[str, Any]
    linked: list[Any]
    sent: dict[int, set[str]]

    def same_before(self, name: str) -> list[Any]:
        """The links (app pk, app id, app data, platform data, remote id) whose `name` lines were the same on both
        sides before the run."""
        return [
            entry
            for entry in self.linked
            if _written(self.given[entry[1]], name) == _written(self.books[entry[1]], name)
        ]

    def assert_written_neither_way(self, pairs: list[Any], name: str) -> None:
        """None of `pairs` (app pk, app id, app data, remote id) had `name` sent to the platform, and each app
        contact still holds its lines as the app gave them."""
        assert [a for pk, a, _, _ in pairs if name in self.sent.get(pk, ())] == [], name
        assert [a for _, a, data, _ in pairs if data[name] != _written(self.given[a], name)] == [], name


def _written(contact: Any, name: str) -> list[Any]:
    """A contact's phone lines or addresses as JSON."""
    return [line.model_dump(mode="json") for line in getattr(contact, name)]


def _first_sync(
    sandbox: Any,
    workers: Workers,
    *,
    seed: int,
    size: int,
    app_newer: bool,
    variant: dict[str, Any],
    dialect: str = "merge",
    options: dict[str, Any] | None = None,
) -> FirstSync:
    """A tenant of `size` companies on a platform of `variant`, the app's clock the newer or the older, synced."""
    split, token = setup_tenant(
        sandbox,
        size=size,
        seed=seed,
        dialect=dialect,
        options=options,
        variant=variant,
        app_updated_at=utcnow() if app_newer else OLD,
    )
    workers.start(1)
    assert full_sync(workers).status == "succeeded"
    linked, sent = _matched_pairs_and_updates()
    books = {f"app-{i:06d}": c for i, c in enumerate(companies(seed, size))}
    return FirstSync(token, dict(split.app), books, linked, sent)


def _matched_pairs_and_updates() -> tuple[list[Any], dict[int, set[str]]]:
    """The links the matcher made (app pk, app id, app data, platform data, remote id), and the fields of the
    updates planned for each app contact."""
    with db.session() as s:
        linked = s.execute(
            select(AppContact.id, AppContact.app_id, AppContact.data, RemoteContact.data, RemoteContact.remote_id)
            .join(Link, Link.app_contact_id == AppContact.id)
            .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
            .where(Link.method != "created")
        ).all()
        sent = {
            op.app_contact_id: set(op.payload["changes"])
            for op in s.scalars(select(WriteOp).where(WriteOp.kind == "update"))
        }
    return list(linked), sent


def _lines(contact: Any) -> list[str | None]:
    """A contact's phone lines as dialled from its first country."""
    country = next((a.country for a in contact.addresses if a.country), None)
    return [dialled(p.number, country) for p in contact.phones]


@pytest.mark.parametrize("app_newer", [False, True], ids=["platform-newer", "app-newer"])
def test_phone_lines_a_platform_keeps_in_its_own_form_are_written_neither_way(
    env: dict[str, str], workers: Workers, sandbox: Any, app_newer: bool
) -> None:
    """A platform that keeps numbers in its own form (E.164 here) holds the matched companies' lines written
    otherwise than the app does. The first link sends them neither way, whichever clock is newer (no request to
    the platform, no rewrite of the app's numbers); a new number the app sets goes out once, and the platform's
    form of it does not come back to the app as an edit."""
    run = _first_sync(sandbox, workers, seed=31, size=80, app_newer=app_newer, variant={"phone_form": "e164"})
    token, given, books, linked = run.token, run.given, run.books, run.linked
    # Matched pairs whose lines were the same on both sides but written otherwise (the platform's E.164 against
    # the app's form); the app copies of some hold a new number of their own, a real difference
    alike_pairs = [
        (pk, app_id, data, remote_id)
        for pk, app_id, data, remote, remote_id in linked
        if [p.number for p in given[app_id].phones] != [p["number"] for p in remote["phones"]]
        and _lines(given[app_id]) == _lines(books[app_id])
    ]
    assert len(alike_pairs) >= 10
    run.assert_written_neither_way(alike_pairs, "phones")
    if app_newer:
        return

    # The app sets a new number, in its own form: sent once; the platform's E.164 of it is no edit of the app's
    pk, app_id, _, remote_id = alike_pairs[0]
    moved = given[app_id].model_copy(update={"phones": (Phone(number="030 7654321", type="work"),)})
    _an_app_edit_goes_out_once(workers, app_id, moved)
    with db.session() as s:
        now = s.scalar(select(AppContact.data).where(AppContact.id == pk))
    assert now is not None and now["phones"] == [{"number": "030 7654321", "type": "work"}]
    stored = next(r for r in platform_contacts(sandbox, token) if r["remote_id"] == remote_id)
    assert [p["number"] for p in stored["phones"]] == ["030 7654321"]


@pytest.mark.parametrize("app_newer", [False, True], ids=["platform-newer", "app-newer"])
@pytest.mark.parametrize(
    ("dialect", "options", "variant"),
    [("merge", {}, {"merge_phones": "strings"}), ("maesn", {}, {"maesn_fields": "v2"})],
    ids=["merge", "maesn"],
)
def test_phone_types_a_platform_does_not_keep_are_neither_wiped_nor_sent(
    env: dict[str, str],
    workers: Workers,
    sandbox: Any,
    app_newer: bool,
    dialect: str,
    options: dict[str, Any],
    variant: dict[str, Any],
) -> None:
    """A platform that keeps no phone types (bare numbers: Merge's `phone_numbers` as strings, a Maesn server's
    `phoneNumbers` in v2's shape) holds the matched companies' lines without the app's types. The first link
    writes the lines neither way, whichever clock is newer: the app's types stay, and none goes out for nothing.
    A type the app then changes goes out once; a line the platform adds reaches the app without taking the type
    of the app's own line away."""
    run = _first_sync(
        sandbox, workers, seed=43, size=80, app_newer=app_newer, variant=variant, dialect=dialect, options=options
    )
    token, given, books, linked = run.token, run.given, run.books, run.linked

    # Matched pairs whose lines were the same on both sides before the run (the platform's as seeded), typed in
    # the app and handed back untyped by the platform
    untyped = [
        (pk, app_id, data, remote_id)
        for pk, app_id, data, remote, remote_id in linked
        if given[app_id].phones
        and all(p.type for p in given[app_id].phones)
        and all(p["type"] is None for p in remote["phones"])
        and _lines(given[app_id]) == _lines(books[app_id])
    ]
    assert len(untyped) >= 10
    run.assert_written_neither_way(untyped, "phones")
    if app_newer:
        return

    # The app types its first line otherwise: sent once, and the platform's untyped answer is no edit of the app's
    pk, app_id, _, _ = untyped[0]
    retyped = given[app_id].model_copy(
        update={"phones": (given[app_id].phones[0].model_copy(update={"type": "mobile"}), *given[app_id].phones[1:])}
    )
    _an_app_edit_goes_out_once(workers, app_id, retyped)
    with db.session() as s:
        now = s.scalar(select(AppContact.data).where(AppContact.id == pk))
    assert now is not None and now["phones"][0]["type"] == "mobile"

    # The platform adds a line to another such contact: taken in, the app's own line keeping its type
    pk, app_id, data, remote_id = untyped[1]
    added = {"number": "+49 30 5550999", "type": None}
    phones = [{"number": p["number"], "type": None} for p in data["phones"]]
    admin(sandbox, token, "POST", "/mutate", op="edit", id=remote_id, changes={"phones": [*phones, added]})
    assert full_sync(workers, full=False).status == "succeeded"
    with db.session() as s:
        now = s.scalar(select(AppContact.data).where(AppContact.id == pk))
    assert now is not None and now["phones"] == [*data["phones"], added]


def test_texts_a_platform_trims_are_written_neither_way(env: dict[str, str], workers: Workers, sandbox: Any) -> None:
    """The app's names carry extra and trailing spaces and a zero-width space, on a platform that trims what it
    stores and drops invisible characters. Newer in the app, on links confirmed by the same tax id, they are
    still not sent: the platform would only trim them again."""
    split, _token = setup_tenant(
        sandbox, size=80, seed=37, variant={"text_spacing": "trimmed", "text_invisible": "dropped"}
    )
    padded = [(a, c.model_copy(update={"name": f" {c.name.replace(' ', '  ')}\u200b "})) for a, c in split.app]
    with db.session() as s:
        upsert_app_contacts(s, "t1", padded, updated_at=utcnow())
    workers.start(1)
    assert full_sync(workers).status == "succeeded"
    with db.session() as s:
        confirmed = s.scalar(
            select(func.count()).select_from(Link).where(Link.method != "created", Link.basis == "identifier")
        )
        names_sent = [
            op.payload["changes"]["name"]
            for op in s.scalars(select(WriteOp).where(WriteOp.kind == "update"))
            if "name" in op.payload["changes"]
        ]
        kept = {app_id: data["name"] for app_id, data in s.execute(select(AppContact.app_id, AppContact.data))}
    assert confirmed >= 10
    # Only a name that differs in more than its spacing goes out (the demo's upper-cased app copies)
    assert [n for n in names_sent if n != n.upper()] == []
    assert all(kept[a] == c.name for a, c in padded)  # the app's own spelling stays the app's


@pytest.mark.parametrize("app_newer", [False, True], ids=["platform-newer", "app-newer"])
@pytest.mark.parametrize("dialect", ["merge", "maesn"])
def test_lines_a_platform_lists_in_its_own_order_are_written_neither_way(
    env: dict[str, str], workers: Workers, sandbox: Any, app_newer: bool, dialect: str
) -> None:
    """A platform that keeps one line per slot (Xero's, QuickBooks' phone and address slots) lists the matched
    companies' phones and addresses in its slot order, not the app's. The first link sends them neither way,
    whichever clock is newer (the app keeps its order, no request reorders the platform); a line the app adds
    goes out once, and the platform's order of it does not come back to the app as an edit."""
    variant = {"line_order": "slots"}
    run = _first_sync(sandbox, workers, seed=47, size=160, app_newer=app_newer, variant=variant, dialect=dialect)
    token, given = run.token, run.given

    # Matched pairs whose lines were the same on both sides before the run, listed by the platform in another order
    for name in ("phones", "addresses"):
        reordered = [
            (pk, app_id, data, remote_id)
            for pk, app_id, data, remote, remote_id in run.same_before(name)
            if [line["type"] for line in _written(given[app_id], name)] != [line["type"] for line in remote[name]]
        ]
        assert len(reordered) >= 3, name
        run.assert_written_neither_way(reordered, name)
    if app_newer:
        return

    # The app adds a fax line to a contact whose lines the platform lists otherwise: sent once, the platform's
    # order of the answer is no edit of the app's
    pk, app_id, _, remote_id = reordered[0]
    work = next(p for p in given[app_id].phones if p.type == "work")
    lines = (work, Phone(number="+49 30 7654321", type="fax"))
    _an_app_edit_goes_out_once(workers, app_id, given[app_id].model_copy(update={"phones": lines}))
    with db.session() as s:
        now = s.scalar(select(AppContact.data).where(AppContact.id == pk))
    assert now is not None and now["phones"] == [p.model_dump(mode="json") for p in lines]
    stored = next(r for r in platform_contacts(sandbox, token) if r["remote_id"] == remote_id)
    assert sorted(p["number"] for p in stored["phones"]) == sorted(p.number for p in lines)


@pytest.mark.parametrize("app_newer", [False, True], ids=["platform-newer", "app-newer"])
@pytest.mark.parametrize("dialect", ["merge", "maesn"])
def test_address_parts_a_platform_does_not_keep_are_neither_wiped_nor_sent(
    env: dict[str, str], workers: Workers, sandbox: Any, app_newer: bool, dialect: str
) -> None:
    """A platform that keeps one street line and no region hands the matched companies' addresses back without
    them. The first link writes the addresses neither way, whichever clock is newer: the app's second lines and
    states stay, and none goes out for nothing. A platform edit of one address comes in, the app keeping its
    parts of the address the platform did not change."""
    variant = {"address_parts": "short"}
    run = _first_sync(sandbox, workers, seed=53, size=160, app_newer=app_newer, variant=variant, dialect=dialect)
    token, given = run.token, run.given

    # Matched pairs whose addresses were the same on both sides before the run, with parts the platform drops
    short = [
        (pk, app_id, data, remote_id)
        for pk, app_id, data, _remote, remote_id in run.same_before("addresses")
        if any(a.street_2 or a.state for a in given[app_id].addresses)
    ]
    assert len(short) >= 3
    run.assert_written_neither_way(short, "addresses")
    if app_newer:
        return

    # The platform moves the billing address of a contact whose shipping address has a second line: the move
    # comes in, the shipping address keeps its line
    pk, _app_id, data, remote_id = next(
        entry for entry in short if len(entry[2]["addresses"]) == 2 and entry[2]["addresses"][1]["street_2"]
    )
    moved = {**data["addresses"][0], "street_1": "Neue Strasse 5", "street_2": None, "state": None}
    admin(
        sandbox, token, "POST", "/mutate", op="edit", id=remote_id, changes={"addresses": [moved, data["addresses"][1]]}
    )
    assert full_sync(workers, full=False).status == "succeeded"
    with db.session() as s:
        now = s.scalar(select(AppContact.data).where(AppContact.id == pk))
    assert now is not None and now["addresses"] == [moved, data["addresses"][1]]


def test_parts_only_the_platform_holds_fill_the_app_and_are_never_wiped(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    """The app holds less than the books: its copies have no postal codes, no second street lines and no phone
    types, and its clock is the newer. The first link sends none of those blanks (the books keep their parts)
    and fills the app's gaps from the platform, keeping the app's own form of what it has."""
    split, token = setup_tenant(sandbox, size=80, seed=59)
    given = dict(split.app)

    def sparse(contact: Any) -> Any:
        return contact.model_copy(
            update={
                "addresses": tuple(
                    a.model_copy(update={"postal_code": None, "street_2": None}) for a in contact.addresses
                ),
                "phones": tuple(p.model_copy(update={"type": None}) for p in contact.phones),
            }
        )

    with db.session() as s:
        upsert_app_contacts(s, "t1", [(a, sparse(c)) for a, c in split.app], updated_at=utcnow())
    workers.start(1)
    assert full_sync(workers).status == "succeeded"
    linked, sent = _matched_pairs_and_updates()
    books = {f"app-{i:06d}": c for i, c in enumerate(companies(59, 80))}
    same = [
        (pk, app_id, data, remote_id)
        for pk, app_id, data, _remote, remote_id in linked
        if given[app_id].addresses == books[app_id].addresses and given[app_id].phones == books[app_id].phones
    ]
    assert len(same) >= 10
    assert [a for pk, a, _, _ in same if sent.get(pk, set()) & {"addresses", "phones"}] == []
    stored = {r["remote_id"]: r for r in platform_contacts(sandbox, token)}
    for _pk, app_id, data, remote_id in same:
        kept = [(a["postal_code"], a["street_2"]) for a in stored[remote_id]["addresses"]]
        assert kept == [(a.postal_code, a.street_2) for a in books[app_id].addresses], app_id
        assert [(a["postal_code"], a["street_2"]) for a in data["addresses"]] == kept, app_id
        assert [p["type"] for p in data["phones"]] == [p.type for p in books[app_id].phones], app_id
        assert [p["number"] for p in data["phones"]] == [p.number for p in given[app_id].phones], app_id


@pytest.mark.parametrize("app_newer", [False, True], ids=["platform-newer", "app-newer"])
@pytest.mark.parametrize(("dialect", "words"), [("merge", "xero"), ("maesn", "maesn")])
def test_phone_types_a_platform_names_in_its_own_words_are_written_neither_way(
    env: dict[str, str], workers: Workers, sandbox: Any, app_newer: bool, dialect: str, words: str
) -> None:
    """A platform hands the matched companies' phone types back in its own words (Xero's DEFAULT for "work",
    Maesn's BUSINESS). The first link writes the phones neither way, whichever clock is newer, and the app keeps
    its words; an app line added afterwards goes out once, and the platform's word for its type is no edit."""
    variant = {"phone_words": words}
    run = _first_sync(sandbox, workers, seed=59, size=160, app_newer=app_newer, variant=variant, dialect=dialect)
    given = run.given

    # Matched pairs whose phones were the same on both sides before the run, their types in the platform's words
    reworded = [
        (pk, app_id, data, remote_id)
        for pk, app_id, data, remote, remote_id in run.same_before("phones")
        if sorted(str(p["type"]) for p in remote["phones"]) != sorted(str(p.type) for p in given[app_id].phones)
    ]
    assert len(reworded) >= 5
    run.assert_written_neither_way(reworded, "phones")
    if app_newer:
        return
    pk, app_id, _, remote_id = reworded[0]
    lines = (*given[app_id].phones, Phone(number="+49 30 7654321", type="fax"))
    _an_app_edit_goes_out_once(workers, app_id, given[app_id].model_copy(update={"phones": lines}))
    with db.session() as s:
        now = s.scalar(select(AppContact.data).where(AppContact.id == pk))
    assert now is not None and now["phones"] == [p.model_dump(mode="json") for p in lines]
    stored = next(r for r in platform_contacts(sandbox, run.token) if r["remote_id"] == remote_id)
    assert sorted(p["number"] for p in stored["phones"]) == sorted(p.number for p in lines)
