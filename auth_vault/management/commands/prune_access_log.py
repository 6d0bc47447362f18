from django.core.management.base import BaseCommand

from auth_vault.access_log import access_log_prune
from daznode.actors import command_actor


class Command(BaseCommand):
    help = (
        "Delete access events older than DAZNODE_ACCESS_LOG_RETENTION and hourly counts older than "
        "DAZNODE_ACCESS_COUNT_RETENTION, and record the pruning in the access log. Beat runs it daily."
    )

    def handle(self, *args, **options):
        report = access_log_prune(actor=command_actor("prune_access_log"))
        self.stdout.write(f"Access log: {report.describe()}.")
