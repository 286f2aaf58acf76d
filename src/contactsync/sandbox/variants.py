"""Ways real implementations of the two APIs legitimately differ from the documented shapes, served on request.

An account's `variant` (admin API: `{"variant": {"maesn_envelope": "bare", ...}}`) makes the sandbox answer the
way another server would, so contract tests can prove over HTTP that the dialects read every shape they claim
to. The default for every key is the documented behaviour the rest of the sandbox serves. Keys and values:

Merge
- `merge_next`: "cursor" | "url" — `next` as a bare cursor or as the full URL of the next page.
- `merge_lazy_next`: true — a full page always names a next page, so a walk can end on an empty page.
- `merge_empty_results`: "list" | "omit" | "null" — how an empty page carries `results`.
- `merge_page_cap`: int — serve at most this many rows per page whatever `page_size` asked for.
- `merge_time`: "micro" | "seconds" | "offset" — `...05.123456Z`, `...05Z`, or `...05.123+00:00`.
- `merge_case`: "upper" | "lower" — enum values (status, address and phone types) upper or lower case.
- `merge_phones`: "objects" | "strings" | "long_keys" — `{number, type}`, bare strings, or
  `{phone_number, phone_number_type}`.
- `merge_country`: "alpha2" | "alpha3" | "name".
- `merge_sparse`: true — null fields and a false `remote_was_deleted` are left out; an unknown field is added.
- `merge_create_status`: 201 | 200.
- `merge_patch`: "model" | "no_content" — PATCH answers with the model, or 204 and no body.
- `merge_cursor_ttl`: seconds (a positive number) — a cursor older than this is refused with a 400 ("expired,
  restart from the first page"), as by APIs whose cursors point into a cached result or a server-side snapshot.
  Merge's own cursors are positions that keep; a walk resumed after a crash or a retry's wait meets this elsewhere.

Maesn
- `maesn_envelope`: "documented" | "bare" | "items" | "content" | "records" — `{data, meta}`, a bare list,
  `{data: {items: [...]}}`, `{data: {content: [...]}}` or `{records: [...]}`.
- `maesn_pagination`: "documented" | "none" | "counts" | "zero_based" | "spring" — `meta.pagination` as
  documented; nothing; `totalCount`/`pages`/`page`/`pageSize`; documented keys but pages counted from 0;
  Spring's `totalElements`/`totalPages`/`number`/`size`, also counted from 0.
- `maesn_fields`: "v1" | "v2" | "documented" — v2 writes `name`, `updatedAt`, bare email and phone strings,
  country names and `isCustomer`/`isSupplier` on every list; "documented" serves only the fields of Maesn's v1
  reference (no roles, status or currency on any list).
- `maesn_create`: "wrapped" | "bare" | "id" | "location" | "task" — the created record in `data`, bare, only
  its id, a 201 with only a `Location` header, or a `taskId` to poll at `/asyncTask/{taskId}` (done on the
  second poll).
- `maesn_update`: "wrapped" | "no_content".
- `maesn_order`: "updated" | "created" — lists in change-time order (an edit moves a row to the end, the default)
  or in creation order.
- `maesn_strict`: true — writes are checked against Maesn's documented v1/v2 schema (`sandbox.maesn_schema`);
  an unknown field, an off-enum value or a create without `contactType` is refused with 422.

Both dialects
- `text_form`: "as_stored" | "nfc" | "nfd" — every text the platform hands back (lists, look-ups, write answers)
  in this Unicode normalisation form: platforms store and return their own form of what was written (an ü as one
  code point or as u plus a combining diaeresis), not necessarily the one sent.
- `text_invisible`: "kept" | "dropped" — "dropped" leaves out the invisible format characters (zero-width spaces
  and joiners, direction marks) of every text, as a platform that cleans what it stores does.
- `text_spacing`: "as_stored" | "trimmed" — "trimmed" hands every text back without white space at its ends and
  with each run of it inside as one space, as a platform that trims what it stores does.
- `role_flags`: "stated" | "unstated" — "unstated" hands the customer and supplier flags back as nothing (Merge:
  null; Maesn: no `isCustomer`/`isSupplier`), as for a platform that has no such notion (pair it with the fault
  `ignored_on_write` for the roles: such a platform does not keep them either). A Maesn list that says the role
  (`/customers`, `/suppliers`) still says it.
- `phone_form`: "as_stored" | "e164" — every number handed back in E.164 (an extension as " x12"), as a platform
  that keeps country, area and line apart does; stored as sent.
- `postal_form`: "as_stored" | "upper" — every postal code handed back upper-cased, as platforms that keep UK,
  Dutch or Canadian codes in capitals do; stored as sent.
- `line_order`: "as_stored" | "slots" — phone lines and addresses handed back in the platform's slot order, not
  the order written: platforms that keep one line per slot (Xero's default, direct, mobile and fax numbers,
  QuickBooks' primary, mobile and fax phones and its billing and shipping addresses) list them in that order.
  Here: phones mobile, fax, work, home, then any other type; addresses shipping, billing, then the rest; stored
  as sent.
- `address_parts`: "as_stored" | "short" — every address handed back without its second street line and its
  region (null), as platforms that keep one street line and no state or province do; stored as sent.
- `phone_words`: "as_stored" | "xero" | "maesn" — phone types handed back in the platform's own words for them:
  Xero's slots (work DEFAULT, mobile MOBILE, fax FAX) or Maesn's enum (work BUSINESS, mobile MOBILE, fax FAX,
  home PRIVATE); any other type as stored. Stored as sent.
- `write_answer`: "stored" | "sent" — a write's answer shows the record as stored, or with the fields the request
  carried as they were sent: an API that echoes its request rather than reading back what the platform kept.
  With the fault `ignored_on_write`, the answer then shows values the platform never held, and the next list
  shows their absence.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from typing import TYPE_CHECKING, Any

import phonenumbers

from contactsync.contact import CanonicalContact
from contactsync.matching.normalise.phones import region_of
from contactsync.textform import visible

if TYPE_CHECKING:
    from contactsync.sandbox.state import StoredContact

CHOICES: dict[str, tuple[Any, ...]] = {
    "merge_next": ("cursor", "url"),
    "merge_lazy_next": (True, False),
    "merge_empty_results": ("list", "omit", "null"),
    "merge_time": ("micro", "seconds", "offset"),
    "merge_case": ("upper", "lower"),
    "merge_phones": ("objects", "strings", "long_keys"),
    "merge_country": ("alpha2", "alpha3", "name"),
    "merge_sparse": (True, False),
    "merge_create_status": (201, 200),
    "merge_patch": ("model", "no_content"),
    "maesn_envelope": ("documented", "bare", "items", "content", "records"),
    "maesn_pagination": ("documented", "none", "counts", "zero_based", "spring"),
    "maesn_fields": ("v1", "v2", "documented"),
    "maesn_create": ("wrapped", "bare", "id", "location", "task"),
    "maesn_update": ("wrapped", "no_content"),
    "maesn_order": ("updated", "created"),
    "maesn_strict": (True, False),
    "text_form": ("as_stored", "nfc", "nfd"),
    "text_invisible": ("kept", "dropped"),
    "text_spacing": ("as_stored", "trimmed"),
    "role_flags": ("stated", "unstated"),
    "phone_form": ("as_stored", "e164"),
    "postal_form": ("as_stored", "upper"),
    "line_order": ("as_stored", "slots"),
    "address_parts": ("as_stored", "short"),
    "phone_words": ("as_stored", "xero", "maesn"),
    "write_answer": ("stored", "sent"),
}
# `line_order` "slots": each type's slot; a type not listed comes after them, in the order written.
_PHONE_SLOTS = ("mobile", "fax", "work", "home")
_ADDRESS_SLOTS = ("shipping", "billing")
_PHONE_WORDS = {
    "xero": {"work": "DEFAULT", "mobile": "MOBILE", "fax": "FAX"},
    "maesn": {"work": "BUSINESS", "mobile": "MOBILE", "fax": "FAX", "home": "PRIVATE"},
}
_INTEGERS = ("merge_page_cap",)
_SECONDS = ("merge_cursor_ttl",)


def validate(variant: Any) -> dict[str, Any]:
    """The variant as given, or ValueError naming the first key or value the sandbox does not know."""
    if variant is None:
        return {}
    if not isinstance(variant, dict):
        raise ValueError("variant must be an object")
    for key, value in variant.items():
        if key in _INTEGERS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"variant {key} must be a positive integer")
        elif key in _SECONDS:
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < float("inf"):
                raise ValueError(f"variant {key} must be a positive number of seconds")
        elif key not in CHOICES:
            raise ValueError(f"unknown variant key {key!r}; known: {', '.join([*CHOICES, *_INTEGERS, *_SECONDS])}")
        elif value not in CHOICES[key]:
            raise ValueError(f"variant {key} must be one of {list(CHOICES[key])}, not {value!r}")
    return dict(variant)


def as_answered(stored: StoredContact, sent: dict[str, Any], variant: dict[str, Any] | None) -> StoredContact:
    """The record a write's answer shows: as stored, or with `write_answer` "sent" the request's fields as sent."""
    if not variant or variant.get("write_answer") != "sent" or not sent:
        return stored
    echoed = CanonicalContact.model_validate(stored.contact.model_dump(mode="json") | sent)
    return dataclasses.replace(stored, contact=echoed)


def unstate_roles(item: Any, variant: dict[str, Any] | None, keys: tuple[str, str], *, drop: bool) -> Any:
    """A rendered record without its role flags where `role_flags` is "unstated": left out (`drop`) or null."""
    if not variant or variant.get("role_flags") != "unstated" or not isinstance(item, dict):
        return item
    for key in keys:
        if drop:
            item.pop(key, None)
        elif key in item:
            item[key] = None
    return item


def own_form(stored: StoredContact, variant: dict[str, Any] | None) -> StoredContact:
    """The stored contact as a platform that keeps its own form of numbers and codes shows it: with `phone_form`
    "e164" each number in E.164 where it parses with the contact's first country (else as written), with
    `postal_form` "upper" each postal code upper-cased, with `address_parts` "short" no second street line and
    no region, with `line_order` "slots" phones and addresses in slot order, with `phone_words` each phone type in
    the platform's word for it."""
    if not variant:
        return stored
    contact = stored.contact
    update: dict[str, Any] = {}
    if variant.get("phone_form", "as_stored") != "as_stored" and contact.phones:
        country = next((a.country for a in contact.addresses if a.country), None)
        update["phones"] = tuple(p.model_copy(update={"number": _e164(p.number, country)}) for p in contact.phones)
    if variant.get("postal_form", "as_stored") != "as_stored" and contact.addresses:
        update["addresses"] = tuple(
            a.model_copy(update={"postal_code": a.postal_code.upper() if a.postal_code else a.postal_code})
            for a in contact.addresses
        )
    if variant.get("address_parts", "as_stored") != "as_stored":
        addresses = update.get("addresses", contact.addresses)
        update["addresses"] = tuple(a.model_copy(update={"street_2": None, "state": None}) for a in addresses)
    if variant.get("line_order", "as_stored") != "as_stored":
        phones = update.get("phones", contact.phones)
        addresses = update.get("addresses", contact.addresses)
        update["phones"] = tuple(sorted(phones, key=lambda p: _slot(p.type, _PHONE_SLOTS)))
        update["addresses"] = tuple(sorted(addresses, key=lambda a: _slot(a.type, _ADDRESS_SLOTS)))
    if variant.get("phone_words", "as_stored") != "as_stored":
        words = _PHONE_WORDS[variant["phone_words"]]
        phones = update.get("phones", contact.phones)
        update["phones"] = tuple(
            p.model_copy(update={"type": words.get((p.type or "").casefold(), p.type)}) for p in phones
        )
    if not update:
        return stored
    return dataclasses.replace(stored, contact=contact.model_copy(update=update))


