"""Deciding what to write where, for one linked pair: plain functions over plain data.

The rules, and why:

- **Per field, which side changed since the last sync.** The link keeps a digest of every field on each side
  as it was at the last sync (`FieldBaseline`). A field only one side changed goes to the other side; a field
  neither side changed is left alone even if the two differ (an earlier decision stands). Where no per-field
  baseline exists yet, the whole-content hashes tell whether a side changed at all. An app edit undone before
  the next run (EUR, GBP, EUR) is still an edit: the app says when it edits, so each field's edit version is
  compared with the app version the baseline was taken at. The platform shows a sync states only; its undo
  between two walks is invisible to any sync.
- **A first link, or both sides changed the same field**, is a conflict decided by the app's own clock (the edit
  time that came with its data) against the platform's — or by the connection's `conflict_policy` ("app" or
  "platform") where one side is the master. An import time is not an edit time: where the app's clock is unknown,
  the platform wins, and on a first link nothing goes to the platform at all; only what the app changes
  afterwards does.
- **Unknown is not blank, and a blank is sent nowhere.** Fields the app never stated (a CSV without that column,
  an API call without that field) are taken from the platform and never sent. A blank value on either side
  receives the other side's value, with one exception: a value the platform held at the last sync and has
  cleared since (the pair's baseline says so) is a change, and the app's copy is cleared. A blank the platform
  always showed may be a field it does not keep, and is no news. The app's own clearing is not sent: how a
  platform reads a blank in an update (clear, leave as it is, or refuse) differs, and the books keep their value;
  a connection whose platform clears on a blank says so (`send_clears`), and then it goes out like any edit.
- **A write's answer is not the platform's word.** An API may answer a write with what it was sent rather than
  what the platform kept. While the platform's own edit time of the record is still the answer's, the next list's
  differences in the fields the write set are what the platform kept of it, not edits (`_kept_of_write`): a
  blank there is no clearing, and a value of the platform's own does not overwrite the app's.
- **A field the connection cannot write stays the app's.** It is never sent (Maesn's v1 schema has no currency,
  status or roles), and the platform's value is taken in only where the platform changed it since the
  last sync: such a platform may not state the field at all, and its default is not an edit.
- **Identity is guarded.** A platform contact's name and tax id are changed only on a confirmed link: a person's
  decision, our own create, or the same valid tax id on both sides. A link made by score alone may be a sister
  company; its identity fields are held. Two valid tax ids of the same kind and country that differ are two legal
  entities: the pair goes to review and nothing is written either way (unless a person accepted exactly this pair
  of ids).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from contactsync import jsontext
from contactsync.contact import SYNCED_FIELDS
from contactsync.matching.normalise.taxids import contradicts, same_id
from contactsync.sync.alike import alike, gaps_filled, silent_alike, tax_id_of

IDENTITY_FIELDS: tuple[str, ...] = ("name", "tax_number")


class LinkBasis(StrEnum):
    """How a link was made or last confirmed."""

    SCORE = "score"  # the matcher's score alone: may be a namesake or a sister company
    IDENTIFIER = "identifier"  # the same valid tax id on both sides
    CREATED = "created"  # the platform contact is the one our own create made
    PERSON = "person"  # a person's review decision


CONFIRMED_BASES = frozenset({LinkBasis.IDENTIFIER, LinkBasis.CREATED, LinkBasis.PERSON})

REVIEW_TAX_CONFLICT = "tax_id_conflict"


@dataclass(frozen=True)
class FieldBaseline:
    """Digest of every synced field on each side at the last sync, and the app contact's version then.

    The version is what tells an app edit back to the synced value (EUR, GBP, EUR again between two runs) from no
    edit at all: the digests are the same, the field's edit version (`PairState.app_edited`) is later. None where
    unknown (a baseline written before versions were kept, a lost create adopted after the app changed): the
    digests alone decide then.

    `answered`: the platform-side fields whose digest is a write's answer rather than a read of the platform,
    and `answered_at` the platform's own edit time in that answer. An answer may show what was sent rather than
    what the platform kept (an API that echoes its request); see `_kept_of_write`.
    """

    app: Mapping[str, str]
    remote: Mapping[str, str]
    app_version: int | None = None
    answered: frozenset[str] = frozenset()
    answered_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"app": dict(self.app), "remote": dict(self.remote)}
        if self.app_version is not None:
            doc["app_version"] = self.app_version
        if self.answered and self.answered_at is not None:
            doc["answered"] = sorted(self.answered)
            doc["answered_at"] = self.answered_at.isoformat()
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None) -> FieldBaseline | None:
        if not doc or "app" not in doc or "remote" not in doc:
            return None
        version = doc.get("app_version")
        app_version = None if version is None else int(version)
        at = doc.get("answered_at")
        return cls(
            app=dict(doc["app"]),
            remote=dict(doc["remote"]),
            app_version=app_version,
            answered=frozenset(doc.get("answered") or ()),
            answered_at=datetime.fromisoformat(at) if isinstance(at, str) else None,
        )

    def answered_by(self, fields: Iterable[str], at: datetime | None) -> FieldBaseline:
        """This baseline with `fields` of its platform side taken from a write's answer stating the platform's
        edit time `at`. Nothing is marked without one finer than a second: an edit made within the second of the
        write would show the same time."""
        if at is None or at.microsecond == 0:
            return self
        return dataclasses.replace(self, answered=frozenset(fields), answered_at=at)


@dataclass(frozen=True)
class PairState:
    app_content: dict[str, Any]
    app_hash: str
    # The app's own edit time, as it came with its data; None when unknown (e.g. a CSV without `updated_at`).
    app_updated_at: datetime | None
    remote_content: dict[str, Any]
    remote_hash: str
    remote_updated_at: datetime | None
    app_synced_hash: str | None
    remote_synced_hash: str | None
    remote_deleted: bool = False
    # newer | app | platform: who wins a field both sides changed to different values.
    conflict_policy: str = "newer"
    basis: LinkBasis = LinkBasis.SCORE
    # Fields the app never stated: taken from the platform, never sent.
    app_unknown: frozenset[str] = frozenset()
    baseline: FieldBaseline | None = None
    # (app tax id, platform tax id) a person saw differ and linked anyway.
    accepted_tax_ids: tuple[str, str] | None = None
    # Per field, the app contact version the app's last edit of it made (`AppContact.edited_fields`).
    app_edited: Mapping[str, int] = field(default_factory=dict)
    # Fields the connection cannot write (`providers.registry.written_fields`): never sent, and the platform's
    # value crosses to the app only where the platform changed it since the last sync.
    unwritable: frozenset[str] = frozenset()
    # The connection's `send_clears`: a value the app cleared since the last sync goes out as a blank.
    send_clears: bool = False
    # The platform's side as the dialect carries it, like `app_content` (None: `remote_content` is): what the two
    # sides are compared by. `remote_content` stays as mirrored, which the baselines' digests are taken of.
    remote_view: dict[str, Any] | None = None
    # The platform's own edit time as mirrored (Merge's `remote_updated_at`; no fallback to the unified API's
    # modification time, which moves when it syncs the record again). See `FieldBaseline.answered_at`.
    remote_edited_at: datetime | None = None
    # Fields the platform's record does not state (`CanonicalContact.unstated`): its value is the model's default.
    remote_unstated: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PairPlan:
    """Field values to write to each side; empty dicts mean nothing to write there."""

    to_remote: dict[str, Any] = field(default_factory=dict)
    to_app: dict[str, Any] = field(default_factory=dict)
    conflicts: tuple[str, ...] = ()
    # Identity fields the app changed that were not sent because the link is not confirmed.
    held: tuple[str, ...] = ()
    # Why the pair needs a person (e.g. REVIEW_TAX_CONFLICT); nothing is written while it is set.
    review: str | None = None

    @property
    def in_sync(self) -> bool:
        return not self.to_remote and not self.to_app


def is_blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def field_digest(value: Any) -> str:
    """A baseline is a digest per synced field of each side, for every pair planned and every answer recorded;
    the text hashed is the standard library's sorted compact JSON, as it always was (`jsontext.sorted_bytes`)."""
    return hashlib.sha256(jsontext.sorted_bytes(value, default=str)).hexdigest()[:16]


