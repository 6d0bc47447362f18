"""Periodic housekeeping for sources. Each task parses, calls one model method, and returns a count."""

from celery import chain, shared_task, signature
from django.conf import settings
from django.utils import timezone

from daznode.celery import RETRY
from sources.models import GraphSnapshot, HealthCheck


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


@shared_task(**RETRY)
def check_sources() -> int:
    """Ping every enabled source and store the results. A source that is down is recorded, never raised."""
    from sources.health import HealthCheckManager

    return sum(check.ok for check in HealthCheckManager().check_all())


@shared_task(**RETRY)
def refresh_graph(source_id: int | None = None, force: bool = False) -> dict:
    """Fetch a new graph snapshot when the latest has expired (or when forced). Idempotent within a TTL."""
    from sources.models import Source
    from sources.snapshots import refresh_graph as refresh

    source_name = None
    if source_id is not None:
        source_name = Source.objects.filter(pk=source_id).values_list("name", flat=True).first()
        if source_name is None:
            return {"fetched": False, "error": f"source {source_id} does not exist"}
    result = refresh(source_name=source_name, force=force)
    if result.fetched:
        after_new_snapshot(result.snapshot.id).apply_async()
    return {
        "fetched": result.fetched,
        "source": result.source_name,
        "error": result.error,
        "snapshot_id": result.snapshot.id if result.snapshot else None,
        "skipped": result.skipped,
    }


def after_new_snapshot(snapshot_id: int):
    """Analyse the new graph, sync our node, score our channels, then draw the dashboard's charts for the new
    scores. By name: sources does not import channels or decisions."""
    return chain(
        signature("channels.tasks.analyse_snapshot", args=(snapshot_id,), immutable=True),
        signature("decisions.tasks.sync_channels", immutable=True),
        signature("channels.tasks.score_channels", immutable=True),
        signature("decisions.tasks.render_charts", immutable=True),
    )
