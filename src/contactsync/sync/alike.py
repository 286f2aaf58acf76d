"""The same value written differently: not worth a write either way.

Platforms keep their own form of what they store (Xero splits a phone number into country, area and line, others
re-space it, upper-case postal codes, trim texts, drop zero-width spaces), so comparing the sides as written would
send every first link's values one way or the other, and a platform's reformatting would come back to the app as
an edit nobody made. Planning (`sync.planning`) asks `alike` before it writes a field; the platform check and the
soak ask it before they call a pair's sides different.

Inside phone lines and addresses, a part one side leaves blank is no value either, as a blank field is not: the
platform's silence (a phone type, a second street line it does not keep, `silent_alike`) never wipes the app's
part, and the app's (a postal code it never had, `gaps_filled`) never wipes the books'; `with_app_types` and
`with_app_places` make what is taken into the app keep the app's own parts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from contactsync.matching.normalise.addresses import country_code, normalise_postal_code
from contactsync.matching.normalise.phones import dialled, phone_kind
from contactsync.matching.normalise.taxids import TaxId, normalise_tax_id
from contactsync.textform import visible


def alike(name: str, app: Mapping[str, Any], remote: Mapping[str, Any], *, by_word: bool = False) -> bool:
    """Whether the field holds the same value on both sides, as written or written differently: the same tax id
    with other spacing or prefix, the same emails in other case, the same phone lines in another format ("030
    1234567" for a Berlin contact and "+49301234567"; an extension counts; a type in other case or in a platform's
    own word for that kind of line, "BUSINESS" or "DEFAULT" for "work"), addresses with
    the same postal code in other case or spacing and the same country spelled otherwise ("sw1a 1aa", "United
    Kingdom" and "SW1A 1AA", "GB"), any text with other white space or without invisible format characters.

    Phone lines and addresses may be listed in another order: each carries its type, and platforms that keep one
    line per slot (Xero's default, mobile and fax numbers, QuickBooks' billing and shipping addresses) list them
    in their slot order, whatever order was written. Emails keep their order: the first is the one a platform
    with a single address keeps.

    `by_word`: phone types compare by their words (case and spacing aside), not by the kind of line they name.
    Planning asks so for lines the app edited since the last sync: the app's move of a line from "work" to
    "office" is its edit and goes out, though both name a work line."""
    mine, theirs = _spaced(app.get(name)), _spaced(remote.get(name))
    if mine == theirs:
        return True
    if name == "tax_number":
        ta, tb = tax_id_of(app), tax_id_of(remote)
        return ta is not None and tb is not None and ta.canonical == tb.canonical
    if name == "emails":
        return [str(e).casefold() for e in mine or ()] == [str(e).casefold() for e in theirs or ()]
    if name == "phones":
        # `dialled` reads past the number's spacing; a type in other case or words is the same type (`_kind`).
        return _paired_lines(app, remote, by_word=by_word) is not None
    if name == "addresses":
        return _paired(mine or [], theirs or [], _same_place) is not None
    return False


_BLANK = (None, "")


def _paired(
    lines: Sequence[Any], others: Sequence[Any], same: Callable[[Any, Any], bool]
) -> list[tuple[Any, Any]] | None:
    """Each of `lines` paired with one of `others` that is `same`, in any order; None unless all pair off.

    Taking the first unpaired match is enough (no search over pairings) where `same` is an equivalence (equal
    once normalised): any two matches of a line are interchangeable (`_paired_loosely` for looser relations)."""
    if len(lines) != len(others):
        return None
    left = list(others)
    pairs = []
    for line in lines:
        at = _first(left, line, same)
        if at is None:
            return None
        pairs.append((line, left.pop(at)))
    return pairs


def _first(pool: Sequence[Any], line: Any, same: Callable[[Any, Any], bool]) -> int | None:
    """Where in `pool` the first entry `same` as `line` stands (None: no entry is)."""
    return next((i for i, other in enumerate(pool) if same(line, other)), None)


def _same_place(a: Any, b: Any, *, blanks: tuple[bool, bool] = (False, False)) -> bool:
    """Two addresses (already `_spaced`) that differ at most in how the postal code and the country are written.
    `blanks`: whether the first, the second may also leave parts blank that the other states."""
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return False
    for key in a.keys() | b.keys():
        mine, theirs = a.get(key), b.get(key)
        if mine == theirs or (blanks[0] and mine in _BLANK) or (blanks[1] and theirs in _BLANK):
            continue
        if not isinstance(mine, str) or not isinstance(theirs, str):
            return False
        if key == "postal_code" and normalise_postal_code(mine) == normalise_postal_code(theirs):
            continue
        if key == "country" and (country_code(mine) or mine.casefold()) == (country_code(theirs) or theirs.casefold()):
            continue
        return False
    return True


def _spaced(value: Any) -> Any:
    """Texts as a reader sees them: white space runs as one space and none at the ends, no invisible format
    characters; lists and objects part by part."""
    if isinstance(value, str):
        return " ".join(visible(value).split())
    if isinstance(value, Mapping):
        return {key: _spaced(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_spaced(inner) for inner in value]
    return value


def silent_alike(name: str, app: Mapping[str, Any], remote: Mapping[str, Any]) -> bool:
    """The same phone lines or addresses on both sides (in any order), but that the platform leaves parts of them
    unsaid that the app states: a phone type (null), an address part (blank).

    Merge's phone type is nullable and some platforms keep none (a list of bare numbers); many keep one street
    line and no region. Their silence is no value, like a field a record does not state
    (`CanonicalContact.unstated`) or a field the platform leaves blank: planning neither takes it into the app
    nor sends the app's parts on a first link for it; only an app edit of the lines goes out."""
    paired = _paired_with_blanks(name, app, remote, (False, True))
    return paired is not None and any(_leaves_out(name, a, b) for a, b in paired)


def gaps_filled(name: str, app: Mapping[str, Any], remote: Mapping[str, Any]) -> bool:
    """The same phone lines or addresses on both sides (in any order) but for parts either side leaves blank,
    where the platform states parts the app leaves blank: an app address without the postal code the books
    hold, an app line without the platform's type. Planning takes such parts into the app (`with_app_places`,
    `with_app_types` keep the app's own) and never sends the app's blanks over them on a first link."""
    paired = _paired_with_blanks(name, app, remote, (True, True))
    return paired is not None and any(_leaves_out(name, b, a) for a, b in paired)


def _paired_with_blanks(
    name: str, app: Mapping[str, Any], remote: Mapping[str, Any], blanks: tuple[bool, bool]
) -> list[tuple[Any, Any]] | None:
    """The phone lines or addresses paired where the app's, the platform's may leave parts blank (`blanks`)."""
    if name == "phones":
        return _paired_lines(app, remote, blanks=blanks)
    if name == "addresses":
        return _paired_places(app, remote, blanks=blanks)
    return None


def _leaves_out(name: str, full: Any, blank: Any) -> bool:
    """The entry `blank` leaves a part unsaid that `full` states: a phone type, an address part."""
    if name == "phones":
        return _untyped(blank) and not _untyped(full)
    return any(blank.get(key) in _BLANK and value not in _BLANK for key, value in full.items())


def agrees(name: str, app: Mapping[str, Any], remote: Mapping[str, Any]) -> bool:
    """What a check of a synced pair accepts as the same: `alike`, or lines the platform leaves parts of unsaid
    (`silent_alike`), which a sync leaves as each side holds them."""
    return alike(name, app, remote) or silent_alike(name, app, remote)


def _paired_lines(
    app: Mapping[str, Any],
    remote: Mapping[str, Any],
    *,
    blanks: tuple[bool, bool] = (False, False),
    by_word: bool = False,
) -> list[tuple[Any, Any]] | None:
    """Each app phone line paired with the platform's same line, in any order (`_same_line`, read in the contact's
    country); None unless all pair off, at least one. `blanks`: whether an app line, a platform line that states
    no type may pair with a line of the same number of any type, once the lines whose types agree are paired."""
    lines, others = app.get("phones") or [], remote.get("phones") or []
    if not lines:
        return None
    country = country_of(app) or country_of(remote)
    if blanks == (False, False):
        return _paired(lines, others, lambda a, b: _same_line(a, b, country, by_word=by_word))

    def loose(a: Any, b: Any) -> bool:
        return (blanks[1] and _untyped(b) and _same_line(a, b, country, untyped=True)) or (
            blanks[0] and _untyped(a) and _same_line(b, a, country, untyped=True)
        )

    return _paired_loosely(lines, others, lambda a, b: _same_line(a, b, country), loose)


def _paired_places(
    app: Mapping[str, Any], remote: Mapping[str, Any], *, blanks: tuple[bool, bool]
) -> list[tuple[Any, Any]] | None:
    """Each app address (`_spaced`) paired with the platform's same place, in any order, where either may leave
    parts blank as `blanks` says (`_same_place`); None unless all pair off, at least one."""
    mine, theirs = _spaced(app.get("addresses")) or [], _spaced(remote.get("addresses")) or []
    if not mine:
        return None
    return _paired_loosely(mine, theirs, _same_place, lambda a, b: _same_place(a, b, blanks=blanks))


def _paired_loosely(
    lines: Sequence[Any], others: Sequence[Any], same: Callable[[Any, Any], bool], loose: Callable[[Any, Any], bool]
) -> list[tuple[Any, Any]] | None:
    """`_paired`, where the lines that are not `same` as any other may pair `loose`ly with the others left: first
    the lines that are the same, so that a loose match is not spent on a line that has its exact twin. A loose
    relation is no equivalence, so first matches may miss a pairing in odd lists (two app lines each loosely
    like two platform lines): the sides then count as different, as they did before any loose rule."""
    rest, unpaired, exact = [], list(others), []
    for line in lines:
        at = _first(unpaired, line, same)
        if at is None:
            rest.append(line)
        else:
            exact.append((line, unpaired.pop(at)))
    loosely = _paired(rest, unpaired, loose)
    return None if loosely is None else exact + loosely


def with_app_types(taken: Sequence[Any], app: Mapping[str, Any]) -> list[Any]:
    """Platform phone lines about to be taken into the app, each that is one of the app's lines (the one in the
    same place first, else the first not yet matched, as lines may come back in another order) staying the app's
    as written, a type only one side states filling the other's: a platform without types must not wipe the
    app's, nor its number format come back as an edit, and a type only the platform holds fills the app's gap."""
    country = country_of(app)
    return _with_apps(
        taken,
        app.get("phones") or [],
        # `_same_line` holds only for two entries that are objects.
        lambda own, line: _same_line(own, line, country, untyped=True) or _same_line(line, own, country, untyped=True),
        lambda own, line: {**own, "type": line.get("type") if _untyped(own) else own.get("type")},
    )


def with_app_places(taken: Sequence[Any], app: Mapping[str, Any]) -> list[Any]:
    """Platform addresses about to be taken into the app, each that is an app address but for parts one of them
    leaves blank (or writes otherwise, `alike`) becoming the app's with its blanks filled from the platform's: a
    platform that keeps no second street line or no region must not wipe the app's, and a postal code only the
    platform holds fills the app's gap. An address the platform changed in a part both state comes in as it is
    (the app's parts are not grafted onto another place)."""
    return _with_apps(
        taken,
        app.get("addresses") or [],
        lambda own, place: _same_place(_spaced(own), _spaced(place), blanks=(True, True)),
        lambda own, place: {**own, **{k: v for k, v in place.items() if own.get(k) in _BLANK and v not in _BLANK}},
    )


def _with_apps(
    taken: Sequence[Any],
    own: Sequence[Any],
    like: Callable[[Any, Any], bool],
    keep: Callable[[Any, Any], Any],
) -> list[Any]:
    """Each taken entry that is `like` one of the app's own entries (the one in the same place first, else the
    first not yet matched) as `keep` makes it of the two; the others as they came."""
    free = list(range(len(own)))
    out = []
    for i, entry in enumerate(taken):
        at = next((j for j in sorted(free, key=lambda j: j != i) if like(own[j], entry)), None)
        if at is not None:
            free.remove(at)
            entry = keep(own[at], entry)
        out.append(entry)
    return out


def _untyped(line: Any) -> bool:
    return isinstance(line, Mapping) and _kind(line.get("type")) is None


def _kind(value: Any) -> str | None:
    """A phone type as compared, by the kind of line it names (`phone_kind`): "Mobile", "MOBILE" and "cell" are one
    type, "work" and a platform's "BUSINESS" or "DEFAULT" another; blank is none."""
    return None if value is None else phone_kind(_spaced(str(value)))


def _word(value: Any) -> str | None:
    """A phone type's word as written, case and spacing aside; blank is none."""
    return None if value is None else _spaced(str(value)).casefold() or None


def _same_line(a: Any, b: Any, country: str | None, *, untyped: bool = False, by_word: bool = False) -> bool:
    """Two phone entries of the same type whose numbers are one line (E.164 and extension where they parse, else
    the same digits; a number too short to say stays different unless written alike). `untyped`: the second
    entry (the platform's) may also state no type at all. `by_word`: the types' words must agree, not only the
    kinds of line they name."""
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return False
    same = _word if by_word else _kind
    if same(a.get("type")) != same(b.get("type")) and not (untyped and _untyped(b)):
        return False
    na, nb = str(a.get("number") or ""), str(b.get("number") or "")
    if na == nb:
        return True
    line = dialled(na, country)
    return line is not None and line == dialled(nb, country)


def country_of(content: Mapping[str, Any]) -> str | None:
    """The contact's first country, the region its national phone numbers and tax ids are read in: its ISO code
    where it is written as a name ("Deutschland", "United Kingdom"), else as written."""
    countries = [a.get("country") for a in content.get("addresses") or () if isinstance(a, Mapping)]
    first = next((str(c) for c in countries if c), None)
    return None if first is None else country_code(first) or first


def tax_id_of(content: Mapping[str, Any]) -> TaxId | None:
    """The contact's tax id, read in its country (None without one)."""
    raw = content.get("tax_number")
    if not isinstance(raw, str) or not raw.strip():
        return None
    return normalise_tax_id(raw, country_of(content))
