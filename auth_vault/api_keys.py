"""API keys for this instance's API: made, checked and revoked here; only their hashes are stored."""

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone
from rest_framework import authentication, exceptions

from auth_vault.access_log import access_record
from auth_vault.models import AccessEvent, ApiKey

KEY_PREFIX = "dzk"
HEADER_SCHEME = "Api-Key"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, user, name: str, actor: str, expires_at=None) -> tuple[ApiKey, str]:
    """Make a key. Returns the row and the key itself, which is never available again."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(name=name, user=user, prefix=prefix, key_hash=_hash(key), expires_at=expires_at)
    access_record(
        operation=AccessEvent.Operation.CREATE,
        actor=actor,
        detail=f"API key {prefix}… '{name}' for {user.get_username()}",
    )
    return api_key, key


def api_key_revoke(api_key: ApiKey, *, actor: str) -> None:
    if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        access_record(
            operation=AccessEvent.Operation.REVOKE, actor=actor, detail=f"API key {api_key.prefix}… '{api_key.name}'"
        )


def api_key_check(key: str) -> ApiKey | None:
    """The usable key this string is, or None. Compares hashes in constant time."""
    parts = key.split("_", 2)  # the random part may itself contain "_"
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    api_key = ApiKey.objects.select_related("user").filter(prefix=parts[1]).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(key)) or not api_key.is_usable():
        return None
    if not api_key.user.is_active:
        return None
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key dzk_...`: authenticates as the key's user, with that user's role."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        scheme, _, key = header.partition(" ")
        if scheme != HEADER_SCHEME:
            return None
        api_key = api_key_check(key.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        return api_key.user, api_key

    def authenticate_header(self, request) -> str:
        return HEADER_SCHEME
