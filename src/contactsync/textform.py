"""Unicode forms of text, in one place: the form contactsync holds every text in (NFC), and what a reader of a
text sees (no invisible format characters), which platforms keep or drop as they please."""

from __future__ import annotations

import unicodedata
from typing import Any


def composed(value: Any) -> Any:
    """Text in Unicode's composed form (NFC), whichever form it came in; anything else as it is (the caller's own
    validation says what is wrong with it).

    "Müller" typed on one system is one code point for ü, pasted from another it is u plus a combining
    diaeresis: the same text, different strings. NFC loses nothing (canonically equivalent text only) and is what
    most systems store; compatibility forms (NFKC) would change what the text says ("²" is not "2") and are left
    to comparisons that want them.
    """
    if not isinstance(value, str) or value.isascii():
        return value
    return unicodedata.normalize("NFC", value)


def visible(text: str) -> str:
    """The text without its invisible format characters (Unicode category Cf: zero-width spaces and joiners,
    direction marks)."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
