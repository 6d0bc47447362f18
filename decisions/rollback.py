"""Putting a policy back: one decision's change, or a channel to the policy it had at a point in time.

A rollback is itself a change, made the one way every change is (decisions.policy_change): the live policy is
read, backed up, the old one is sent complete and read back, and an audit row records it. It is idempotent:
rolling back what is already rolled back changes nothing. It refuses to overwrite a policy someone changed
outside Daznode since (that change is recorded) unless forced, and refuses while another write to the channel is
unsettled. A decision is `rolling_back` while its rollback is written: claimed by a conditional UPDATE, so two
rollbacks never both send, and left so by a process killed mid-write until recovery reads the node and settles
it (rolled back if the node holds the backup, applied again if it still holds the decision's policy). It is left
so as well when the node could not be read after the write: the journal row is released to recovery's next run
(WriteLeftToRecovery), because only a policy read from the node is ever recorded.

A rollback writes a policy, so outside live mode it is refused (NotLive, before anything is claimed or read)
unless the operator asks for this one to go live anyway; its audit row then says so.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from channels.models import Channel
from daznode.lightning import Policy
from decisions.audit import audit, external_change, last_policy_change
from decisions.conf import live_write_note, noted
from decisions.models import POLICY_CHANGING_ACTIONS, AuditEntry, Decision, PolicyWrite
from decisions.policy_change import (
    ChangeResult,
    ChannelBusy,
    Outcome,
    Purpose,
    channel_write_unsettled,
    policy_change,
    policy_write_record,
    write_release,
    write_settle,
)
from decisions.writer import NodeWriter, node_writer
from sources.clients.errors import SourceError

logger = logging.getLogger(__name__)


class RollbackError(Exception):
    """The rollback did not happen; the message says why and what the node holds."""


class ExternalChangeConflict(RollbackError):
    """The live policy is not the one Daznode set: someone changed it since. Force to overwrite it."""


class SettledByRecovery(RollbackError):
    """The rollback's write outlived the bound and recovery settled it from what the node holds: its record stands."""


class WriteLeftToRecovery(RollbackError):
    """The node could not be read after the rollback's write: recovery's next run reads it and settles the rollback."""


class NotLive(RollbackError):
    """Daznode is in shadow or dry run mode and the operator did not ask to roll back live anyway: nothing was sent."""


@dataclass(frozen=True)
class RollbackResult:
    changed: bool
    message: str
    before: Policy | None = None
    after: Policy | None = None


def decision_rollback(
    *,
    decision: Decision,
    actor: str,
    force: bool = False,
    reason: str = "",
    writer: NodeWriter | None = None,
    live_anyway: bool = False,
) -> RollbackResult:
    """Put back the policy that decision replaced (its backup). Outside live mode only with `live_anyway`."""
    decision.refresh_from_db()
    if decision.status == Decision.Status.ROLLED_BACK:
        return RollbackResult(False, f"decision {decision.pk} is already rolled back")
    if decision.status == Decision.Status.ROLLING_BACK:
        return RollbackResult(False, f"decision {decision.pk} is being rolled back by someone else")
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
    _refuse_while_unsettled(decision.channel)
    note = live_write_note(live_anyway=live_anyway, refusal=NotLive)
    claimed = Decision.objects.filter(pk=decision.pk, status=Decision.Status.APPLIED).update(
        status=Decision.Status.ROLLING_BACK, updated_at=timezone.now()
    )
    if claimed != 1:
        return RollbackResult(False, f"decision {decision.pk} is being rolled back by someone else")
    why = noted(
        note, "rolled back", reason or f"rollback of decision {decision.pk} ({decision.get_kind_display().lower()})"
    )
    try:
        return _restore(
            decision.channel,
            target=Policy.from_dict(backup.policy),
            expected=Policy.from_dict(decision.proposed_policy),
            actor=actor,
            force=force,
            reason=why,
            decision=decision,
            writer=writer,
        )
    finally:  # not rolled back (refused, unreachable, not taken): still applied, unless recovery settled it or
        # its write awaits recovery (then only the node can say whether it is rolled back)
        awaiting = PolicyWrite.objects.filter(decision=OuterRef("pk"), settled_at__isnull=True)
        Decision.objects.filter(pk=decision.pk, status=Decision.Status.ROLLING_BACK).exclude(Exists(awaiting)).update(
            status=Decision.Status.APPLIED, updated_at=timezone.now()
        )


def _refuse_while_unsettled(channel: Channel) -> None:
    if channel_write_unsettled(channel):
        raise RollbackError(
            f"another policy write to channel {channel.chan_id} is in flight or awaits recovery; try again after "
            "recover_policy_writes has settled it"
        )


def channel_rollback(
    *, channel: Channel, to: datetime, actor: str, force: bool = False, reason: str = "", live_anyway: bool = False
) -> RollbackResult:
    """Put back the policy the channel had at `to`: the `before` of the first recorded change after it. Outside live
    mode only with `live_anyway`."""
    if to > timezone.now():
        raise RollbackError("the point in time is in the future")
    _refuse_while_unsettled(channel)
    first_after = _first_change_after(channel, to)
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
    note = live_write_note(live_anyway=live_anyway, refusal=NotLive)
    latest = last_policy_change(channel)
    return _restore(
        channel,
        target=Policy.from_dict(first_after.before),
        expected=Policy.from_dict(latest.after) if latest is not None and latest.after else channel.policy(),
        actor=actor,
        force=force,
        reason=noted(
            note, "rolled back", reason or f"rollback of channel {channel.chan_id} to {to:%Y-%m-%d %H:%M:%S} UTC"
        ),
        rollback_to=to,
    )


