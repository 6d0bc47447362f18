"""Applying fee decisions to the node: claim once, read, back up, send the complete policy, read back, and on
any failure put the backup back.

The order is the safety argument. A decision is claimed by a conditional UPDATE, so two workers can never both
apply it, and it is not even claimed while another write to its channel is unsettled (in flight, or interrupted
and awaiting recovery). The live policy is read first: if it is not the one the decision was made from, the
decision is stale (failed, nothing sent), and the policy is recorded as changed outside Daznode unless Daznode
already knows it (its own rollback, restore or recovery put it there). The backup is stored before anything is
sent. Sending, reading back and putting the backup back are decisions.policy_change, shared with rollback:
the read-back is the only truth, also after an uncertain answer. The node holding the proposed policy applies
the decision; anything else fails it with the reason and what the node holds. The write's journal row is settled
in the transaction that records this, unless recovery settled it first: then recovery's record stands. When the
node could not be read after the write, nothing is recorded as its policy: the row is released to recovery, which
reads the node at its next run, and the decision stays `applying` with a note saying so.

Only in live mode does an apply reach the node by itself. In shadow and dry run an operator's apply is refused
(NotLive: nothing claimed, journalled or sent) unless they ask for this one to go live anyway, and then every
audit row of it says so. The kill switch wins over that. The executor's own put-back after a failed read-back
is a restore, not an operator's change: the mode never blocks it.
"""

import logging
from collections.abc import Iterable
from contextlib import nullcontext

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from channels.models import Channel
from daznode.lightning import Policy
from decisions.audit import audit, external_change, last_policy_change
from decisions.conf import live_write_note, noted
from decisions.models import AuditEntry, Decision, KillSwitch
from decisions.policy_change import (
    ChangeResult,
    ChannelBusy,
    Outcome,
    Purpose,
    channel_write_unsettled,
    policy_change,
    policy_store,
    policy_write_record,
    write_release,
    write_settle,
)
from decisions.rollback import RollbackError, decision_rollback
from decisions.services import decision_revalidate
from decisions.writer import NodeWriter, node_writer
from sources.clients.errors import SourceError

logger = logging.getLogger(__name__)

# How Daznode already knows a policy found in place of the one a decision was made from, for the stale reason.
KNOWN_AS_OWN = "by Daznode's own rollback, restore or recovery"
KNOWN_AS_EXTERNAL = "outside Daznode (already recorded)"


class ApplyRefused(Exception):
    """The decision cannot be applied now; nothing was sent and nothing changed."""


class AlreadyClaimed(ApplyRefused):
    """Another worker (or an operator) took this decision first."""


class NotLive(ApplyRefused):
    """Daznode is in shadow or dry run mode and the operator did not ask to apply live anyway: nothing was sent."""


def kill_switch_engaged() -> bool:
    return settings.DAZNODE_KILL_SWITCH or KillSwitch.current().engaged


def decision_apply(
    *, decision: Decision, actor: str, writer: NodeWriter | None = None, live_anyway: bool = False
) -> Decision:
    """Apply one fee decision live. Returns it APPLIED or FAILED (with the reason); raises ApplyRefused when it
    may not be applied at all, NotLive when the mode is not live and the operator did not say `live_anyway`."""
    _refuse_unless_appliable(decision)
    note = live_write_note(live_anyway=live_anyway, refusal=NotLive)
    _refuse_unless_valid_now(decision, actor)
    _claim(decision, actor)
    try:
        with nullcontext(writer) if writer is not None else node_writer(actor=actor) as node:
            _apply_claimed(decision, node, actor, note)
    except SourceError as exc:  # raised before anything was sent: no node, or the live policy unreadable
        _fail(decision, actor, f"nothing was sent: {exc}")
    decision.refresh_from_db()
    return decision


def decisions_apply(
    *,
    decisions: Iterable[Decision],
    actor: str,
    all_or_nothing: bool | None = None,
    live_anyway: bool = False,
) -> list[Decision]:
    """Apply several on one connection. All or nothing: the first failure restores those already applied in
    this batch and leaves the rest unapplied. A live fee cycle passes `live_anyway`: running one is the operator's
    explicit choice, whatever DAZNODE_DECISION_MODE says."""
    all_or_nothing = settings.DAZNODE_APPLY_ALL_OR_NOTHING if all_or_nothing is None else all_or_nothing
    pending = list(decisions)
    if not pending:
        return []
    live_write_note(live_anyway=live_anyway, refusal=NotLive)  # before the node is even read
    try:
        with node_writer(actor=actor) as node:
            return _apply_batch(pending, node, actor, all_or_nothing, live_anyway)
    except SourceError as exc:
        return [_fail_unclaimed(decision, actor, f"nothing was sent: {exc}") for decision in pending]


