import os

from celery import Celery
from celery.signals import beat_init
from django.db import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daznode.settings")

app = Celery("daznode")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# How every Daznode task retries, the one definition. Tasks are idempotent, so a retry is safe; only transient
# database trouble (a lost connection, a locked SQLite) is retried: a constraint violation will not heal.
RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "retry_jitter": True, "max_retries": 5}


@beat_init.connect
def sync_schedule_at_beat_start(sender, **kwargs) -> None:
    # Code defines the schedule; the database keeps what the operator chose (enabled or not).
    from daznode.schedule import sync_beat_schedule

    sync_beat_schedule()
