"""Writing the audit log: one append-only row per decision, application, failure, rollback and external change."""

import logging
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from channels.models import Channel
from channels.sync import PolicyChange
from daznode.actors import NODE_ACTOR
from daznode.lightning import Policy
from decisions.models import POLICY_CHANGING_ACTIONS, AuditEntry, Decision

logger = logging.getLogger(__name__)


def audit(
    action: str,
    *,
    actor: str,
    channel: Channel | None = None,
    decision: Decision | None = None,
    before: Policy | dict | None = None,
    after: Policy | dict | None = None,
    reason: str = "",
    source: str = "",
    at: datetime | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        at=at or timezone.now(),
        actor=actor,
        action=action,
        channel=channel,
        decision=decision,
        before=_plain(before),
        after=_plain(after),
        reason=reason,
        source=source,
    )


def _plain(policy: Policy | dict | None) -> dict | None:
    return policy.to_dict() if isinstance(policy, Policy) else policy


def external_change(
    channel: Channel,
    *,
    before: Policy,
    after: Policy,
    source: str,
    reason: str,
    decision: Decision | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """A policy the node holds that Daznode did not set (lncli, another tool, ThunderHub): kept as history, and
    remembered so that a rollback does not silently overwrite it."""
    logger.warning(
        "channel %s: policy changed outside Daznode (fee rate %s -> %s ppm)",
        channel.chan_id,
        before.fee_rate_ppm,
        after.fee_rate_ppm,
    )
    return audit(
        AuditEntry.Action.EXTERNAL_CHANGE,
        actor=NODE_ACTOR,
        channel=channel,
        decision=decision,
        before=before,
        after=after,
        reason=reason,
        source=source,
        at=at,
    )


def record_external_changes(changes: Iterable[PolicyChange], *, source: str, at: datetime) -> int:
    """What a sync found: the node's policy differs from the one Daznode last knew."""
    count = 0
    for change in changes:
        external_change(
            change.channel,
            before=change.before,
            after=change.after,
            source=source,
            reason="the node's policy differs from the one Daznode last knew",
            at=at,
        )
        count += 1
    return count


def last_policy_change(channel: Channel) -> AuditEntry | None:
    """The newest audit row after which the node's policy was known: applied, rolled back or changed outside."""
    rows = AuditEntry.objects.filter(channel=channel, action__in=POLICY_CHANGING_ACTIONS)
    return rows.order_by("-at", "-id").first()
