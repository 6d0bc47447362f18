"""The vault's operations. Only these functions decrypt; every call is recorded in the access log
(auth_vault.access_log: a row each, or an hourly count for scheduled reads).

Interfaces (admin, API, commands, source clients) call these with the acting user's name, never touching
ciphertext or keys themselves.
"""

import base64
import binascii
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from auth_vault.access_log import access_read, access_record
from auth_vault.crypto import Sealed
from auth_vault.inspection import TYPE_PERMISSIONS, SecretInputError, inspect_secret
from auth_vault.keyring import vault_keyring
from auth_vault.models import AccessEvent, Secret
from auth_vault.signals import secret_rotated

logger = logging.getLogger(__name__)

ENCODINGS = ("text", "hex", "base64")


class VaultError(Exception):
    pass


class SecretUnavailable(VaultError):
    """The secret is revoked or expired: nothing may use it."""


class SecretPermissionError(VaultError):
    pass


class SecretConflict(VaultError):
    pass


def decode_input(value: str, encoding: str) -> bytes:
    """A secret as typed or pasted: text as is, or hex / base64 of binary such as a macaroon file."""
    if encoding not in ENCODINGS:
        raise SecretInputError(f"encoding must be one of {', '.join(ENCODINGS)}")
    value = value.strip()
    try:
        if encoding == "hex":
            return bytes.fromhex(value)
        if encoding == "base64":
            return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise SecretInputError(f"the value is not valid {encoding}") from None
    return value.encode()


def read_secret_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SecretInputError(f"cannot read {path}: {exc.strerror}") from None


def _associated_data(secret: Secret) -> bytes:
    return f"daznode-vault:v1:{secret.uid}:{secret.kind}".encode()


def _label(secret: Secret) -> str:
    return f"secret '{secret.name}' v{secret.version} (id {secret.pk})"


def _seal_into(secret: Secret, plaintext: bytes) -> None:
    sealed = vault_keyring().seal(plaintext, associated_data=_associated_data(secret))
    secret.ciphertext, secret.nonce, secret.key_id = sealed.ciphertext, sealed.nonce, sealed.key_id
    secret.salt, secret.kdf_iterations = sealed.salt, sealed.kdf_iterations
    secret.fingerprint = hashlib.sha256(plaintext).hexdigest()


def _open(secret: Secret) -> bytes:
    sealed = Sealed(
        ciphertext=bytes(secret.ciphertext),
        nonce=bytes(secret.nonce),
        key_id=secret.key_id,
        salt=bytes(secret.salt),
        kdf_iterations=secret.kdf_iterations,
    )
    return vault_keyring().open(sealed, associated_data=_associated_data(secret), label=_label(secret))


def _earliest(*moments: datetime | None) -> datetime | None:
    return min((moment for moment in moments if moment is not None), default=None)


def _describe(secret: Secret, kind: str, value: bytes, secret_type: str | None, permissions, expires_at) -> None:
    """Fill type, permissions, expiry and details from the value itself where it says more than the operator."""
    inspection = inspect_secret(kind, value)
    secret.kind = kind
    secret.secret_type = inspection.secret_type or secret_type or Secret.Type.CUSTOM
    if inspection.permissions is not None:
        granted = inspection.permissions
    elif permissions is not None:
        granted = frozenset(permissions)
    else:
        granted = TYPE_PERMISSIONS[secret.secret_type]
    unknown = sorted(set(granted) - set(Secret.Permission.values))
    if unknown:
        raise SecretInputError(f"unknown permission(s): {', '.join(unknown)}")
    secret.permissions = sorted(granted)
    secret.expires_at = _earliest(expires_at, inspection.expires_at)
    secret.details = inspection.details


@transaction.atomic
def secret_create(
    *,
    name: str,
    kind: str,
    value: bytes,
    actor: str,
    secret_type: str | None = None,
    permissions: list[str] | None = None,
    expires_at: datetime | None = None,
    ip: str | None = None,
) -> Secret:
    if kind not in Secret.Kind.values:
        raise SecretInputError(f"kind must be one of {', '.join(Secret.Kind.values)}")
    if secret_type is not None and secret_type not in Secret.Type.values:
        raise SecretInputError(f"type must be one of {', '.join(Secret.Type.values)}")
    if Secret.objects.filter(name=name).exists():
        raise SecretConflict(f"a secret named '{name}' exists already: rotate it to store a new value")
    secret = Secret(name=name)
    _describe(secret, kind, value, secret_type, permissions, expires_at)
    _seal_into(secret, value)
    try:
        with transaction.atomic():
            secret.save()
    except IntegrityError:  # another request stored the same name between the check above and here
        raise SecretConflict(f"a secret named '{name}' exists already: rotate it to store a new value") from None
    access_record(operation=AccessEvent.Operation.CREATE, actor=actor, secret=secret, ip=ip)
    logger.info("vault: %s created %s (%s)", actor, _label(secret), secret.fingerprint[:12])
    return secret


def secret_current(name: str) -> Secret:
    """The newest version of a secret, usable or not (selector)."""
    secret = Secret.objects.filter(name=name).order_by("-version").first()
    if secret is None:
        raise Secret.DoesNotExist(f"no secret named '{name}'")
    return secret


