"""Checks on what an operator (CLI) or a client (API) gives us, each failing with one line that says what is wrong.

Tenant ids appear in queue routing, log lines, URLs and file names, so they are kept to a small charset. Base
URLs receive the connection's credentials on every request: they must be https (plain http only where the
connection says `allow_insecure_http`, as the sandbox does, or on this machine's loopback, which no network
sees), and never a link-local or cloud-metadata address, from which an API key could be turned into cloud
credentials, unless the connection says `allow_link_local`.
"""

from __future__ import annotations

import ipaddress
import re

import httpx

from contactsync.providers.options import ConnectionOptions

TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# The webhook receiver's provider-wide paths (`/webhooks/merge`, `/webhooks/maesn`) sit beside the per-tenant
# path `/webhooks/{tenant_id}`: a tenant of one of these ids would never receive its own webhooks, because the
# provider-wide route answers first. So they cannot be tenant ids (tests/api keeps this list and the routes equal).
RESERVED_TENANT_IDS = frozenset({"merge", "maesn"})
# Cloud metadata services reachable by name or by an address outside 169.254/16 and fe80::/10.
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")})


class InputError(ValueError):
    """A value given on the command line or to the API is not acceptable; the message is one line."""


def check_tenant_id(value: str) -> str:
    if not TENANT_ID.fullmatch(value):
        raise InputError(
            f"invalid tenant id {value[:80]!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit"
        )
    if value in RESERVED_TENANT_IDS:
        raise InputError(
            f"tenant id {value!r} is reserved: /webhooks/{value} is the {value} provider-wide webhook path; "
            "choose another id"
        )
    return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_forbidden_address(host: str) -> bool:
    """A link-local or cloud-metadata host, by name or literal address (names are checked again when resolved)."""
    if host.lower().rstrip(".") in METADATA_HOSTS:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_link_local or address in METADATA_ADDRESSES


def check_base_url(url: str, options: ConnectionOptions | None = None) -> str:
    """The URL, if credentials may be sent to it under the connection's options; else `InputError`."""
    opts = options or ConnectionOptions()
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InputError(f"invalid base URL {url[:200]!r}: {exc}") from None
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise InputError(f"invalid base URL {url[:200]!r}: expected https://host/path")
    if parsed.userinfo:
        raise InputError("invalid base URL: credentials in the URL are not allowed; use --api-key")
    if parsed.scheme == "http" and not opts.allow_insecure_http and not is_loopback(parsed.host):
        raise InputError(
            f"base URL {url[:200]!r} is not https; set the option allow_insecure_http=true only for test servers"
        )
    if is_forbidden_address(parsed.host) and not opts.allow_link_local:
        raise InputError(
            f"base URL host {parsed.host!r} is a link-local or cloud-metadata address; refused "
            "(option allow_link_local=true to allow it)"
        )
    return url