def _apply_batch(
    pending: list[Decision], node: NodeWriter, actor: str, all_or_nothing: bool, live_anyway: bool
) -> list[Decision]:
    done: list[Decision] = []
    for position, decision in enumerate(pending):
        try:
            applied = decision_apply(decision=decision, actor=actor, writer=node, live_anyway=live_anyway)
        except ApplyRefused as exc:
            logger.info("decision %s not applied: %s", decision.pk, exc)
            done.append(decision)
            continue
        done.append(applied)
        # Failed, or its outcome unknown until recovery reads the node: either way the batch is not "all".
        if applied.status != Decision.Status.APPLIED and all_or_nothing:
            _undo_batch(done, node, actor, culprit=applied, live_anyway=live_anyway)
            reason = f"not attempted: decision {applied.pk} of the same all-or-nothing batch was not applied"
            done.extend(_fail_unclaimed(left, actor, reason) for left in pending[position + 1 :])
            break
    return done


def _fail_unclaimed(decision: Decision, actor: str, reason: str) -> Decision:
    """Fail a decision of the batch that was not attempted, unless another worker holds it: then it is theirs."""
    try:
        _claim(decision, actor)
    except AlreadyClaimed:
        logger.info("decision %s left to the worker that holds it", decision.pk)
    else:
        _fail(decision, actor, reason)
    decision.refresh_from_db()
    return decision


def _undo_batch(done: list[Decision], node: NodeWriter, actor: str, *, culprit: Decision, live_anyway: bool) -> None:
    for decision in done:
        if decision.status != Decision.Status.APPLIED:
            continue
        try:
            decision_rollback(
                decision=decision,
                actor=actor,
                reason=f"all-or-nothing batch: decision {culprit.pk} failed",
                writer=node,
                live_anyway=live_anyway,
            )
        except RollbackError as exc:
            logger.error("batch undo of decision %s failed: %s", decision.pk, exc)
        decision.refresh_from_db()


def _refuse_unless_appliable(decision: Decision) -> None:
    if decision.needs_approval:
        raise ApplyRefused(
            f"a {decision.get_kind_display().lower()} decision is a recommendation: Daznode never closes a channel "
            "or moves funds; approve it and act with your node's tools"
        )
    if not decision.changes_policy:
        raise ApplyRefused("a no-action decision has nothing to apply")
    if decision.status not in Decision.OPEN_STATUSES:
        raise ApplyRefused(f"the decision is {decision.get_status_display().lower()}, not pending or approved")
    if kill_switch_engaged():
        raise ApplyRefused("the kill switch is engaged: no policy is changed until an admin releases it")
    if channel_write_unsettled(decision.channel):
        raise ApplyRefused(
            f"another policy write to channel {decision.channel.chan_id} is in flight or awaits recovery"
        )


def _refuse_unless_valid_now(decision: Decision, actor: str) -> None:
    rejections = decision_revalidate(decision=decision, now=timezone.now())
    if not rejections:
        return
    messages = "; ".join(rejection.message for rejection in rejections)
    with transaction.atomic():
        blocked = Decision.objects.filter(pk=decision.pk, status__in=Decision.OPEN_STATUSES).update(
            status=Decision.Status.BLOCKED,
            rejections=[rejection.to_dict() for rejection in rejections],
            updated_at=timezone.now(),
        )
        if blocked:
            audit(
                AuditEntry.Action.APPLY_FAILED,
                actor=actor,
                channel=decision.channel,
                decision=decision,
                reason=f"blocked by the safety limits in force now, nothing sent: {messages}",
            )
    raise ApplyRefused(f"blocked by the safety limits in force now: {messages}")


def _claim(decision: Decision, actor: str) -> None:
    claimed = Decision.objects.filter(pk=decision.pk, status__in=Decision.OPEN_STATUSES).update(
        status=Decision.Status.APPLYING, claimed_by=actor, updated_at=timezone.now()
    )
    if claimed != 1:
        raise AlreadyClaimed(f"decision {decision.pk} was taken by another worker or is no longer pending")
    decision.refresh_from_db()


