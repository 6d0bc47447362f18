"""Putting a policy back: one decision's change, or a channel to the policy it had at a point in time.

A rollback is itself a change: the live policy is read, backed up, the old one is sent complete and read back,
and an audit row records it. It is idempotent: rolling back what is already rolled back changes nothing. It
refuses to overwrite a policy someone changed outside Daznode since (that change is recorded) unless forced.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from channels.models import Channel
from channels.policy import Policy
from decisions.audit import audit, external_change, last_policy_change
from decisions.models import POLICY_CHANGING_ACTIONS, AuditEntry, Decision, PolicyBackup
from decisions.writer import NodeWriter, node_writer
from sources.clients.errors import SourceError

logger = logging.getLogger(__name__)


class RollbackError(Exception):
    """The rollback did not happen; the message says why and what the node holds."""


class ExternalChangeConflict(RollbackError):
    """The live policy is not the one Daznode set: someone changed it since. Force to overwrite it."""


@dataclass(frozen=True)
class RollbackResult:
    changed: bool
    message: str
    before: Policy | None = None
    after: Policy | None = None


def decision_rollback(
    *, decision: Decision, actor: str, force: bool = False, reason: str = "", writer: NodeWriter | None = None
) -> RollbackResult:
    """Put back the policy that decision replaced (its backup)."""
    decision.refresh_from_db()
    if decision.status == Decision.Status.ROLLED_BACK:
        return RollbackResult(False, f"decision {decision.pk} is already rolled back")
    if decision.status != Decision.Status.APPLIED:
        raise RollbackError(
            f"only an applied decision can be rolled back; decision {decision.pk} is "
            f"{decision.get_status_display().lower()}"
        )
    later = Decision.objects.filter(
        channel=decision.channel, status=Decision.Status.APPLIED, applied_at__gt=decision.applied_at
    ).first()
    if later is not None:
        raise RollbackError(
            f"decision {later.pk} changed channel {decision.channel.chan_id} after this one: roll that back first, "
            "or roll the channel back to a point in time"
        )
    backup = decision.policy_backups.order_by("taken_at", "id").first()
    if backup is None:  # cannot happen through the executor; refuse rather than guess
        raise RollbackError(f"decision {decision.pk} has no stored backup to restore")
    claimed = Decision.objects.filter(pk=decision.pk, status=Decision.Status.APPLIED).update(
        status=Decision.Status.ROLLED_BACK, rolled_back_at=timezone.now()
    )
    if claimed != 1:
        return RollbackResult(False, f"decision {decision.pk} is being rolled back by someone else")
    why = reason or f"rollback of decision {decision.pk} ({decision.get_kind_display().lower()})"
    try:
        result = _restore(
            decision.channel,
            target=Policy.from_dict(backup.policy),
            expected=Policy.from_dict(decision.proposed_policy),
            actor=actor,
            force=force,
            reason=why,
            decision=decision,
            writer=writer,
        )
    except Exception:
        Decision.objects.filter(pk=decision.pk).update(status=Decision.Status.APPLIED, rolled_back_at=None)
        raise
    return result


def channel_rollback(
    *, channel: Channel, to: datetime, actor: str, force: bool = False, reason: str = ""
) -> RollbackResult:
    """Put back the policy the channel had at `to`: the `before` of the first recorded change after it."""
    if to > timezone.now():
        raise RollbackError("the point in time is in the future")
    first_after = (
        AuditEntry.objects.filter(channel=channel, action__in=POLICY_CHANGING_ACTIONS, at__gt=to)
        .order_by("at", "id")
        .first()
    )
    if first_after is None or first_after.before is None:
        return RollbackResult(False, f"channel {channel.chan_id} has no recorded change since {to:%Y-%m-%d %H:%M}")
    external = (
        AuditEntry.objects.filter(channel=channel, action=AuditEntry.Action.EXTERNAL_CHANGE, at__gt=to)
        .order_by("-at", "-id")
        .first()
    )
    if external is not None and not force:
        raise ExternalChangeConflict(
            f"the policy of channel {channel.chan_id} was changed outside Daznode at {external.at:%Y-%m-%d %H:%M} "
            "UTC, after that point; roll back with force to overwrite that change"
        )
    latest = last_policy_change(channel)
    result = _restore(
        channel,
        target=Policy.from_dict(first_after.before),
        expected=Policy.from_dict(latest.after) if latest.after else channel.policy(),
        actor=actor,
        force=force,
        reason=reason or f"rollback of channel {channel.chan_id} to {to:%Y-%m-%d %H:%M:%S} UTC",
    )
    if result.changed:
        Decision.objects.filter(channel=channel, status=Decision.Status.APPLIED, applied_at__gt=to).update(
            status=Decision.Status.ROLLED_BACK, rolled_back_at=timezone.now()
        )
    return result


def _restore(channel, *, target: Policy, expected: Policy, actor, force, reason, decision=None, writer=None):
    try:
        if writer is not None:
            return _restore_with(writer, channel, target, expected, actor, force, reason, decision)
        with node_writer(actor=actor) as node:
            return _restore_with(node, channel, target, expected, actor, force, reason, decision)
    except SourceError as exc:
        raise RollbackError(f"the node could not be reached or read; nothing was sent: {exc}") from None


def _restore_with(node: NodeWriter, channel, target, expected, actor, force, reason, decision) -> RollbackResult:
    live = node.read(channel)
    if not live.same_terms(expected):
        _record_external(channel, node, decision, expected=expected, live=live)
        if not force:
            raise ExternalChangeConflict(
                f"the policy of channel {channel.chan_id} was changed outside Daznode (fee rate now "
                f"{live.fee_rate_ppm} ppm, Daznode set {expected.fee_rate_ppm} ppm); roll back with force to "
                "overwrite that change"
            )
    if live.same_terms(target):
        if decision is None:  # nothing to do and nothing to record: a repeated rollback is a no-op
            return RollbackResult(False, f"channel {channel.chan_id} already has that policy", live, live)
        _finish(channel, node, actor, decision, live=live, after=live, reason=f"{reason} (already in place)")
        return RollbackResult(True, f"channel {channel.chan_id} already has that policy", live, live)
    PolicyBackup.objects.create(channel=channel, decision=decision, policy=live.to_dict(), read_from=node.source.name)
    to_send = Policy(**{**target.to_dict(), "disabled": live.disabled})
    if not node.put(channel, to_send):
        if not node.put(channel, live):
            logger.error("channel %s: rollback failed and the previous policy could not be re-sent", channel.chan_id)
        audit(
            AuditEntry.Action.APPLY_FAILED,
            actor=actor,
            channel=channel,
            decision=decision,
            before=live,
            after=None,
            reason=f"{reason}: the rollback did not take",
            source=node.source.name,
        )
        raise RollbackError(f"the node did not take the rolled-back policy of channel {channel.chan_id}")
    _finish(channel, node, actor, decision, live=live, after=to_send, reason=reason)
    return RollbackResult(True, f"channel {channel.chan_id} rolled back", live, to_send)


def _record_external(channel, node, decision, *, expected: Policy, live: Policy) -> None:
    latest = last_policy_change(channel)
    if latest and latest.action == AuditEntry.Action.EXTERNAL_CHANGE and latest.after == live.to_dict():
        return  # the sync recorded it already
    external_change(
        channel,
        before=expected,
        after=live,
        source=node.source.name,
        reason="found when rolling back: the policy is not the one Daznode set",
        decision=decision,
    )


def _finish(channel, node, actor, decision, *, live: Policy, after: Policy, reason: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        channel.set_policy(after)
        channel.policy_set_at = now
        channel.save()
        audit(
            AuditEntry.Action.ROLLED_BACK,
            actor=actor,
            channel=channel,
            decision=decision,
            before=live,
            after=after,
            reason=reason,
            source=node.source.name,
            at=now,
        )
    logger.info("channel %s: %s", channel.chan_id, reason)