def secret_check(secret: Secret, *, required: set[str] | None = None, now=None) -> None:
    """Raise unless the secret is usable now and grants every required permission.

    `required` may hold Secret.Permission values and, for macaroons, exact LND permissions ("offchain:write").
    """
    status = secret.status(now)
    if status != Secret.Status.ACTIVE:
        moment = secret.revoked_at if status == Secret.Status.REVOKED else secret.expires_at
        raise SecretUnavailable(f"{_label(secret)} is {status.label.lower()} since {moment:%Y-%m-%d %H:%M:%S} UTC")
    granted = set(secret.permissions) | set(secret.details.get("macaroon_permissions", []))
    missing = sorted(set(required or ()) - granted)
    if missing:
        raise SecretPermissionError(f"{_label(secret)} lacks the permission(s): {', '.join(missing)}")


def secret_get(secret: Secret, *, actor: str, required: set[str] | None = None, ip: str | None = None) -> bytes:
    """Decrypt a usable secret for use, and record who did: a row for a person, an hourly count for scheduled
    work (a "system:<task>" actor, see daznode.actors and auth_vault.access_log.actor_is_system).

    The row is read again first: a caller may hold an object loaded before a revocation or rotation, and
    revocation must take effect immediately for everyone.
    """
    secret.refresh_from_db()
    try:
        secret_check(secret, required=required)
    except VaultError as exc:
        access_record(
            operation=AccessEvent.Operation.DENIED, actor=actor, secret=secret, ip=ip, success=False, detail=str(exc)
        )
        raise
    plaintext = _open(secret)
    now = timezone.now()
    Secret.objects.filter(pk=secret.pk).update(last_used_at=now)
    secret.last_used_at = now
    access_read(actor=actor, secret=secret, ip=ip)
    return plaintext


@transaction.atomic
def secret_rotate(
    secret: Secret, *, value: bytes, actor: str, grace: timedelta | None = None, ip: str | None = None
) -> Secret:
    """Store a new version; the old one is revoked now, or after `grace` so that running clients can switch."""
    old = Secret.objects.select_for_update().get(pk=secret.pk)
    if old.status() == Secret.Status.REVOKED or Secret.objects.filter(name=old.name, version__gt=old.version).exists():
        raise SecretConflict(f"{_label(old)} was already rotated or revoked: rotate its newest version")
    new = Secret(name=old.name, version=old.version + 1, replaces=old, rotation_count=old.rotation_count + 1)
    _describe(new, old.kind, value, old.secret_type, old.permissions, None)
    _seal_into(new, value)
    new.save()
    # Whatever used the old version uses the new one from now on. The apps that refer to secrets listen and
    # move themselves, inside this transaction: the vault does not know who they are.
    secret_rotated.send(sender=Secret, old=old, new=new)
    now = timezone.now()
    old.revoked_at = now + (grace or timedelta(0))
    old.save(update_fields=["revoked_at"])
    detail = f"v{old.version} -> v{new.version}, old version revoked at {old.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
    access_record(operation=AccessEvent.Operation.ROTATE, actor=actor, secret=new, ip=ip, detail=detail)
    logger.info("vault: %s rotated %s", actor, detail)
    return new


def secret_store(*, name: str, kind: str, value: bytes, actor: str) -> Secret:
    """The secret `name` holding `value`, whatever was there: the active version when it already holds it, else a
    rotation to it, else a new secret. For values that arrive from outside at each start (a mounted macaroon, the
    simulator's fresh one), so that an unchanged file changes nothing in the vault."""
    try:
        current = secret_current(name)
    except Secret.DoesNotExist:
        return secret_create(name=name, kind=kind, value=value, actor=actor)
    if current.status() == Secret.Status.ACTIVE and current.fingerprint == hashlib.sha256(value).hexdigest():
        return current
    return secret_rotate(current, value=value, actor=actor)


@transaction.atomic
def secret_revoke(secret: Secret, *, actor: str, reason: str = "", ip: str | None = None) -> Secret:
    """Revoke now. Idempotent; brings a revocation scheduled for later (a rotation grace) forward to now."""
    secret = Secret.objects.select_for_update().get(pk=secret.pk)
    now = timezone.now()
    if secret.revoked_at is None or secret.revoked_at > now:
        secret.revoked_at = now
        secret.save(update_fields=["revoked_at"])
        access_record(operation=AccessEvent.Operation.REVOKE, actor=actor, secret=secret, ip=ip, detail=reason)
        logger.info("vault: %s revoked %s", actor, _label(secret))
    return secret


@dataclass(frozen=True)
class KeyRotationReport:
    reencrypted: int
    already_current: int
    current_key_id: str
    still_used: dict[str, int]


@transaction.atomic
def vault_rotate_key(*, actor: str) -> KeyRotationReport:
    """Re-encrypt every secret with the keyring's current key, all or nothing."""
    keyring = vault_keyring()
    current = keyring.current.key_id
    stale = list(Secret.objects.select_for_update().exclude(key_id=current).order_by("pk"))
    for secret in stale:
        _seal_into(secret, _open(secret))
        secret.save(update_fields=["ciphertext", "nonce", "key_id", "salt", "kdf_iterations"])
        access_record(
            operation=AccessEvent.Operation.REENCRYPT, actor=actor, secret=secret, detail=f"now under key '{current}'"
        )
    usage = dict(Secret.objects.values_list("key_id").annotate(count=Count("pk")))
    return KeyRotationReport(
        reencrypted=len(stale),
        already_current=usage.get(current, 0) - len(stale),
        current_key_id=current,
        still_used=usage,
    )
