from django.core.management.base import BaseCommand, CommandError

from sources.models import Source
from sources.snapshots import refresh_graph


class Command(BaseCommand):
    help = "Fetch the network graph into a new snapshot (only when the latest has expired, unless --force)."

    def add_arguments(self, parser):
        parser.add_argument("--source", help="Fetch from this source only (its name)")
        parser.add_argument("--force", action="store_true", help="Fetch even when the latest snapshot is fresh")

    def handle(self, *args, source: str | None, force: bool, **options):
        if source is not None and not Source.objects.filter(name=source).exists():
            names = ", ".join(Source.objects.values_list("name", flat=True)) or "none configured"
            raise CommandError(f"no source named '{source}' (sources: {names})")
        result = refresh_graph(source_name=source, force=force)
        for attempt in result.attempts:
            self.stderr.write(f"  {attempt.source}: {attempt.error}")
        if result.error:
            kept = (
                f"kept snapshot {result.snapshot.id} from {result.snapshot.fetched_at:%Y-%m-%d %H:%M} UTC"
                if result.snapshot
                else "no snapshot exists yet"
            )
            raise CommandError(f"refresh failed ({kept}): {result.error}")
        snapshot = result.snapshot
        verb = f"Fetched from {result.source_name}" if result.fetched else "Still fresh, not fetched"
        self.stdout.write(
            f"{verb}: snapshot {snapshot.id}, {snapshot.node_count} nodes, {snapshot.edge_count} "
            f"channels, expires {snapshot.expires_at:%Y-%m-%d %H:%M} UTC"
        )
        for reason, count in result.skipped.items():
            self.stdout.write(f"  left out: {reason} ({count})")
