from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from auth_vault import services
from auth_vault.inspection import SecretInputError
from auth_vault.models import Secret
from daznode.actors import command_actor


class Command(BaseCommand):
    help = "Store a secret in the vault from a file (a macaroon, tls.cert, or a file holding a key)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="A slug such as umbrel-lnd-macaroon")
        parser.add_argument("file", type=Path)
        parser.add_argument("--kind", required=True, choices=Secret.Kind.values)
        parser.add_argument("--type", dest="secret_type", choices=Secret.Type.values)
        parser.add_argument(
            "--encoding",
            choices=("raw", *services.ENCODINGS),
            default="raw",
            help="raw: the file's bytes as they are (default); text, hex or base64: decode first",
        )

    def handle(self, *args, name: str, file: Path, kind: str, secret_type: str | None, encoding: str, **options):
        try:
            content = services.read_secret_file(file)
            value = content if encoding == "raw" else services.decode_input(content.decode(), encoding)
            secret = services.secret_create(
                name=name, kind=kind, value=value, secret_type=secret_type, actor=command_actor("vault_import")
            )
        except (SecretInputError, services.SecretConflict, UnicodeDecodeError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Stored {secret.name} v{secret.version}: {secret.get_secret_type_display()}, "
            f"fingerprint {secret.fingerprint[:16]}, permissions {', '.join(secret.permissions)}"
        )
        for warning in secret.details.get("warnings", []):
            self.stderr.write(f"Warning: {warning}")
