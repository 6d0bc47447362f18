"""Keep django-celery-beat's PeriodicTask rows in step with the schedule defined in settings.

Rows are upserted by name, never deleted and recreated: the interval, task and expiry follow the code and the
environment, while `enabled` stays whatever the operator set in the admin. Rows of ours that the code no longer
defines are disabled, not deleted, so their history and the operator's edits stay visible.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

logger = logging.getLogger(__name__)

NAME_PREFIX = "daznode:"


@dataclass(frozen=True)
class SyncReport:
    created: list[str]
    updated: list[str]
    disabled_obsolete: list[str]


def _interval_for(every: timedelta) -> IntervalSchedule:
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=int(every.total_seconds()), period=IntervalSchedule.SECONDS
    )
    return interval


@transaction.atomic
def sync_beat_schedule(schedule: dict | None = None) -> SyncReport:
    schedule = settings.DAZNODE_BEAT_SCHEDULE if schedule is None else schedule
    created, updated = [], []
    for short_name, entry in schedule.items():
        name = NAME_PREFIX + short_name
        _, was_created = PeriodicTask.objects.update_or_create(
            name=name,
            defaults={
                "task": entry["task"],
                "interval": _interval_for(entry["every"]),
                "crontab": None,
                "expire_seconds": int(entry["expires"].total_seconds()),
                "one_off": False,
            },
        )
        (created if was_created else updated).append(name)
    obsolete = PeriodicTask.objects.filter(name__startswith=NAME_PREFIX, enabled=True).exclude(
        name__in=[NAME_PREFIX + short_name for short_name in schedule]
    )
    disabled_obsolete = list(obsolete.values_list("name", flat=True))
    for task in obsolete:
        # save() rather than update() so django-celery-beat notices that its schedule changed.
        task.enabled = False
        task.save(update_fields=["enabled"])
    logger.info("beat schedule synced: created=%s updated=%s disabled=%s", created, updated, disabled_obsolete)
    return SyncReport(created=created, updated=updated, disabled_obsolete=disabled_obsolete)
