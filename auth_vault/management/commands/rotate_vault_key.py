from django.core.management.base import BaseCommand, CommandError

from auth_vault.crypto import VaultCryptoError
from auth_vault.keyring import vault_keyring
from auth_vault.services import vault_rotate_key
from daznode.actors import command_actor


class Command(BaseCommand):
    help = "Re-encrypt every secret with the first key of DAZNODE_VAULT_KEYS, in one transaction."

    def handle(self, *args, **options):
        try:
            report = vault_rotate_key(actor=command_actor("rotate_vault_key"))
        except VaultCryptoError as exc:
            raise CommandError(f"{exc}. Nothing was changed.") from None
        self.stdout.write(
            f"Re-encrypted {report.reencrypted} secret(s) with key '{report.current_key_id}'; "
            f"{report.already_current} already used it."
        )
        unused = [key_id for key_id in vault_keyring().keys if key_id not in report.still_used]
        if unused:
            self.stdout.write(f"No secret uses key(s) {', '.join(unused)} any more: they can be removed.")
