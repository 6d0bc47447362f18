"""Periodic and chained work on channels: analyse a new snapshot, score our channels.

Syncing our node is a decisions task (decisions.tasks.sync_channels): what the sync finds changed outside
Daznode is recorded in the audit log, which channels may not import."""

from celery import shared_task

from daznode.celery import RETRY


@shared_task(**RETRY)
def analyse_snapshot(snapshot_id: int) -> dict:
    """Centrality for one snapshot. Idempotent; returns quietly when the snapshot was pruned meanwhile."""
    from channels.analysis import analyse_snapshot as analyse
    from sources.models import GraphSnapshot

    snapshot = GraphSnapshot.objects.filter(pk=snapshot_id).defer("payload").first()
    if snapshot is None:
        return {"analysed": False, "reason": f"snapshot {snapshot_id} no longer exists"}
    try:
        analysis = analyse(snapshot)
    except GraphSnapshot.DoesNotExist:
        return {"analysed": False, "reason": f"snapshot {snapshot_id} was pruned before its analysis"}
    return {"analysed": True, "analysis_id": analysis.id, "duration_s": analysis.duration_s}


@shared_task(**RETRY)
def score_channels() -> dict:
    from channels.services import NothingToScore, channels_score

    try:
        scores = channels_score()
    except NothingToScore as exc:
        return {"scored": 0, "reason": str(exc)}
    return {"scored": len(scores)}
