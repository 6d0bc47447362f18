"""Applying fee decisions to the node: claim once, read, back up, send the complete policy, read back, and on
any failure put the backup back.

The order is the safety argument. A decision is claimed by a conditional UPDATE, so two workers can never both
apply it. The live policy is read first: if it is not the one the decision was made from, someone changed it
outside Daznode, and the decision is stale (recorded, not applied). The backup is stored before anything is
sent. After sending, the policy is read back, also when the send failed (a timeout after sending says nothing
about whether LND applied it): the read-back is the only truth. Anything but an exact match restores the backup
and marks the decision failed with the reason.
"""

import logging
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import replace

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from channels.models import Channel
from channels.policy import Policy
from decisions.audit import audit, external_change
from decisions.models import AuditEntry, Decision, KillSwitch, PolicyBackup
from decisions.rollback import RollbackError, decision_rollback
from decisions.services import decision_revalidate
from decisions.writer import NodeWriter, node_writer
from sources.clients.errors import SourceError

logger = logging.getLogger(__name__)


class ApplyRefused(Exception):
    """The decision cannot be applied now; nothing was sent and nothing changed."""


class AlreadyClaimed(ApplyRefused):
    """Another worker (or an operator) took this decision first."""


def kill_switch_engaged() -> bool:
    return settings.DAZNODE_KILL_SWITCH or KillSwitch.current().engaged


def decision_apply(*, decision: Decision, actor: str, writer: NodeWriter | None = None) -> Decision:
    """Apply one fee decision live. Returns it APPLIED or FAILED (with the reason); raises ApplyRefused when it
    may not be applied at all."""
    _refuse_unless_appliable(decision)
    _refuse_unless_valid_now(decision, actor)
    _claim(decision, actor)
    try:
        with nullcontext(writer) if writer is not None else node_writer(actor=actor) as node:
            _apply_claimed(decision, node, actor)
    except SourceError as exc:  # raised before anything was sent: no node, or the live policy unreadable
        _fail(decision, actor, f"nothing was sent: {exc}")
    decision.refresh_from_db()
    return decision


def decisions_apply(*, decisions: Iterable[Decision], actor: str, all_or_nothing: bool | None = None) -> list[Decision]:
    """Apply several on one connection. All or nothing: the first failure restores those already applied in
    this batch and leaves the rest unapplied."""
    all_or_nothing = settings.DAZNODE_APPLY_ALL_OR_NOTHING if all_or_nothing is None else all_or_nothing
    pending = list(decisions)
    if not pending:
        return []
    try:
        with node_writer(actor=actor) as node:
            return _apply_batch(pending, node, actor, all_or_nothing)
    except SourceError as exc:
        done = []
        for decision in pending:
            try:
                _claim(decision, actor)
            except AlreadyClaimed:
                pass  # another worker has it
            else:
                _fail(decision, actor, f"nothing was sent: {exc}")
            decision.refresh_from_db()
            done.append(decision)
        return done


def _apply_batch(pending: list[Decision], node: NodeWriter, actor: str, all_or_nothing: bool) -> list[Decision]:
    done: list[Decision] = []
    for position, decision in enumerate(pending):
        try:
            applied = decision_apply(decision=decision, actor=actor, writer=node)
        except ApplyRefused as exc:
            logger.info("decision %s not applied: %s", decision.pk, exc)
            done.append(decision)
            continue
        done.append(applied)
        if applied.status == Decision.Status.FAILED and all_or_nothing:
            _undo_batch(done, node, actor, culprit=applied)
            for left in pending[position + 1 :]:
                _claim(left, actor)
                _fail(left, actor, f"not attempted: decision {applied.pk} of the same all-or-nothing batch failed")
                left.refresh_from_db()
                done.append(left)
            break
    return done


