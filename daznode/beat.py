from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

from daznode.heartbeat import heartbeat_path, heartbeat_write


class HeartbeatScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler that also proves it is alive: a beat process that stopped ticking (a lost
    database, a hung loop) keeps running, so only a heartbeat written from the loop itself shows it."""

    def tick(self, *args, **kwargs) -> float:
        interval = super().tick(*args, **kwargs)
        heartbeat_write(path=heartbeat_path(data_dir=settings.DATA_DIR))
        return interval
