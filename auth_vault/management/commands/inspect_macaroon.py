from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from auth_vault.macaroons import MacaroonFormatError, parse_macaroon


class Command(BaseCommand):
    help = "Show what an LND macaroon file grants (permissions, caveats) without storing it."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="A .macaroon file, or a file holding its hex")

    def handle(self, *args, file: Path, **options):
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        try:
            if raw[:1] != b"\x02":
                raw = bytes.fromhex(raw.decode().strip())
            macaroon = parse_macaroon(raw)
        except (ValueError, MacaroonFormatError) as exc:
            raise CommandError(f"{file} is not a macaroon: {exc}") from None
        permissions = sorted(macaroon.permissions) if macaroon.permissions is not None else ["(unknown)"]
        self.stdout.write(f"Location:     {macaroon.location}")
        self.stdout.write(f"Permissions:  {', '.join(permissions)}")
        self.stdout.write(f"Caveats:      {'; '.join(macaroon.caveats) or 'none'}")
        for warning in macaroon.warnings():
            self.stdout.write(f"Warning:      {warning}")
