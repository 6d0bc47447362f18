from django.core.management.base import BaseCommand, CommandError

from decisions.sync import node_sync
from sources.clients.errors import SourceError


class Command(BaseCommand):
    help = (
        "Copy our node's channels, policies, peers and the last 30 days of forwards from LND, and audit the "
        "policies changed outside Daznode."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--adopt-node",
            action="store_true",
            help="The LND source is a new node of ours: make it ours and close the old node's channels",
        )

    def handle(self, *args, adopt_node: bool, **options):
        try:
            report = node_sync(adopt_node=adopt_node)
        except SourceError as exc:
            raise CommandError(f"sync failed, nothing changed: {exc}") from None
        self.stdout.write(
            f"Synced {report.channels} channel(s) from {report.source}; {report.closed} closed since; "
            f"{report.activity_rows} day(s) of forwarding activity; "
            f"{len(report.external_changes)} policy change(s) made outside Daznode recorded."
        )
