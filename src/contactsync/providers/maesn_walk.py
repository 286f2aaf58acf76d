"""Walking Maesn's page-numbered lists so that a platform changing under the walk costs no row.

Each list (`/contacts`, or the supplier scan, `/customers` and `/suppliers` in "split") is read in keyset mode
first and falls back to page numbers with drift detection when the server does not keep the keyset contract;
`walk_rules` holds the decisions and says why. The page token is plain JSON (it is persisted after every page),
so a worker killed mid-walk resumes in the same mode, pass and place.

A walk that cannot finish raises `WalkIncomplete`: the fetch ends its run with the reason, the watermark stays
where it was, and the next scheduled run starts a new walk — never a retry of a token that cannot succeed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from contactsync.contact import CanonicalContact
from contactsync.providers import maesn_wire as wire
from contactsync.providers import records
from contactsync.providers.base import KnownRecords, Page, PageToken, RefusedRecord, WalkNotes, Window
from contactsync.providers.errors import NotFound, Permanent, RecordError, WalkIncomplete
from contactsync.providers.http import HttpCaller
from contactsync.providers.maesn_mapping import from_maesn
from contactsync.providers.walk_rules import (
    Action,
    Mode,
    Row,
    Signal,
    changed_during,
    group_to_reread,
    keyset_step,
    page_signals,
    pass_verdict,
)

log = logging.getLogger(__name__)

SCAN = "scan-suppliers"
TOKEN_VERSION = 2
_DATE_SLACK = timedelta(seconds=2)
# Set on a token, for the page being served only, where the walk goes back over rows it has read.
_WENT_BACK = "went_back"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_or_none(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _fresh_list(mode: Mode, since: str | None, base: int | None, passes: int = 1) -> dict[str, Any]:
    return {
        "mode": str(mode),
        "since": since,
        "page": base,
        "base": base,
        "first_total": None,
        "seen": [],
        "signals": [],
        "passes": passes,
        "requests": 0,
        "budget": None,
        "fp": None,
        "ties": [],
        "pass_started": None,
        "expect": None,
        # The `since` before the current one, and the one a shortfall last sent the walk back to.
        "prev": None,
        "from": "",
        # Tie groups read by page number: their change time -> [reading began, ended (None: going on)].
        "group": None,
        "groups": {},
        "rewinds": 0,
    }


class MaesnWalk:
    """The walking half of `MaesnProvider` (which sets these attributes)."""

    http: HttpCaller
    split: bool
    limit: int
    modified_param: str
    max_passes: int
    first_page: int | None
    scope: dict[str, str]
    list_prefix: str

    def fetch_page(
        self,
        window: Window,
        token: PageToken | None,
        known: KnownRecords | None = None,
        notes: WalkNotes | None = None,
    ) -> Page:
        # `known` is not used: a Maesn record's mapping depends on the list it came from (customers or suppliers).
        if token is None or token.get("v") != TOKEN_VERSION or (token.get("notes") and notes is None):
            # A token from an older walk format, or of a walk that kept its notes where they are not given now,
            # cannot be resumed faithfully: walk again (repeats are harmless).
            token = self._new_token(window, notes is not None)
        token = {**token, "list": dict(token["list"])}
        state = token["list"]
        phase = token["phases"][token["phase"]]
        resource = "suppliers" if phase == SCAN else phase
        mode = Mode(state["mode"])
        params = dict(token["params"])
        since = state["since"] if mode is Mode.KEYSET else token["window_after"]
        if since is not None:
            params[self.modified_param] = since
        asked_at = datetime.now(UTC)
        response, asked = self._list(resource, params, state["page"])
        if asked != state["page"]:
            state["page"] = state["base"] = asked
        # HTTP dates have whole seconds and servers cache them for up to a second, so this request was served
        # somewhere in [Date, Date + 2 s]; our own clock places it inside that range (and cannot move it outside,
        # however skewed). A change before a walk or pass began moved no row under it.
        date = _date_header(response)
        served_at = iso(min(max(asked_at, date), date + _DATE_SLACK)) if date is not None else iso(asked_at)
        token["served_at"] = served_at
        if token["started"] is None:
            token["started"] = served_at
        if state["pass_started"] is None:
            state["pass_started"] = served_at
        shape = wire.page_body(response)
        state["requests"] += 1
        if state["budget"] is None:
            pages = math.ceil((shape.total or 1000) / self.limit)
            state["budget"] = 10 + 3 * pages
        elif state["requests"] > state["budget"]:
            raise WalkIncomplete(
                f"maesn: /{resource} changed faster than it could be read ({state['requests']} requests)"
            )
        kept = notes if token.get("notes") and notes is not None else _NotesInToken(token)
        contacts, quarantined, rows = self._map(phase, shape.items, kept)
        if mode is Mode.KEYSET and state["ties"]:
            # `lastModified` is inclusive: rows stamped exactly `since` were emitted by the page before.
            tied = set(state["ties"])
            contacts = [c for c in contacts if c.remote_id not in tied or iso_or_none(c.modified_at) != since]
        started = _time(token["started"])
        if changed_during(rows, started):
            token["changed"] = True
        next_token = self._next(token, state, mode, rows, shape, resource)
        # `_next` marks the token where the walk goes back over rows it read (`Page.restarted`).
        restarted = bool(token.pop(_WENT_BACK, False))
        stamps = [c.modified_at for c in contacts if c.modified_at is not None]
        top = max(stamps) if stamps else None
        if top is not None and started is not None:
            top = min(top, started)
        infer = next_token is None and token["infer"] and not token["changed"]
        return Page(
            contacts,
            quarantined,
            next_token=next_token,
            max_modified_at=top,
            infer_deletions=infer,
            restarted=restarted,
        )

    def _new_token(self, window: Window, with_notes: bool = False) -> PageToken:
        after = iso(window.modified_after) if window.modified_after is not None else None
        phases = [SCAN, "customers", "suppliers"] if self.split else ["contacts"]
        return {
            "v": TOKEN_VERSION,
            "params": {"limit": self.limit, **self.scope},
            "window_after": after,
            "phases": phases,
            "phase": 0,
            "started": iso(window.modified_before) if window.modified_before else None,
            "changed": False,
            "infer": True,
            # A split walk's supplier ids and the ids in both lists: in `WalkNotes` when the walk was begun with
            # them, else in these lists (a walk of a caller that keeps no notes, or begun by an earlier release).
            "notes": with_notes,
            "suppliers": [],
            "both": [],
            "list": _fresh_list(Mode.KEYSET, after, self.first_page),
        }

    def _next(
        self,
        token: dict[str, Any],
        state: dict[str, Any],
        mode: Mode,
        rows: list[Row],
        shape: wire.Shape,
        resource: str,
    ) -> PageToken | None:
        """Move the token on after one page: the next page of this list, the next list, or None (walk done)."""
        base = state["base"]
        if base is None:
            base = shape.current if shape.current in (0, 1) and state["page"] is None else 1
            state["base"] = base
        if mode is Mode.KEYSET:
            page_no = state["page"] if state["page"] is not None else base
            served = len(shape.items)
            fingerprint = wire.fingerprint(shape.items)
            repeated = bool(served) and fingerprint == state["fp"]
            state["fp"] = fingerprint
            full = served >= self.limit or shape.more(page_no, base, self.limit)
            step = keyset_step(
                _time(state["since"]),
                rows,
                served=served,
                limit=served if full else served + 1,
                total=shape.total,
                expected=state["expect"],
            )
            if step.trusted and self._reread_group(state, rows, base):
                token[_WENT_BACK] = True
                return token
            if step.trusted and repeated:
                # The very page before, again, though only the page number changed: a server that ignores `page`.
                return self._list_done(token, pass_verdict(mode, set(), changed=True, passes=1, max_passes=1))
            if step.reason is Signal.ROWS_UNACCOUNTED and state["from"] != state["prev"]:
                # Fewer rows than predicted: rows deleted from the window while walking, or rows passed over. Read
                # again from where the last step began; a second shortfall on the same step is no coincidence.
                state.update(since=state["prev"], page=base, expect=None, ties=[], fp=None, **{"from": state["prev"]})
                token[_WENT_BACK] = True
                return token
            if not step.trusted:
                log.info("maesn: /%s not readable by change time (%s); by page number", resource, step.reason)
                first = state["requests"] == 1 and state["since"] == token["window_after"]
                began = state["pass_started"]
                token["list"] = state = {**_fresh_list(Mode.PAGES, None, base), "budget": state["budget"]}
                if not first:
                    token[_WENT_BACK] = True
                    return token
                # This page was the list's first page as a page-number pass reads it: go on from it.
                state["pass_started"] = began
                state["requests"] = 1
                mode = Mode.PAGES
            elif not step.done:
                new_since = iso(step.since) if step.since is not None else None
                tied = [row.id for row in rows if iso_or_none(row.changed_at) == new_since]
                same = new_since == state["since"]
                state["ties"] = sorted(set(tied) | set(state["ties"])) if same else tied
                if not same:
                    state["prev"] = state["since"]
                    if state["group"] is not None:
                        state["groups"][state["group"]][1] = token["served_at"]
                        state["group"] = None
                if step.same_since and state["group"] is None:
                    state["group"] = new_since
                    state["groups"][new_since] = [token["served_at"], None]
                state["since"] = new_since
                state["expect"] = step.expected
                state["page"] = (page_no if same else base) + 1 if step.same_since else base
                return token
            else:
                return self._list_done(
                    token, pass_verdict(mode, set(), changed=token["changed"], passes=1, max_passes=1)
                )
        served = shape.current if shape.current is not None else (state["page"] if state["page"] is not None else base)
        more = shape.more(served, base, self.limit)
        repeated = False
        if shape.total_pages is None and shape.total is None and shape.items:
            # No pagination to go by: a server that ignores `page` serves the same page again, which ends the
            # list (and is no drift: nothing moved, the server just has no second page to give).
            fingerprint = wire.fingerprint(shape.items)
            repeated = fingerprint == state["fp"]
            state["fp"] = fingerprint
            more = more and not repeated
        if not repeated:
            signals = page_signals(
                rows,
                seen=set(state["seen"]),
                first_total=state["first_total"],
                total=shape.total,
                started=_time(state["pass_started"]),
            )
            if signals:
                token["changed"] = True
            state["signals"] = sorted(set(state["signals"]) | {str(s) for s in signals})
            state["seen"] = [*state["seen"], *(row.id for row in rows)]
            if state["first_total"] is None:
                state["first_total"] = shape.total
        if more:
            state["page"] = served + 1
            return token
        verdict = pass_verdict(
            mode,
            {Signal(s) for s in state["signals"]},
            changed=token["changed"],
            passes=state["passes"],
            max_passes=self.max_passes,
        )
        if verdict.action is Action.REREAD:
            log.info("maesn: rows moved under the walk of /%s (%s); reading it again", resource, verdict.reason)
            token["list"] = {**_fresh_list(Mode.PAGES, None, base, state["passes"] + 1), "budget": None}
            token[_WENT_BACK] = True
            return token
        if verdict.action is Action.GIVE_UP:
            raise WalkIncomplete(f"maesn: /{resource}: {verdict.reason}")
        return self._list_done(token, verdict)

    def _reread_group(self, state: dict[str, Any], rows: list[Row], base: int) -> bool:
        """Send the walk back to a tie group read by page number while the platform changed
        (`walk_rules.group_to_reread`). True when the walk goes back."""
        groups = {_time(group): (_time(span[0]), _time(span[1])) for group, span in state["groups"].items()}
        group = group_to_reread(rows, groups)  # type: ignore[arg-type]
        if group is None:
            return False
        if state["rewinds"] >= self.max_passes:
            raise WalkIncomplete(f"maesn: rows stamped {iso(group)} kept moving while they were read")
        log.info("maesn: the platform changed while rows stamped %s were read; reading them again", group)
        key = iso(group)
        state.update(since=key, page=base, expect=None, ties=[], fp=None, group=None, prev=None)
        state["rewinds"] += 1
        state["groups"].pop(key, None)
        return True

    def _list_done(self, token: dict[str, Any], verdict: Any) -> PageToken | None:
        token["infer"] = token["infer"] and verdict.infer_deletions
        if token["phase"] + 1 < len(token["phases"]):
            token["phase"] += 1
            token["list"] = _fresh_list(Mode.KEYSET, token["window_after"], token["list"]["base"])
            return token
        return None

    def _map(
        self, phase: str, data: list[Any], notes: WalkNotes
    ) -> tuple[list[CanonicalContact], list[RefusedRecord], list[Row]]:
        contacts: list[CanonicalContact] = []
        quarantined: list[RefusedRecord] = []
        rows: list[Row] = []
        ids = [_record_id(record) for record in data]
        # Only what this page's records need: whether each is a supplier, or in both lists.
        page_ids = [i for i in ids if i is not None]
        suppliers = notes.noted("suppliers", page_ids) if phase == "customers" else set()
        both = notes.noted("both", page_ids) if phase in ("customers", "suppliers") else set()
        # Ids new to the lists, noted once after the page: a copy of a token's list the size of the tenant's
        # suppliers per record would make a long walk's pages ever slower.
        new_suppliers: list[str] = []
        new_both: list[str] = []
        for record, record_id in zip(data, ids, strict=True):
            try:
                if phase == SCAN:
                    contact = from_maesn(record, roles=(False, True))
                    rows.append(Row(contact.remote_id or "", contact.modified_at))
                    if record_id and record_id not in suppliers:
                        new_suppliers.append(record_id)
                        suppliers.add(record_id)
                    continue
                if phase == "customers":
                    contact = from_maesn(record, roles=(True, record_id in suppliers))
                    if record_id is not None and record_id in suppliers and record_id not in both:
                        new_both.append(record_id)
                        both.add(record_id)
                elif phase == "suppliers":
                    contact = from_maesn(record, roles=(False, True))
                    rows.append(Row(contact.remote_id or "", contact.modified_at))
                    if record_id in both:
                        continue
                else:
                    contact = from_maesn(record)
                if phase != "suppliers":
                    rows.append(Row(contact.remote_id or "", contact.modified_at))
                contacts.append(contact)
            except RecordError as error:
                if phase != SCAN:
                    quarantined.append(records.quarantined(record, error))
        if new_suppliers:
            notes.note("suppliers", new_suppliers)
        if new_both:
            notes.note("both", new_both)
        return contacts, quarantined, rows

    def _list(self, resource: str, params: dict[str, Any], page: int | None) -> tuple[httpx.Response, int | None]:
        """One list page; `page=None` lets the server pick its first page. A server that insists on a page
        number (400/422 without one) is asked again for page 1, the documented first page."""
        path = f"{self.list_prefix}/{resource}"
        if page is not None:
            return self.http.request("GET", path, params={**params, "page": page}), page
        try:
            return self.http.request("GET", path, params=params), None
        except Permanent as exc:
            if isinstance(exc, NotFound) or exc.status not in (400, 422):
                raise
            log.info("maesn: /%s wants a page number (%s); counting pages from 1", resource, exc.status)
            return self.http.request("GET", path, params={**params, "page": 1}), 1


def _date_header(response: httpx.Response) -> datetime | None:
    value = response.headers.get("date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _record_id(record: Any) -> str | None:
    return str(record.get("id")) if isinstance(record, dict) else None


class _NotesInToken:
    """`WalkNotes` kept in the page token's lists, for a walk begun without notes (a caller that keeps none, or a
    walk begun by an earlier release): each page's new ids are added to the lists once (rebound, never changed in
    place: the caller's token stays as it was)."""

    def __init__(self, token: PageToken) -> None:
        self.token = token

    def note(self, name: str, ids: Iterable[str]) -> None:
        held = set(self.token[name])
        new = [i for i in dict.fromkeys(ids) if i not in held]
        if new:
            self.token[name] = [*self.token[name], *new]

    def noted(self, name: str, ids: Collection[str]) -> set[str]:
        held = set(self.token[name])
        return {i for i in ids if i in held}
