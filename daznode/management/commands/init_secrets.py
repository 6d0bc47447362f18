from io import StringIO
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from daznode.secret_files import CONTAINER_UID, secret_files_init


def _new_vault_key() -> str:
    # By command name: daznode sits left of auth_vault and does not import it.
    out = StringIO()
    call_command("generate_vault_key", stdout=out)
    return out.getvalue().strip()


class Command(BaseCommand):
    help = "Create the Docker stack's secret files (secret_key, admin_password, vault_keys) once, readable by uid 1000."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default="docker/secrets", help="Where compose.yml reads them (docker/secrets).")
        parser.add_argument("--uid", type=int, default=CONTAINER_UID, help="The container's user id (1000).")

    def handle(self, *args, dir: str, uid: int, **options):
        try:
            report = secret_files_init(directory=Path(dir), vault_key=_new_vault_key, uid=uid)
        except OSError as exc:  # a folder that cannot be made or written: say which, no traceback
            raise CommandError(f"cannot write the secrets into {dir}: {exc.strerror or exc}") from None
        for name in report.created:
            self.stdout.write(f"created {dir}/{name}")
        for name in report.kept:
            self.stdout.write(f"kept    {dir}/{name} (exists; a secret is never overwritten)")
        self.stdout.write(f"mode {report.mode:04o}, owner uid {report.owner_uid}")
        if report.owner_uid != uid:
            self.stderr.write(
                f"Your uid is not the container's ({uid}): the files are 0644 inside a 0700 directory so that the "
                f"container can read them. Run this with sudo to have them owned by uid {uid} and 0600 instead."
            )
        if "admin_password" in report.created:
            self.stdout.write(f"The admin password is in {dir}/admin_password.")
