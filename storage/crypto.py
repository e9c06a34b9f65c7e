"""Encryption at rest for personal data, and keyed hashes for look-ups.

Names and phone numbers are stored only as ciphertext; a keyed hash (HMAC-SHA256, with a key
derived from the same secret) lets us find "the same phone applied again" without decrypting
every row. Losing the key loses the data, so the CLI keeps it in a file outside git.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


class DataCipher:
    def __init__(self, key: str) -> None:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
        if len(raw) != 32:
            raise ValueError("CONGDOAN_DATA_KEY must be 32 bytes, url-safe base64 (Fernet key)")
        self._fernet = Fernet(key.encode("ascii"))
        self._hash_key = hashlib.sha256(b"congdoan-lookup:" + raw).digest()

    @classmethod
    def ephemeral(cls) -> DataCipher:
        return cls(new_key())

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: wrong CONGDOAN_DATA_KEY?") from exc

    def lookup_hash(self, text: str) -> str:
        return hmac.new(self._hash_key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def random_code(nbytes: int = 6) -> str:
    return secrets.token_urlsafe(nbytes)


SEALED = "sealed"


def session_cipher(session: Any) -> DataCipher | None:
    """The app's cipher, carried by every session of its ``Database`` (see storage/db.py)."""
    return session.info.get("cipher")


def seal_json(cipher: DataCipher | None, value: Any) -> Any:
    """A JSON value as ``{"sealed": <Fernet token>}``, so not a word of it is stored readable.

    Without a cipher (a bare test database) the value is stored as it is."""
    if cipher is None:
        return value
    blob = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return {SEALED: cipher.encrypt(blob)}


def open_json(cipher: DataCipher | None, stored: Any) -> Any:
    """The value ``seal_json`` sealed; plain values (rows from before sealing) pass through."""
    if isinstance(stored, dict) and set(stored) == {SEALED}:
        if cipher is None:
            raise ValueError("a sealed value needs the data key")
        return json.loads(cipher.decrypt(stored[SEALED]))
    return stored
