"""The periodic fee cycle. A task is an interface: it parses, calls decisions.cycle.fee_cycle, reports."""

from celery import shared_task
from django.db import OperationalError

RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "retry_jitter": True, "max_retries": 3}


@shared_task(**RETRY)
def fee_cycle(mode: str | None = None, sync: bool = True) -> dict:
    """Sync (unless told the node was just synced), score, decide and act per DAZNODE_DECISION_MODE (or `mode`).
    A source outage is reported, not raised."""
    from decisions.cycle import fee_cycle as run_cycle
    from decisions.models import Decision, FeeCycle

    if mode is not None and mode not in Decision.Mode.values:
        return {"ran": False, "error": f"mode must be one of {', '.join(Decision.Mode.values)}, got {mode!r}"}
    report = run_cycle(mode=mode, trigger=FeeCycle.Trigger.BEAT, sync=bool(sync))
    return {"ran": not report.error, "cycle": report.cycle.pk, "mode": report.mode, **report.cycle.summary}
