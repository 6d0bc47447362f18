"""LND as Docker hands it over: a REST address and two read-only mounted files (DAZNODE_LND_URL,
DAZNODE_LND_MACAROON_FILE, DAZNODE_LND_TLS_CERT_FILE), imported into the vault as a source at each start.

Idempotent: an unchanged file leaves its vault entry alone; a new macaroon (a re-baked one) is a rotation, so the
previous version stays in the vault's history.
"""

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from auth_vault.macaroons import parse_macaroon
from auth_vault.models import Secret
from auth_vault.services import read_secret_file, secret_store
from sources.models import Source

LND_SOURCE_NAME = "lnd"
ACTOR = "command:lnd_import"


class LndImportRefused(ValueError):
    pass


@dataclass(frozen=True)
class LndImportReport:
    source: Source
    permissions: list[str]
    warnings: list[str]


@transaction.atomic
def lnd_source_import(
    *, url: str, macaroon_path: Path, cert_path: Path | None, name: str = LND_SOURCE_NAME
) -> LndImportReport:
    other = Source.objects.filter(kind=Source.Kind.LND, enabled=True).exclude(name=name).first()
    if other is not None:
        raise LndImportRefused(f"an LND source is configured already ('{other.name}'): one node per Daznode")
    macaroon = read_secret_file(macaroon_path)
    permissions = sorted(parse_macaroon(macaroon).permissions or [])
    warnings = parse_macaroon(macaroon).warnings()
    credential = secret_store(name=f"{name}-macaroon", kind=Secret.Kind.MACAROON, value=macaroon, actor=ACTOR)
    certificate = None
    if cert_path is not None:
        certificate = secret_store(
            name=f"{name}-tls", kind=Secret.Kind.TLS_CERT, value=read_secret_file(cert_path), actor=ACTOR
        )
    source, _ = Source.objects.update_or_create(
        name=name,
        defaults={
            "kind": Source.Kind.LND,
            "url": url,
            "credential": credential,
            "tls_certificate": certificate,
            "enabled": True,
        },
    )
    return LndImportReport(source=source, permissions=permissions, warnings=warnings)
