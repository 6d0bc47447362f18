"""Periodic housekeeping for the vault."""

from celery import shared_task

from auth_vault.access_log import access_log_prune
from daznode.actors import system_actor
from daznode.celery import RETRY


@shared_task(**RETRY)
def prune_access_log() -> dict:
    """Delete access-log entries past their retention; the pruning itself is recorded. Idempotent."""
    report = access_log_prune(actor=system_actor("prune-access-log"))
    return {"events_deleted": report.events_deleted, "counts_deleted": report.counts_deleted}
