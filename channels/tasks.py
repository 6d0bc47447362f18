"""Periodic and chained work on channels: analyse a new snapshot, sync our node, score our channels."""

from celery import shared_task
from django.db import OperationalError

from sources.clients.errors import SourceError

# Transient database trouble only (a lost connection, a locked SQLite): a constraint violation will not heal.
RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "retry_jitter": True, "max_retries": 5}


@shared_task(**RETRY)
def analyse_snapshot(snapshot_id: int) -> dict:
    """Centrality for one snapshot. Idempotent; returns quietly when the snapshot was pruned meanwhile."""
    from channels.analysis import analyse_snapshot as analyse
    from sources.models import GraphSnapshot

    snapshot = GraphSnapshot.objects.filter(pk=snapshot_id).defer("payload").first()
    if snapshot is None:
        return {"analysed": False, "reason": f"snapshot {snapshot_id} no longer exists"}
    analysis = analyse(snapshot)
    return {"analysed": True, "analysis_id": analysis.id, "duration_s": analysis.duration_s}


@shared_task(**RETRY)
def sync_channels() -> dict:
    """Copy our node's channels, policies and forwards from LND. A source outage is reported, not raised."""
    from channels.sync import sync_node

    try:
        report = sync_node()
    except SourceError as exc:
        return {"synced": False, "error": str(exc)}
    return {"synced": True, "source": report.source, "channels": report.channels, "closed": report.closed}


@shared_task(**RETRY)
def score_channels() -> dict:
    from channels.services import NothingToScore, channels_score

    try:
        scores = channels_score()
    except NothingToScore as exc:
        return {"scored": 0, "reason": str(exc)}
    return {"scored": len(scores)}


@shared_task(**RETRY)
def sync_and_score() -> dict:
    """Balances and forwards change between graph refreshes: sync, then score, on their own schedule."""
    synced = sync_channels()
    if not synced["synced"]:  # scoring would judge the previous balances as if they were today's
        return {**synced, "scored": 0, "reason": "not scored: the sync failed"}
    return {**synced, **score_channels()}
