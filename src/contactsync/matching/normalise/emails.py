"""Email addresses: case, whitespace, IDNA, and whether the domain says anything about the company.

A shared corporate domain (`@mueller-bau.de`) is good evidence of the same company; a shared consumer domain
(`@gmail.com`) is none, so those domains are marked as free mail. No library in our stack keeps a list of
consumer mail providers, so the list below is hand-kept: the large providers of the markets we serve. A
domain missing from it only makes a shared domain count for a little more than it should; a full address in
common is strong evidence either way.
"""

from __future__ import annotations

import re
import string
from encodings.idna import nameprep
from functools import lru_cache

from contactsync.matching.normalise.text import PER_COMPANY_CACHE

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.de",
        "yahoo.fr",
        "yahoo.co.uk",
        "ymail.com",
        "hotmail.com",
        "hotmail.de",
        "hotmail.fr",
        "hotmail.co.uk",
        "outlook.com",
        "outlook.de",
        "outlook.fr",
        "live.com",
        "live.de",
        "live.fr",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "aol.de",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "gmx.ch",
        "gmx.com",
        "web.de",
        "t-online.de",
        "freenet.de",
        "posteo.de",
        "mail.de",
        "arcor.de",
        "online.de",
        "bluewin.ch",
        "hispeed.ch",
        "sunrise.ch",
        "chello.at",
        "aon.at",
        "a1.net",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "sfr.fr",
        "btinternet.com",
        "sky.com",
        "virginmedia.com",
        "talktalk.net",
        "ziggo.nl",
        "kpnmail.nl",
        "planet.nl",
        "home.nl",
        "telenet.be",
        "skynet.be",
        "proton.me",
        "protonmail.com",
        "mail.com",
        "zoho.com",
        "comcast.net",
        "verizon.net",
        "att.net",
    }
)

_SEPARATORS = re.compile(r"[;,\s]+")

# The stdlib IDNA codec runs nameprep (stringprep tables in pure Python) on every non-ASCII label, about
# 170 µs a domain. For lower-case Latin letters nameprep changes nothing, so a label made of these and ASCII
# letters, digits and hyphens goes straight to punycode; anything else (ß, which nameprep maps to "ss",
# other scripts, upper case) still takes the codec. The set is checked against nameprep at import.
_LATIN = "àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿāăąćčďđēėęěğīıķłńňōőœřśşšţťūůűųźżž"
_IDNA_SAFE = frozenset(c for c in _LATIN if nameprep(c) == c) | frozenset(string.ascii_lowercase + string.digits + "-")


def idna_domain(domain: str) -> str | None:
    """`domain.encode("idna")` as text, or None where the codec raises; fast for common Latin domains."""
    labels = []
    for label in domain.split("."):
        if label.isascii():
            if not 0 < len(label) < 64:
                return None
            labels.append(label)
        elif _IDNA_SAFE.issuperset(label) and not label.startswith("xn--"):
            encoded = "xn--" + label.encode("punycode").decode("ascii")
            if len(encoded) >= 64:
                return None
            labels.append(encoded)
        else:
            try:
                return domain.encode("idna").decode("ascii")
            except UnicodeError:
                return None
    return ".".join(labels)


@lru_cache(maxsize=PER_COMPANY_CACHE)
def normalise_email(raw: str) -> str | None:
    """The comparable form of one address (lower-case, IDNA domain), or None if it is not an address.

    Local parts are case-sensitive by the letter of RFC 5321 but no mail provider treats them so, and
    accounting platforms re-case them freely, so they are lower-cased too.
    """
    value = raw.strip().strip("<>").lower()
    value = value.removeprefix("mailto:")
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain:
        return None
    domain = domain.strip(".")
    if not domain.isascii():
        encoded = idna_domain(domain)
        if encoded is None:
            return None
        domain = encoded
    return f"{local}@{domain}"


def split_emails(raw: str) -> list[str]:
    """All addresses in a field that may hold several ("a@x.de; b@x.de")."""
    out = []
    for part in _SEPARATORS.split(raw):
        email = normalise_email(part) if part else None
        if email:
            out.append(email)
    return out


def domain_of(email: str) -> str:
    return email.rpartition("@")[2]


def is_free_mail(domain: str) -> bool:
    return domain in FREE_MAIL_DOMAINS
