from django.core.management.base import BaseCommand

from daznode.schedule import sync_beat_schedule


class Command(BaseCommand):
    help = "Upsert the periodic tasks defined in code into django-celery-beat, keeping the operator's enabled flags."

    def handle(self, *args, **options):
        report = sync_beat_schedule()
        self.stdout.write(
            f"created: {len(report.created)}, updated: {len(report.updated)}, "
            f"disabled as obsolete: {len(report.disabled_obsolete)}"
        )