def _undo_batch(done: list[Decision], node: NodeWriter, actor: str, *, culprit: Decision) -> None:
    for decision in done:
        if decision.status != Decision.Status.APPLIED:
            continue
        try:
            decision_rollback(
                decision=decision,
                actor=actor,
                reason=f"all-or-nothing batch: decision {culprit.pk} failed",
                writer=node,
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


def _apply_claimed(decision: Decision, node: NodeWriter, actor: str) -> None:
    channel = decision.channel
    decided_from = Policy.from_dict(decision.current_policy)
    live = node.read(channel)
    if not live.same_terms(decided_from):
        _stale(decision, channel, node, actor, decided_from=decided_from, live=live)
        return
    to_send = replace(Policy.from_dict(decision.proposed_policy), disabled=live.disabled)
    backup = PolicyBackup.objects.create(
        channel=channel, decision=decision, policy=live.to_dict(), read_from=node.source.name
    )
    problem = node.try_send(channel, to_send)
    readback = node.read_or_none(channel)
    if problem is None and readback is not None and readback.same_terms(to_send):
        _succeed(decision, channel, node, actor, before=live, after=readback)
        return
    if problem is None:
        problem = (
            "the node could not be read back after the update"
            if readback is None
            else f"verification mismatch: {_mismatch(to_send, readback)}"
        )
    _restore(decision, channel, node, actor, backup=backup, live=live, readback=readback, problem=problem)


def _mismatch(expected: Policy, found: Policy) -> str:
    wrong = [
        f"{name} sent {value}, node has {found.terms()[name]}"
        for name, value in expected.terms().items()
        if found.terms()[name] != value
    ]
    return "; ".join(wrong)


def _succeed(decision: Decision, channel: Channel, node: NodeWriter, actor: str, *, before: Policy, after: Policy):
    now = timezone.now()
    with transaction.atomic():
        Decision.objects.filter(pk=decision.pk).update(
            status=Decision.Status.APPLIED, applied_at=now, failure_reason="", updated_at=now
        )
        _store_policy(channel, after, now)
        audit(
            AuditEntry.Action.POLICY_APPLIED,
            actor=actor,
            channel=channel,
            decision=decision,
            before=before,
            after=after,
            reason=" ".join(decision.reasons[-2:]),
            source=node.source.name,
            at=now,
        )
    logger.info("channel %s: policy applied (decision %s)", channel.chan_id, decision.pk)


def _restore(decision, channel, node, actor, *, backup: PolicyBackup, live: Policy, readback, problem: str):
    if readback is not None and readback.same_terms(live):
        outcome, known = "the node kept its previous policy", live
    else:
        if node.put(channel, live):
            outcome, known = f"the previous policy was restored from backup {backup.pk}", live
        else:
            outcome, known = (
                f"RESTORING BACKUP {backup.pk} FAILED: the node's policy is unknown; check it and use rollback_channel",
                readback,  # what the node held at the last read, if it could be read
            )
    reason = f"{problem}; {outcome}"
    with transaction.atomic():
        if known is not None:
            _store_policy(channel, known, timezone.now())
        _fail(decision, actor, reason, before=live, after=readback, source=node.source.name)
    logger.error("channel %s: decision %s failed: %s", channel.chan_id, decision.pk, reason)


def _stale(decision, channel, node, actor, *, decided_from: Policy, live: Policy) -> None:
    with transaction.atomic():
        external_change(
            channel,
            before=decided_from,
            after=live,
            source=node.source.name,
            reason="found when applying: the policy is not the one the decision was made from",
            decision=decision,
        )
        _store_policy(channel, live, None)
        _fail(
            decision,
            actor,
            f"the policy changed outside Daznode since the decision (fee rate {decided_from.fee_rate_ppm} → "
            f"{live.fee_rate_ppm} ppm); nothing was sent, the next cycle decides afresh",
            source=node.source.name,
        )


def _store_policy(channel: Channel, policy: Policy, set_at) -> None:
    channel.set_policy(policy)
    if set_at is not None:
        channel.policy_set_at = set_at
    channel.save()


def _fail(decision: Decision, actor: str, reason: str, *, before=None, after=None, source: str = "") -> None:
    Decision.objects.filter(pk=decision.pk).update(
        status=Decision.Status.FAILED, failure_reason=reason, updated_at=timezone.now()
    )
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