def _first_change_after(channel: Channel, to: datetime) -> AuditEntry | None:
    return (
        AuditEntry.objects.filter(channel=channel, action__in=POLICY_CHANGING_ACTIONS, at__gt=to)
        .order_by("at", "id")
        .first()
    )


def channel_policy_at(*, channel: Channel, to: datetime) -> Policy | None:
    """The policy a rollback of the channel to `to` would put back; None when nothing was recorded since."""
    first_after = _first_change_after(channel, to)
    return Policy.from_dict(first_after.before) if first_after is not None and first_after.before else None


def decision_rollback_target(decision: Decision) -> Policy | None:
    """The policy rolling the decision back would put back (its backup); None when it has none."""
    backup = decision.policy_backups.order_by("taken_at", "id").first()
    return Policy.from_dict(backup.policy) if backup is not None else None


def rolled_back_settle(
    *, channel: Channel, decision: Decision | None, rollback_to: datetime | None, took: bool
) -> None:
    """The decisions a rollback's outcome settles: the one rolled back (or applied again when the node did not take
    it); for a channel rollback that took, those applied after its point in time. Also used by recovery."""
    now = timezone.now()
    if decision is not None:  # settled: a note that its outcome awaited recovery no longer holds
        status = Decision.Status.ROLLED_BACK if took else Decision.Status.APPLIED
        Decision.objects.filter(pk=decision.pk).update(
            status=status, rolled_back_at=now if took else None, failure_reason="", updated_at=now
        )
    elif took and rollback_to is not None:
        Decision.objects.filter(channel=channel, status=Decision.Status.APPLIED, applied_at__gt=rollback_to).update(
            status=Decision.Status.ROLLED_BACK, rolled_back_at=now, updated_at=now
        )


@dataclass(frozen=True)
class _Restore:
    channel: Channel
    target: Policy
    expected: Policy
    actor: str
    force: bool
    reason: str
    decision: Decision | None = None
    rollback_to: datetime | None = None


def _restore(
    channel, *, target: Policy, expected: Policy, actor, force, reason, decision=None, writer=None, rollback_to=None
):
    job = _Restore(channel, target, expected, actor, force, reason, decision, rollback_to)
    try:
        if writer is not None:
            return _restore_with(writer, job)
        with node_writer(actor=actor) as node:
            return _restore_with(node, job)
    except SourceError as exc:
        raise RollbackError(f"the node could not be reached or read; nothing was sent: {exc}") from None
    except ChannelBusy as exc:
        raise RollbackError(str(exc)) from None


def _restore_with(node: NodeWriter, job: _Restore) -> RollbackResult:
    channel, target, expected, actor, reason, decision = (
        job.channel,
        job.target,
        job.expected,
        job.actor,
        job.reason,
        job.decision,
    )
    live = node.read(channel)
    if not live.same_terms(expected):
        _record_external(channel, node, decision, expected=expected, live=live)
        if not job.force:
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
    purpose = Purpose.ROLLBACK if decision is not None else Purpose.CHANNEL_ROLLBACK
    write = policy_change(
        node=node,
        channel=channel,
        live=live,
        target=target,
        purpose=purpose,
        actor=actor,
        decision=decision,
        rollback_to=job.rollback_to,
    )
    if not write.known:
        _leave_to_recovery(channel, decision, write)
    took = write.outcome == Outcome.TOOK
    with transaction.atomic():
        if not write_settle(write.journal, outcome=write.outcome, by=actor):
            raise SettledByRecovery(
                f"the rollback of channel {channel.chan_id} outlived its bound; recovery settled it from what the "
                "node holds (see the audit log)"
            )
        rolled_back_settle(channel=channel, decision=decision, rollback_to=job.rollback_to, took=took)
        policy_write_record(
            write, channel=channel, actor=actor, action=AuditEntry.Action.ROLLED_BACK, reason=reason, decision=decision
        )
    if not took:
        raise RollbackError(
            f"the node did not take the rolled-back policy of channel {channel.chan_id}: {write.summary()}"
        )
    logger.info("channel %s: %s", channel.chan_id, reason)
    return RollbackResult(True, f"channel {channel.chan_id} rolled back", live, write.found)


def _leave_to_recovery(channel: Channel, decision: Decision | None, write: ChangeResult) -> NoReturn:
    """Nothing could be read after the write: record no policy; the decision stays `rolling_back` with a note, and
    the journal row is released so that recovery's next run reads the node and settles both."""
    with transaction.atomic():
        if not write_release(write.journal):
            raise SettledByRecovery(
                f"the rollback of channel {channel.chan_id} outlived its bound; recovery settles it from what the "
                "node holds (see the audit log)"
            )
        if decision is not None:
            Decision.objects.filter(pk=decision.pk, status=Decision.Status.ROLLING_BACK).update(
                failure_reason=f"rollback: {write.summary()}", updated_at=timezone.now()
            )
    logger.error("channel %s: rollback left to recovery: %s", channel.chan_id, write.summary())
    raise WriteLeftToRecovery(f"the rollback of channel {channel.chan_id}: {write.summary()}")


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
        rolled_back_settle(channel=channel, decision=decision, rollback_to=None, took=True)
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
