"""AES-256-GCM encryption with a keyring. No Django models here: only auth_vault's services call it.

A keyring holds one or more keys, each with an id. The first key encrypts; every key decrypts, so keys can be
rotated (add a new first key, re-encrypt with `rotate_vault_key`, then remove the old one). A key is either
32 random bytes (base64) or a passphrase, from which each ciphertext gets its own key through
PBKDF2-HMAC-SHA256 with a random salt stored beside it.

Every ciphertext is bound to the record it belongs to by the associated data, so a ciphertext copied onto
another record fails to decrypt instead of yielding the other record's secret.
"""

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, the size GCM is designed for
SALT_BYTES = 16
# OWASP's current recommendation for PBKDF2-HMAC-SHA256.
PBKDF2_ITERATIONS = 600_000
KEY_ID = re.compile(r"\A[A-Za-z0-9_.-]{1,32}\Z")  # \Z: `$` would accept a trailing newline
PASSPHRASE_PREFIX = "passphrase:"  # noqa: S105 - a format marker, not a password
MIN_PASSPHRASE_CHARS = 16


class KeyringError(ValueError):
    """The keyring's text cannot be understood. The message never contains key material."""


class VaultCryptoError(Exception):
    pass


class UnknownKeyError(VaultCryptoError):
    pass


class DecryptionError(VaultCryptoError):
    pass


@dataclass(frozen=True)
class VaultKey:
    key_id: str
    raw_key: bytes | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)

    @property
    def is_passphrase(self) -> bool:
        return self.passphrase is not None

    def key_for(self, salt: bytes, iterations: int | None) -> bytes:
        if self.raw_key is not None:
            return self.raw_key
        return _derive(self.passphrase, salt, iterations or PBKDF2_ITERATIONS)


@lru_cache(maxsize=256)
def _derive(passphrase: str, salt: bytes, iterations: int) -> bytes:
    # Cached per process: deriving takes a few hundred milliseconds by design.
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, iterations=iterations)
    return kdf.derive(passphrase.encode())


@dataclass(frozen=True)
class Sealed:
    """A ciphertext and everything needed, besides the key, to open it."""

    ciphertext: bytes
    nonce: bytes
    key_id: str
    salt: bytes = b""
    kdf_iterations: int | None = None


class Keyring:
    def __init__(self, keys: list[VaultKey]):
        if not keys:
            raise KeyringError("the keyring is empty")
        ids = [key.key_id for key in keys]
        if len(set(ids)) != len(ids):
            raise KeyringError(f"key ids must be unique, got {', '.join(ids)}")
        self.keys = {key.key_id: key for key in keys}
        self.current = keys[0]

    def __repr__(self) -> str:
        return f"Keyring(current={self.current.key_id!r}, ids={list(self.keys)!r})"

    def __contains__(self, key_id: str) -> bool:
        return key_id in self.keys

    def seal(self, plaintext: bytes, *, associated_data: bytes) -> Sealed:
        key = self.current
        salt = os.urandom(SALT_BYTES) if key.is_passphrase else b""
        iterations = PBKDF2_ITERATIONS if key.is_passphrase else None
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(key.key_for(salt, iterations)).encrypt(nonce, plaintext, associated_data)
        return Sealed(ciphertext=ciphertext, nonce=nonce, key_id=key.key_id, salt=salt, kdf_iterations=iterations)

    def open(self, sealed: Sealed, *, associated_data: bytes, label: str) -> bytes:
        """Decrypt, or raise an error naming `label` (the record) and the key id. Never a partial result."""
        key = self.keys.get(sealed.key_id)
        if key is None:
            raise UnknownKeyError(
                f"{label} was encrypted with vault key '{sealed.key_id}', which is not in the keyring "
                f"(keys: {', '.join(self.keys)})"
            )
        try:
            aes = AESGCM(key.key_for(sealed.salt, sealed.kdf_iterations))
            return aes.decrypt(sealed.nonce, sealed.ciphertext, associated_data)
        except (InvalidTag, ValueError):
            raise DecryptionError(
                f"{label} could not be decrypted with vault key '{sealed.key_id}': "
                f"the key is wrong or the ciphertext was tampered with or moved from another record"
            ) from None


def parse_keyring(text: str) -> Keyring:
    """Parse `id=<base64 of 32 bytes>` or `id=passphrase:<text>` entries, separated by newlines or commas.

    Lines may also be separated by newlines only (in a file), which lets a passphrase contain commas.
    """
    separator = "\n" if "\n" in text.strip() else ","
    keys = []
    for position, entry in enumerate((part.strip() for part in text.split(separator)), start=1):
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, material = entry.partition("=")
        key_id = key_id.strip()
        if not sep or not KEY_ID.match(key_id):
            raise KeyringError(f"entry {position} must look like id=key, with an id of letters, digits, . _ -")
        keys.append(_parse_key(key_id, material.strip()))
    return Keyring(keys)


def _parse_key(key_id: str, material: str) -> VaultKey:
    if material.startswith(PASSPHRASE_PREFIX):
        passphrase = material.removeprefix(PASSPHRASE_PREFIX)
        if len(passphrase) < MIN_PASSPHRASE_CHARS:
            raise KeyringError(f"the passphrase of key '{key_id}' must be at least {MIN_PASSPHRASE_CHARS} characters")
        return VaultKey(key_id=key_id, passphrase=passphrase)
    try:
        raw = base64.b64decode(material.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"key '{key_id}' is not valid base64 (or passphrase:<text>)") from None
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"key '{key_id}' must decode to {KEY_BYTES} bytes, got {len(raw)}")
    return VaultKey(key_id=key_id, raw_key=raw)


def generate_key_entry(key_id: str) -> str:
    if not KEY_ID.match(key_id):
        raise KeyringError("a key id is 1-32 letters, digits, . _ -")
    return f"{key_id}={base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"
