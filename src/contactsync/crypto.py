"""Connection credentials encrypted at rest.

Fernet (AES-128-CBC + HMAC-SHA256 from `cryptography`) gives authenticated encryption with a key that is one
URL-safe string, which is what an operator can put in a secret store. `MultiFernet` lets an operator rotate keys:
`CONTACTSYNC_SECRET_KEY` may hold several comma-separated keys, the first encrypts, all decrypt.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from contactsync.settings import ConfigError


def new_key() -> str:
    return Fernet.generate_key().decode()


class Vault:
    def __init__(self, secret_key: str) -> None:
        keys = [k.strip() for k in secret_key.split(",") if k.strip()]
        if not keys:
            raise ConfigError("CONTACTSYNC_SECRET_KEY is empty")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except (ValueError, TypeError):
            raise ConfigError(
                "CONTACTSYNC_SECRET_KEY must be Fernet keys (32 url-safe base64 bytes); "
                "generate one with `contactsync keygen`"
            ) from None

    def seal(self, secrets: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(secrets, sort_keys=True).encode())

    def rotate(self, blob: bytes) -> bytes:
        """The same secrets encrypted with the first key, so the other keys can then be retired."""
        try:
            return self._fernet.rotate(blob)
        except InvalidToken:
            raise ConfigError("stored credentials cannot be decrypted with any key in CONTACTSYNC_SECRET_KEY") from None

    def open(self, blob: bytes) -> dict[str, Any]:
        try:
            data = json.loads(self._fernet.decrypt(blob))
        except InvalidToken:
            raise ConfigError(
                "stored credentials cannot be decrypted with CONTACTSYNC_SECRET_KEY (wrong or rotated-out key)"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError("stored credentials are not a JSON object")
        return data
