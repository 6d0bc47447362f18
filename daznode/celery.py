import os

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daznode.settings")

app = Celery("daznode")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect
def sync_schedule_at_beat_start(sender, **kwargs) -> None:
    # Code defines the schedule; the database keeps what the operator chose (enabled or not).
    from daznode.schedule import sync_beat_schedule

    sync_beat_schedule()
