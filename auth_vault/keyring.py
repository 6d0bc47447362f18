"""The vault's keyring, built from the raw DAZNODE_VAULT_KEYS setting where it is used (settings hold text only).

In dev without DAZNODE_VAULT_KEYS, a key is generated once into DAZNODE_VAULT_DEV_KEY_FILE, so that a bare
machine can store secrets (auth_vault.W001 warns about it). The parsed keyring is cached per text: parsing
derives keys, and a test or a rotation that changes the setting gets the new keyring.
"""

from functools import lru_cache

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from auth_vault.crypto import Keyring, KeyringError, generate_key_entry, parse_keyring
from daznode.env import file_created_once

DEV_KEY_ID = "dev-1"


def vault_keyring() -> Keyring:
    """ImproperlyConfigured naming DAZNODE_VAULT_KEYS when the keys cannot be used (never echoing them)."""
    try:
        return _parsed(_keys_text())
    except KeyringError as exc:
        raise ImproperlyConfigured(f"DAZNODE_VAULT_KEYS: {exc}") from None


def _keys_text() -> str:
    if settings.DAZNODE_VAULT_KEYS is not None:
        return settings.DAZNODE_VAULT_KEYS
    return file_created_once(settings.DAZNODE_VAULT_DEV_KEY_FILE, lambda: generate_key_entry(DEV_KEY_ID) + "\n")


@lru_cache(maxsize=4)
def _parsed(text: str) -> Keyring:
    return parse_keyring(text)


@register(Tags.security)
def check_vault_keys(app_configs, **kwargs) -> list[Error]:
    """`manage.py check` says it too, though AuthVaultConfig.ready() already stops start-up on bad keys."""
    try:
        vault_keyring()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="auth_vault.E001")]
    return []
