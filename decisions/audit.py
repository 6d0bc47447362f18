"""Writing the audit log: one append-only row per decision, application, failure, rollback and external change."""

import logging
from datetime import datetime

from django.utils import timezone

from channels.models import Channel
from channels.policy import Policy
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


def record_external_changes(changes: list[tuple[Channel, Policy, Policy]], *, source: str, at: datetime) -> int:
    """Policies the node holds that Daznode did not set (lncli, another tool, ThunderHub): kept as history, and
    remembered so that a rollback does not silently overwrite them."""
    for channel, before, after in changes:
        logger.warning(
            "channel %s: policy changed outside Daznode (fee rate %s -> %s ppm)",
            channel.chan_id,
            before.fee_rate_ppm,
            after.fee_rate_ppm,
        )
        audit(
            AuditEntry.Action.EXTERNAL_CHANGE,
            actor="node",
            channel=channel,
            before=before,
            after=after,
            reason="the node's policy differs from the one Daznode last knew",
            source=source,
            at=at,
        )
    return len(changes)


def last_policy_change(channel: Channel) -> AuditEntry | None:
    """The newest audit row after which the node's policy was known: applied, rolled back or changed outside."""
    rows = AuditEntry.objects.filter(channel=channel, action__in=POLICY_CHANGING_ACTIONS)
    return rows.order_by("-at", "-id").first()
