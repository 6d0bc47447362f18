"""Periodic housekeeping for sources. Each task parses, calls one model method, and returns a count."""

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from sources.models import GraphSnapshot, HealthCheck

RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": True, "retry_jitter": True, "max_retries": 5}


@shared_task(**RETRY)
def prune_health_checks() -> int:
    """Delete health-check rows older than DAZNODE_HEALTH_CHECK_RETENTION. Idempotent."""
    return HealthCheck.objects.prune(before=timezone.now() - settings.DAZNODE_HEALTH_CHECK_RETENTION)


@shared_task(**RETRY)
def prune_graph_snapshots(source_id: int | None = None) -> int:
    """Keep the newest DAZNODE_GRAPH_SNAPSHOTS_KEEP snapshots of each source (or of one). Idempotent.

    The newest snapshot is kept even when expired: it is the fallback when every live fetch fails.
    """
    return GraphSnapshot.objects.prune(keep=settings.DAZNODE_GRAPH_SNAPSHOTS_KEEP, source_id=source_id)
