from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from auth_vault.inspection import SecretInputError
from auth_vault.macaroons import MacaroonFormatError
from auth_vault.services import VaultError
from sources.lnd_import import LndImportRefused, lnd_source_import


class Command(BaseCommand):
    help = (
        "Import the LND node named by DAZNODE_LND_URL, DAZNODE_LND_MACAROON_FILE and DAZNODE_LND_TLS_CERT_FILE into "
        "the vault as the source 'lnd' (the container does it at each start). Without DAZNODE_LND_URL, does nothing."
    )

    def handle(self, *args, **options):
        url = settings.DAZNODE_LND_URL
        if url is None:
            self.stdout.write("DAZNODE_LND_URL is not set: no LND node to import.")
            return
        if settings.DAZNODE_LND_MACAROON_FILE is None:
            raise CommandError("DAZNODE_LND_URL is set: DAZNODE_LND_MACAROON_FILE must name the macaroon file")
        cert = settings.DAZNODE_LND_TLS_CERT_FILE
        try:
            report = lnd_source_import(
                url=url,
                macaroon_path=Path(settings.DAZNODE_LND_MACAROON_FILE),
                cert_path=Path(cert) if cert else None,
            )
        except (LndImportRefused, MacaroonFormatError, SecretInputError, VaultError) as exc:
            raise CommandError(f"LND not imported: {exc}") from None
        self.stdout.write(
            f"LND source '{report.source.name}' at {url}; the macaroon allows: {', '.join(report.permissions)}"
        )
        for warning in report.warnings:
            self.stderr.write(f"Warning: the macaroon {warning}")
