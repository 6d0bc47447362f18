"""Periodic work of the decisions app. A task is an interface: it parses, calls one service, reports.

The node sync lives here rather than in channels: what it finds changed outside Daznode goes to the audit log,
which belongs to decisions (channels.sync reports it, decisions.sync records it).
"""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import transaction

from daznode.celery import RETRY

logger = logging.getLogger(__name__)


@shared_task(**RETRY)
def fee_cycle(mode: str | None = None, sync: bool = True) -> dict:
    """Sync (unless told the node was just synced), score, decide and act per DAZNODE_DECISION_MODE (or `mode`).
    A source outage is reported, not raised."""
    from decisions.cycle import fee_cycle as run_cycle
    from decisions.models import Decision, FeeCycle

    if mode is not None and mode not in Decision.Mode.values:
        return {"ran": False, "error": f"mode must be one of {', '.join(Decision.Mode.values)}, got {mode!r}"}
    report = run_cycle(mode=mode, trigger=FeeCycle.Trigger.BEAT, sync=bool(sync))
    charts_render_after_commit()
    return {"ran": not report.error, "cycle": report.cycle.pk, "mode": report.mode, **report.cycle.summary}


@shared_task(**RETRY)
def sync_channels() -> dict:
    """Copy our node's channels, policies and forwards from LND, and audit policies changed outside Daznode.
    A source outage is reported, not raised."""
    from decisions.sync import node_sync
    from sources.clients.errors import SourceError

    try:
        report = node_sync()
    except SourceError as exc:
        return {"synced": False, "error": str(exc)}
    return {
        "synced": True,
        "source": report.source,
        "channels": report.channels,
        "closed": report.closed,
        "external_changes": len(report.external_changes),
    }


@shared_task(**RETRY)
def sync_and_score() -> dict:
    """Balances and forwards change between graph refreshes: sync, then score, on their own schedule."""
    from channels.tasks import score_channels

    synced = sync_channels()
    if not synced["synced"]:  # scoring would judge the previous balances as if they were today's
        return {**synced, "scored": 0, "reason": "not scored: the sync failed"}
    scored = score_channels()
    if scored["scored"]:
        charts_render_after_commit()
    return {**synced, **scored}


@shared_task(**RETRY)
def render_charts() -> dict:
    """Draw the dashboard overview's charts whose data changed, so that no page view waits on matplotlib."""
    from decisions.dashboard.charts import charts_warm

    return charts_warm()


def charts_render_after_commit() -> None:
    # robust: a broker that is down must not fail the cycle that already ran; the page draws on demand instead.
    transaction.on_commit(render_charts.delay, robust=True)


@shared_task(**RETRY)
def recover_policy_writes() -> dict:
    """Settle the policy writes interrupted longer ago than one write can take (decisions.recovery)."""
    from decisions.recovery import recover_policy_writes as recover

    return recover().as_dict()


@worker_ready.connect(dispatch_uid="decisions.recover_policy_writes_at_worker_start")
def recover_at_worker_start(sender=None, **kwargs) -> None:
    """When a worker starts, settle the writes its predecessor left. Only those older than one write can take: the
    web process or another worker may have one in flight right now."""
    from decisions.recovery import recover_policy_writes as recover

    try:
        report = recover()
    except Exception:  # the worker must start anyway; the scheduled recovery tries again
        logger.exception("recovery of interrupted policy writes failed at worker start")
        return
    logger.info("recovery at worker start: %s", report.as_dict())