def _apply_claimed(decision: Decision, node: NodeWriter, actor: str, note: str) -> None:
    """`note`: "" in live mode, else "live anyway in dry run mode" (or shadow), for the audit rows."""
    channel = decision.channel
    decided_from = Policy.from_dict(decision.current_policy)
    live = node.read(channel)
    if not live.same_terms(decided_from) and channel_write_unsettled(channel):
        # Not someone outside: another write of Daznode's is changing this channel right now.
        _fail(decision, actor, f"another policy write to channel {channel.chan_id} is in flight; nothing was sent")
        return
    if not live.same_terms(decided_from):
        _stale(decision, channel, node, actor, decided_from=decided_from, live=live)
        return
    target = Policy.from_dict(decision.proposed_policy)
    try:
        write = policy_change(
            node=node, channel=channel, live=live, target=target, purpose=Purpose.APPLY, actor=actor, decision=decision
        )
    except ChannelBusy as exc:
        _fail(decision, actor, noted(note, "tried", str(exc)), source=node.source.name)
        return
    if not write.known:
        _leave_to_recovery(decision, write)
        return
    took = write.outcome == Outcome.TOOK
    now = timezone.now()
    with transaction.atomic():
        if not write_settle(write.journal, outcome=write.outcome, by=actor, now=now):
            return  # recovery read the node and recorded it first; its record stands
        if took:
            Decision.objects.filter(pk=decision.pk).update(
                status=Decision.Status.APPLIED, applied_at=now, failure_reason="", updated_at=now
            )
        else:
            _set_failed(decision, write.summary())
        policy_write_record(
            write,
            channel=channel,
            actor=actor,
            action=AuditEntry.Action.POLICY_APPLIED,
            reason=noted(note, "applied", " ".join(decision.reasons[-2:])) if took else noted(note, "tried", ""),
            decision=decision,
        )
    if took:
        logger.info("channel %s: policy applied (decision %s)", channel.chan_id, decision.pk)
    else:
        logger.error("channel %s: decision %s failed: %s", channel.chan_id, decision.pk, write.summary())


def _leave_to_recovery(decision: Decision, write: ChangeResult) -> None:
    """Nothing could be read after the write: record no policy, leave the decision `applying` with a note, and
    release the journal row so that recovery's next run reads the node and settles both."""
    with transaction.atomic():
        if write_release(write.journal):
            Decision.objects.filter(pk=decision.pk, status=Decision.Status.APPLYING).update(
                failure_reason=write.summary(), updated_at=timezone.now()
            )
    logger.error("channel %s: decision %s left to recovery: %s", decision.channel.chan_id, decision.pk, write.summary())


def _stale(decision, channel, node, actor, *, decided_from: Policy, live: Policy) -> None:
    why = f"fee rate {decided_from.fee_rate_ppm} → {live.fee_rate_ppm} ppm; nothing was sent, the next cycle decides"
    known_as = _known_as(channel, live)
    with transaction.atomic():
        if known_as is None:
            external_change(
                channel,
                before=decided_from,
                after=live,
                source=node.source.name,
                reason="found when applying: the policy is not the one the decision was made from",
                decision=decision,
            )
        policy_store(channel=channel, policy=live)
        _fail(
            decision,
            actor,
            f"the policy changed {known_as or 'outside Daznode'} since the decision ({why} afresh)",
            source=node.source.name,
        )


def _known_as(channel: Channel, live: Policy) -> str | None:
    """How Daznode already knows `live`: a policy it set itself, or a change outside it already recorded; None for
    a change made outside that nobody has recorded yet (the only one to record as external)."""
    latest = last_policy_change(channel)
    if latest is not None and latest.after and Policy.from_dict(latest.after).same_terms(live):
        return KNOWN_AS_EXTERNAL if latest.action == AuditEntry.Action.EXTERNAL_CHANGE else KNOWN_AS_OWN
    channel.refresh_from_db()
    # Daznode stores what it wrote or put back (policy_store); the sync stores only what it records as external.
    return KNOWN_AS_OWN if channel.policy().same_terms(live) else None


def _set_failed(decision: Decision, reason: str) -> None:
    Decision.objects.filter(pk=decision.pk).update(
        status=Decision.Status.FAILED, failure_reason=reason, updated_at=timezone.now()
    )


def _fail(decision: Decision, actor: str, reason: str, *, before=None, after=None, source: str = "") -> None:
    with transaction.atomic():  # the status and its audit row, or neither
        _set_failed(decision, reason)
        audit(
            AuditEntry.Action.APPLY_FAILED,
            actor=actor,
            channel=decision.channel,
            decision=decision,
            before=before,
            after=after,
            reason=reason,
            source=source,
        )
