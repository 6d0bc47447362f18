from django.core.management.base import BaseCommand

from sources.health import HealthCheckManager, source_health


class Command(BaseCommand):
    help = "Check every enabled source now, store the results, and print each one's health."

    def handle(self, *args, **options):
        checks = HealthCheckManager().check_all()
        if not checks:
            self.stdout.write("No enabled source: add one in the admin (Data sources → Sources).")
            return
        for check in checks:
            report = source_health(check.source)
            latency = f"{check.latency_ms:.0f} ms" if check.ok else check.error
            availability = report["availability"]["24h"]
            share = f"{availability:.0%}" if availability is not None else "-"
            self.stdout.write(
                f"{check.source.name:<20} {'up' if check.ok else 'DOWN':<5} {latency}  "
                f"(24 h availability {share}, circuit {report['circuit']})"
            )
