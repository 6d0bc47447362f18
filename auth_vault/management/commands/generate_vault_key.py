from django.core.management.base import BaseCommand, CommandError

from auth_vault.crypto import KeyringError, generate_key_entry


class Command(BaseCommand):
    help = "Print a new random vault key entry (id=base64) to put first in DAZNODE_VAULT_KEYS."

    def add_arguments(self, parser):
        parser.add_argument("--id", default="k1", help="Key id: 1-32 letters, digits, . _ -")

    def handle(self, *args, id: str, **options):
        try:
            self.stdout.write(generate_key_entry(id))
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