def digests(content: Mapping[str, Any], fields: Iterable[str] = SYNCED_FIELDS) -> dict[str, str]:
    return {name: field_digest(content.get(name)) for name in fields}


def baseline_of(
    app_content: Mapping[str, Any], remote_content: Mapping[str, Any], app_version: int | None = None
) -> FieldBaseline:
    """The baseline to store after a sync that left the two sides as given (the app side at `app_version`)."""
    return FieldBaseline(app=digests(app_content), remote=digests(remote_content), app_version=app_version)


def same_valid_tax_id(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Both sides hold the same checksum-valid tax id: an exact identifier match."""
    ta, tb = tax_id_of(a), tax_id_of(b)
    return ta is not None and tb is not None and ta.valid and tb.valid and same_id(ta, tb)


def tax_ids_contradict(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Both sides hold checksum-valid tax ids of the same kind and country that differ: two legal entities."""
    ta, tb = tax_id_of(a), tax_id_of(b)
    return ta is not None and tb is not None and contradicts(ta, tb)


def is_confirmed(state: PairState) -> bool:
    return state.basis in CONFIRMED_BASES or same_valid_tax_id(state.app_content, state.remote_content)


def accepted_pair(state: PairState) -> tuple[str, str]:
    return (str(state.app_content.get("tax_number") or ""), str(state.remote_content.get("tax_number") or ""))


def plan_pair(state: PairState) -> PairPlan:
    if (
        not state.remote_deleted
        and tax_ids_contradict(state.app_content, state.remote_content)
        and (state.basis != LinkBasis.PERSON or state.accepted_tax_ids != accepted_pair(state))
    ):
        return PairPlan(review=REVIEW_TAX_CONFLICT)
    app_changed = _changed_fields(state, app_side=True)
    remote_changed = _changed_fields(state, app_side=False)
    first_link = state.baseline is None and state.app_synced_hash is None
    if not first_link and not app_changed and not remote_changed:
        return PairPlan()
    to_remote: dict[str, Any] = {}
    to_app: dict[str, Any] = {}
    conflicts: list[str] = []
    view = state.remote_content if state.remote_view is None else state.remote_view
    for name in SYNCED_FIELDS:
        app_value, remote_value = state.app_content.get(name), state.remote_content.get(name)
        # Alike as the dialect carries them (a phone type "work" and Maesn's BUSINESS): nothing to write either way.
        # Lines the app edited since the last sync compare their types by word: its edit of a type goes out.
        if app_value == view.get(name) or alike(name, state.app_content, view, by_word=name in app_changed):
            continue
        if silent_alike(name, state.app_content, state.remote_content):
            # The platform leaves parts of the app's lines unsaid, a phone type or an address part
            # (`alike.silent_alike`; asked of the record as mirrored, as a dialect's view may fill a missing type
            # in, Maesn's with BUSINESS): as for a field it does not state, its silence never crosses to the app,
            # and the app's parts go out only where the app changed its lines since the last sync (a platform
            # that states no such part most likely keeps none).
            if name not in state.unwritable and name in app_changed:
                to_remote[name] = app_value
            continue
        if gaps_filled(name, state.app_content, state.remote_content):
            # The other way round: the app leaves parts of the platform's lines blank (no postal code, no phone
            # type; `alike.gaps_filled`). Like a blank field of the app's, they receive the platform's parts
            # (`store.ledger.taken_in` keeps the app's own, also those the platform leaves blank), whoever's clock
            # is newer, and the app's blanks never wipe the books' parts; only an app edit of the lines since the
            # last sync goes out as the app wrote it.
            if name in app_changed:
                if name not in state.unwritable:
                    to_remote[name] = app_value
            else:
                to_app[name] = remote_value
            continue
        if name in state.remote_unstated:
            # The platform's record does not say this field (Merge's null roles, a list that names no roles): the
            # mirror holds the model's default ("no role", "active"), which nobody stated, so it never crosses to
            # the app. The app's value goes out only where the app changed it since the last sync and the
            # connection can write it: a platform that states nothing most likely holds nothing, and sending every
            # first link's roles would cost a request per linked contact for nothing (it is no edit either).
            if name not in state.unwritable and name in app_changed:
                to_remote[name] = app_value
            continue
        if name in state.app_unknown or is_blank(app_value):
            # A blank the app set on purpose since the last sync is not refilled; any other one receives. A field
            # the app never stated holds what it took from the platform, so the platform's clearing of it too.
            cleared = not is_blank(app_value) and name in remote_changed and _stated_at_last_sync(state, name)
            if (not is_blank(remote_value) or cleared) and name not in app_changed:
                to_app[name] = remote_value
            elif _sends_clearing(state, name, remote_value, app_changed):
                # The app cleared a value the platform holds, and the connection sends clearings: like any edit,
                # against a platform edit of the field since the last sync the newer one wins.
                if name in remote_changed:
                    conflicts.append(name)
                if name in remote_changed and _platform_wins(state):
                    to_app[name] = remote_value
                else:
                    to_remote[name] = app_value
            continue
        if name in state.unwritable:
            # The app's value cannot reach the platform, and the platform may not state this field at all (a
            # Maesn v1 list says no roles and no status, which read as "no role" and "active"): a first link or a
            # conflict decided by clocks would overwrite the app with what the platform never said. Only a change
            # the platform made since the last sync is news (against an app edit too, the newer one wins); else
            # each side keeps its own.
            if name in remote_changed:
                if name in app_changed:
                    conflicts.append(name)
                if name not in app_changed or _platform_wins(state):
                    to_app[name] = remote_value
            continue
        if is_blank(remote_value):
            if name in remote_changed and _stated_at_last_sync(state, name):
                # The platform cleared a value it held at the last sync: a change like any other, which reaches
                # the app (against an app edit of the field too, the newer one wins). Only a blank the baseline
                # proves new is one: a blank the platform always showed may be a field it does not keep.
                if name in app_changed:
                    conflicts.append(name)
                if name not in app_changed or _platform_wins(state):
                    to_app[name] = remote_value
                    continue
            # Filling the platform's blank is still a write to the platform: only for a value the app stated
            # with a known clock, or changed since the last sync.
            if name in app_changed or (first_link and _app_clock_known(state)):
                to_remote[name] = app_value
            continue
        by_app, by_remote = name in app_changed, name in remote_changed
        if by_app and not by_remote:
            to_remote[name] = app_value
        elif by_remote and not by_app:
            to_app[name] = remote_value
        elif by_app or first_link:
            conflicts.append(name)
            if _platform_wins(state):
                to_app[name] = remote_value
            else:
                to_remote[name] = app_value
    held: list[str] = []
    if not is_confirmed(state):
        held = [name for name in IDENTITY_FIELDS if name in to_remote]
        for name in held:
            del to_remote[name]
    if state.remote_deleted:
        # A contact deleted on the platform is never written to again; the app still learns the last values.
        to_remote = {}
    return PairPlan(to_remote=to_remote, to_app=to_app, conflicts=tuple(conflicts), held=tuple(held))


def kept_apart(
    app_view: Mapping[str, Any],
    remote_view: Mapping[str, Any],
    unwritable: frozenset[str],
    unstated: frozenset[str],
    remote_content: Mapping[str, Any] | None = None,
    app_cleared: frozenset[str] = frozenset(),
) -> list[str]:
    """The synced fields on which a linked pair's sides differ and stay different by rule, not for want of a sync:
    the connection cannot write them (`unwritable`), or the platform's record does not state them (`unstated`;
    also lines it leaves parts of unsaid, phone types or address parts, `alike.silent_alike`, asked of
    `remote_content`, the record as mirrored, where given), or the app cleared them (`app_cleared`,
    `cleared_by_app`) and a blank is never sent. Both views as the dialect carries them
    (`providers.registry.carried_content`)."""
    mirrored = remote_view if remote_content is None else remote_content
    return [
        name
        for name in SYNCED_FIELDS
        if app_view.get(name) != remote_view.get(name)
        and not alike(name, app_view, remote_view)
        and (
            (
                (name in unwritable | unstated or silent_alike(name, app_view, mirrored))
                and not is_blank(app_view.get(name))
            )
            or (name in app_cleared and is_blank(app_view.get(name)) and not is_blank(remote_view.get(name)))
        )
    ]


def cleared_by_app(
    data: Mapping[str, Any], edited_fields: Mapping[str, Any], taken_in: Mapping[str, Any]
) -> frozenset[str]:
    """The fields an app contact holds blank by its own edit (`AppContact.edited_fields`), not by a platform's
    clearing taken in after it (`AppContact.taken_in`): blanks that planning neither sends nor refills."""
    cleared = set()
    for name in SYNCED_FIELDS:
        if not is_blank(data.get(name)) or name not in edited_fields:
            continue
        taken = taken_in.get(name)
        if not isinstance(taken, Mapping) or int(edited_fields[name]) >= int(taken.get("v", 0)):
            cleared.add(name)
    return frozenset(cleared)


def _changed_fields(state: PairState, *, app_side: bool) -> frozenset[str]:
    """Fields this side changed since the last sync (all of them when only whole-content hashes are known)."""
    content = state.app_content if app_side else state.remote_content
    current = state.app_hash if app_side else state.remote_hash
    synced = state.app_synced_hash if app_side else state.remote_synced_hash
    unknown = state.app_unknown if app_side else frozenset()
    edited_again = _edited_since_sync(state) if app_side else frozenset()
    if synced is not None and synced == current:
        return edited_again
    if state.baseline is None:
        if synced is None:
            return frozenset()  # never synced: a first link, decided by clocks, not by change
        return frozenset(SYNCED_FIELDS) - unknown
    before = state.baseline.app if app_side else state.baseline.remote
    unknown = unknown if app_side else _kept_of_write(state)
    return edited_again | frozenset(
        name for name in SYNCED_FIELDS if name not in unknown and before.get(name) != field_digest(content.get(name))
    )


def _kept_of_write(state: PairState) -> frozenset[str]:
    """Platform fields whose baseline is a write's answer, on a record the platform has not edited since (its own
    edit time is still the answer's): how the list shows them is what the platform kept of the write, not an
    edit. An API that echoes its request answers with values the platform never held (a field it does not keep,
    a name cut to its length, a flag it sets itself); read as edits, the next walk's blank would clear the app's
    value and the platform's own value would overwrite the app's. Once the edit time moves, the answer is compared
    as any baseline is: an edit made after the write cannot be told from what the write did not keep, and a real
    change is not left behind. The unified API's modification time is not asked: Merge's moves when it syncs a
    record it created again. An answer without an edit time finer than a second marks nothing
    (`FieldBaseline.answered_by`)."""
    base = state.baseline
    if base is None or not base.answered or base.answered_at is None or state.remote_edited_at != base.answered_at:
        return frozenset()
    return base.answered


_BLANKS: tuple[Any, ...] = (None, "", [])
_BLANK_DIGESTS = frozenset(field_digest(blank) for blank in _BLANKS)


def _stated_at_last_sync(state: PairState, name: str) -> bool:
    """The platform held a value of the field at the last sync, by the pair's per-field baseline (unknown
    without one: a first link, or a pair synced before baselines were kept)."""
    if state.baseline is None:
        return False
    before = state.baseline.remote.get(name)
    return before is not None and before not in _BLANK_DIGESTS


def _edited_since_sync(state: PairState) -> frozenset[str]:
    """Fields the app edited since the last sync, whatever their value now: an edit and its undo between two runs
    (EUR, GBP, EUR) leave the digest as it was, yet the app's EUR is newer than a platform edit made in between.

    Only the app side can be told so: the platform shows a run its states, not its edits."""
    version = state.baseline.app_version if state.baseline is not None else None
    if version is None:
        return frozenset()
    return frozenset(
        name
        for name, edited in state.app_edited.items()
        if name in SYNCED_FIELDS and name not in state.app_unknown and int(edited) > version
    )


def _sends_clearing(state: PairState, name: str, remote_value: Any, app_changed: frozenset[str]) -> bool:
    """The app's blank of the field is its own clearing since the last sync, of a value the platform holds, and
    the connection sends clearings (never a field the app did not state, or one the connection cannot write)."""
    return (
        state.send_clears
        and name in app_changed
        and name not in state.app_unknown
        and name not in state.unwritable
        and is_blank(state.app_content.get(name))
        and not is_blank(remote_value)
    )


def _app_clock_known(state: PairState) -> bool:
    return state.conflict_policy == "app" or (state.conflict_policy == "newer" and state.app_updated_at is not None)


def _platform_wins(state: PairState) -> bool:
    if state.conflict_policy in ("app", "platform"):
        return state.conflict_policy == "platform"
    if state.app_updated_at is None:
        return True  # the app's clock is unknown: an import time is not an edit time
    if state.remote_updated_at is None:
        return False
    return state.remote_updated_at > state.app_updated_at