def _slot(kind: str | None, slots: tuple[str, ...]) -> int:
    """The slot a line of this type sits in, whatever the type's case (`sorted` keeps lines of one slot in the
    order written)."""
    kind = (kind or "").casefold()
    return slots.index(kind) if kind in slots else len(slots)


def _e164(number: str, country: str | None) -> str:
    try:
        parsed = phonenumbers.parse(number, region_of(country))
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    line = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return f"{line} x{parsed.extension}" if parsed.extension else line


def retext(item: Any, variant: dict[str, Any] | None) -> Any:
    """A rendered record with its texts in the account's `text_form`, without invisible characters where
    `text_invisible` drops them and trimmed where `text_spacing` says so (keys are left as they are; ASCII texts
    only lose their extra white space: no form changes them)."""
    if not variant:
        return item
    form = variant.get("text_form", "as_stored")
    drop = variant.get("text_invisible") == "dropped"
    trim = variant.get("text_spacing") == "trimmed"
    if form == "as_stored" and not drop and not trim:
        return item

    def text(value: str) -> str:
        if not value.isascii():
            if form != "as_stored":
                value = unicodedata.normalize(form.upper(), value)
            if drop:
                value = visible(value)
        # After the invisible characters are gone: a zero-width space between two spaces leaves a run of them.
        return " ".join(value.split()) if trim else value

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return text(value)
        if isinstance(value, dict):
            return {key: walk(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [walk(inner) for inner in value]
        return value

    return walk(item)
