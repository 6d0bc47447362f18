"""What a secret grants and until when, read from the secret itself at import time."""

from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from auth_vault.macaroons import MacaroonFormatError, parse_macaroon
from auth_vault.models import Secret

P = Secret.Permission
ALL_PERMISSIONS = frozenset(P.values)
# The permissions each type carries when nothing more precise is known (LND's admin, invoice and readonly
# macaroons; LNbits' admin and invoice keys). CUSTOM carries exactly what it is given.
TYPE_PERMISSIONS = {
    Secret.Type.ADMIN: ALL_PERMISSIONS,
    Secret.Type.INVOICE: frozenset({P.READ, P.WRITE, P.INVOICE, P.ADDRESS, P.ONCHAIN}),
    Secret.Type.READONLY: frozenset(
        {P.READ, P.READONLY, P.INFO, P.OFFCHAIN, P.ONCHAIN, P.ADDRESS, P.MESSAGE, P.PEERS, P.INVOICE}
    ),
    Secret.Type.CUSTOM: frozenset(),
}
LND_ENTITIES = {
    "info": P.INFO,
    "offchain": P.OFFCHAIN,
    "onchain": P.ONCHAIN,
    "address": P.ADDRESS,
    "message": P.MESSAGE,
    "peers": P.PEERS,
    "invoices": P.INVOICE,
}


class SecretInputError(ValueError):
    """The value offered for a secret is not what its kind says it is."""


@dataclass
class Inspection:
    secret_type: str | None = None
    permissions: frozenset[str] | None = None
    expires_at: datetime | None = None
    details: dict = field(default_factory=dict)


def inspect_secret(kind: str, value: bytes) -> Inspection:
    if kind == Secret.Kind.MACAROON:
        return _inspect_macaroon(value)
    if kind == Secret.Kind.TLS_CERT:
        return _inspect_certificate(value)
    if not value.strip():
        raise SecretInputError("the secret is empty")
    return Inspection()


def _inspect_macaroon(value: bytes) -> Inspection:
    try:
        macaroon = parse_macaroon(value)
    except MacaroonFormatError as exc:
        raise SecretInputError(f"not a valid macaroon: {exc}") from None
    details = {"location": macaroon.location, "caveats": macaroon.caveats, "warnings": macaroon.warnings()}
    if macaroon.permissions is None:
        return Inspection(details=details, expires_at=macaroon.expires_at)
    details["macaroon_permissions"] = sorted(macaroon.permissions)
    coarse = coarse_permissions(macaroon.permissions)
    return Inspection(
        secret_type=_macaroon_type(macaroon.permissions, coarse),
        permissions=coarse,
        expires_at=macaroon.expires_at,
        details=details,
    )


def coarse_permissions(exact: frozenset[str]) -> frozenset[str]:
    """Secret.Permission values summarising LND's "entity:action" permissions."""
    entities = {LND_ENTITIES[perm.split(":")[0]] for perm in exact if perm.split(":")[0] in LND_ENTITIES}
    actions = {perm.split(":", 1)[1] for perm in exact}
    coarse = set(entities)
    if "read" in actions:
        coarse.add(P.READ)
    if "write" in actions:
        coarse.add(P.WRITE)
    if "macaroon:generate" in exact:
        coarse.add(P.ADMIN)
    if not actions & {"write", "generate"}:
        coarse.add(P.READONLY)
    return frozenset(coarse)


def _macaroon_type(exact: frozenset[str], coarse: frozenset[str]) -> str:
    if P.ADMIN in coarse:
        return Secret.Type.ADMIN
    if P.READONLY in coarse and len(coarse & set(LND_ENTITIES.values())) >= len(LND_ENTITIES) - 1:
        return Secret.Type.READONLY
    if "invoices:write" in exact and {perm.split(":")[0] for perm in exact} <= {"invoices", "address", "onchain"}:
        return Secret.Type.INVOICE
    return Secret.Type.CUSTOM


def _inspect_certificate(value: bytes) -> Inspection:
    try:
        certificate = x509.load_pem_x509_certificate(value)
    except ValueError:
        raise SecretInputError("not a PEM certificate (LND's tls.cert is one)") from None
    return Inspection(
        expires_at=certificate.not_valid_after_utc,
        details={
            "subject": certificate.subject.rfc4514_string(),
            "not_after": certificate.not_valid_after_utc.isoformat(),
        },
    )
