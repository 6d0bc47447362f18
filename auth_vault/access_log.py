"""The vault's access log: a row for everything a person may have to answer for, hourly counts for the rest,
and the one sanctioned way to delete old entries.

A row each: every read by a person (through the admin, the API or a manage.py command), every creation,
rotation, revocation, login and failure. Counted per hour: reads by scheduled work ("system:<task>" actors, see
daznode.actors; a health check decrypts every minute) and refusals by the rate limits (an abusive client can
send hundreds a second). Both kinds are kept for a documented retention and
pruned by `access_log_prune`, which records what it deleted.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from auth_vault.models import AccessCount, AccessEvent, Secret
from daznode.actors import SYSTEM_ACTOR, username_actor

logger = logging.getLogger(__name__)

# Distinct counters per operation and hour; beyond this, further addresses share one counter, so that a client
# rotating through addresses (IPv6 gives it millions) still adds a bounded number of rows.
COUNTERS_PER_HOUR = 500
OVERFLOW_ACTOR = "(other clients)"
# Failed logins are rows (a person's password was tried), but an hour's rows are bounded for the same reason;
# past the budget they are counted.
FAILED_LOGIN_ROWS_PER_HOUR = 1000
# Whatever the configured retention, the last day is kept; the PostgreSQL trigger (migration 0004) enforces
# the same floor, so even a client that opens the guard cannot erase the trace of what it just did.
PRUNE_FLOOR = timedelta(days=1)
PRUNE_GUARD = "daznode.access_log_prune_before"


def actor_is_system(actor: str) -> bool:
    """Scheduled work, whose reads are counted. A bare "system" is the format before daznode.actors; a
    "command:" actor is a person at the command line, whose reads stay rows."""
    return actor == SYSTEM_ACTOR or actor.startswith(f"{SYSTEM_ACTOR}:")


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def access_record(
    *,
    operation: str,
    actor: str,
    secret: Secret | None = None,
    ip: str | None = None,
    success: bool = True,
    detail: str = "",
) -> None:
    """One AccessEvent row: the only place that writes them."""
    AccessEvent.objects.create(
        at=timezone.now(),
        operation=operation,
        actor=actor[:150],
        secret=secret,
        ip=ip,
        success=success,
        detail=detail[:500],
    )


def access_count(
    *,
    operation: str,
    actor: str,
    secret: Secret | None = None,
    ip: str | None = None,
    detail: str = "",
    now: datetime | None = None,
) -> None:
    """Add one to this hour's counter for the operation, actor, address and secret."""
    now = now or timezone.now()
    bucket = {"hour": _hour(now), "operation": operation, "actor": actor[:150], "secret": secret, "ip": ip or ""}
    if _increment(bucket, now, detail):
        return
    if AccessCount.objects.filter(hour=bucket["hour"], operation=operation).count() >= COUNTERS_PER_HOUR:
        bucket.update(actor=OVERFLOW_ACTOR, ip="", secret=None)
        if _increment(bucket, now, detail):
            return
    try:
        with transaction.atomic():
            AccessCount.objects.create(**bucket, count=1, first_at=now, last_at=now, detail=detail[:200])
    except IntegrityError:  # another process opened the same counter between our update and our insert
        _increment(bucket, now, detail)


def _increment(bucket: dict, now: datetime, detail: str) -> bool:
    return bool(AccessCount.objects.filter(**bucket).update(count=F("count") + 1, last_at=now, detail=detail[:200]))


def access_read(*, actor: str, secret: Secret, ip: str | None = None) -> None:
    """A secret was decrypted: counted for scheduled work, a row for anyone else."""
    if actor_is_system(actor):
        access_count(operation=AccessEvent.Operation.READ, actor=actor, secret=secret, ip=ip)
    else:
        access_record(operation=AccessEvent.Operation.READ, actor=actor, secret=secret, ip=ip)


def access_rate_limited(*, actor: str, ip: str | None, detail: str) -> None:
    """A request refused by a rate limit: counted per hour, actor and address, never a row each."""
    access_count(operation=AccessEvent.Operation.RATE_LIMITED, actor=actor, ip=ip, detail=detail)


def access_failed_login(*, username: str, ip: str | None) -> None:
    """A login refused for the name given (which may be no user at all): "user:<name>", as a real one's."""
    now = timezone.now()
    operation = AccessEvent.Operation.LOGIN_FAILED
    actor = username_actor(username or "?")
    if AccessEvent.objects.filter(operation=operation, at__gte=_hour(now)).count() < FAILED_LOGIN_ROWS_PER_HOUR:
        access_record(operation=operation, actor=actor, ip=ip, success=False)
    else:
        access_count(operation=operation, actor=actor, ip=ip, detail="over the hour's budget of rows", now=now)


@dataclass(frozen=True)
class AccessLogPruneReport:
    events_deleted: int
    counts_deleted: int
    events_before: datetime
    counts_before: datetime

    def describe(self) -> str:
        return (
            f"deleted {self.events_deleted} access event(s) before {self.events_before:%Y-%m-%d %H:%M} UTC "
            f"and {self.counts_deleted} hourly count(s) before {self.counts_before:%Y-%m-%d %H:%M} UTC"
        )


@transaction.atomic
def access_log_prune(*, actor: str, now: datetime | None = None) -> AccessLogPruneReport:
    """Delete entries older than their retention, and record that it happened (a row that is itself kept)."""
    now = now or timezone.now()
    events_before = now - max(settings.DAZNODE_ACCESS_LOG_RETENTION, PRUNE_FLOOR)
    counts_before = now - max(settings.DAZNODE_ACCESS_COUNT_RETENTION, PRUNE_FLOOR)
    _set_prune_guard(events_before.isoformat())
    try:
        report = AccessLogPruneReport(
            events_deleted=AccessEvent.objects.prune(before=events_before),
            counts_deleted=AccessCount.objects.filter(last_at__lt=counts_before).delete()[0],
            events_before=events_before,
            counts_before=counts_before,
        )
    finally:
        _set_prune_guard("")
    access_record(operation=AccessEvent.Operation.PRUNE, actor=actor, detail=report.describe())
    logger.info("access log: %s %s", actor, report.describe())
    return report


def _set_prune_guard(before: str) -> None:
    """On PostgreSQL, let this transaction delete access events older than `before` ("" closes it again).

    `set_config(..., true)` is SET LOCAL: whatever happens, the guard is gone when the transaction ends; closing it
    explicitly also covers a caller that runs the prune inside a longer transaction of its own.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [PRUNE_GUARD, before])
