from django.core.management.base import BaseCommand, CommandError

from channels.analysis import analyse_snapshot
from sources.models import GraphSnapshot


class Command(BaseCommand):
    help = "Compute the centrality of every node of the latest graph snapshot (or of --snapshot ID)."

    def add_arguments(self, parser):
        parser.add_argument("--snapshot", type=int, help="A snapshot id; the latest by default")

    def handle(self, *args, snapshot: int | None, **options):
        snapshots = GraphSnapshot.objects.defer("payload").order_by("-fetched_at", "-id")
        chosen = snapshots.filter(pk=snapshot).first() if snapshot else snapshots.first()
        if chosen is None:
            raise CommandError(f"no snapshot {snapshot}" if snapshot else "no graph snapshot yet: run refresh_graph")
        analysis = analyse_snapshot(chosen)
        self.stdout.write(
            f"Snapshot {chosen.id}: {analysis.node_count} nodes analysed in {analysis.duration_s:.2f} s; "
            f"network median fee {analysis.network_median_fee_rate_ppm} ppm."
        )
