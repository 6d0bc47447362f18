from django.core.management.base import BaseCommand, CommandError

from auth_vault.models import Secret
from auth_vault.services import secret_current, secret_revoke
from daznode.actors import command_actor


class Command(BaseCommand):
    help = "Revoke the newest version of a secret, effective immediately."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--reason", default="")

    def handle(self, *args, name: str, reason: str, **options):
        try:
            secret = secret_revoke(secret_current(name), actor=command_actor("vault_revoke"), reason=reason)
        except Secret.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Revoked {secret.name} v{secret.version} at {secret.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
