"""Deciding: our channels' latest scores and state in, validated Decision rows out (or a preview of them).

The engine and the validator are pure; this module gathers what they need from the database in a handful of
queries (so 500 channels take milliseconds), stores the outcome with its explanation, and writes the audit rows.
What a stored decision's status means:

    recorded   nothing to apply (no action, or shadow mode)
    blocked    a safety limit refused it; `rejections` says which and with what values
    pending    a fee change waiting to be applied (dry run: by an operator; live: by the cycle right after),
               or a recommendation waiting for an operator's approval
    superseded a newer cycle decided again for the channel before this one was acted on
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from channels.models import Channel, ChannelActivity, ChannelScore
from channels.selectors import latest_scores
from daznode.lightning import Policy
from daznode.roles import Role
from decisions.audit import audit
from decisions.conf import decision_limits, decision_thresholds
from decisions.engine import FEE_CHANGES, ChannelFacts, Kind, Proposal, Thresholds, decide
from decisions.models import POLICY_CHANGING_ACTIONS, AuditEntry, Decision, FeeCycle, FeeLimit, KillSwitch
from decisions.validator import BoundsOverride, Candidate, Limits, Rejection, validate

logger = logging.getLogger(__name__)
PEER_LABEL_LENGTH = 16


class NothingToDecide(Exception):
    pass


class DecisionStateError(Exception):
    """The decision is not in a state that allows this (approving an applied one, say)."""


@dataclass(frozen=True)
class Judgement:
    """One channel's proposal and what the safety limits said of it."""

    channel: Channel
    score: ChannelScore
    proposal: Proposal
    rejections: tuple[Rejection, ...]

    @property
    def blocked(self) -> bool:
        return bool(self.rejections)


def _latest_scores(channels: list[Channel]) -> dict[int, ChannelScore]:
    """One index probe per channel (channels.selectors), never a subquery over the whole score history."""
    return latest_scores(channel_ids=[channel.id for channel in channels])


def _last_forward(channels: list[Channel]) -> dict[int, datetime]:
    busy = ChannelActivity.objects.filter(channel__in=channels).filter(
        Q(forwards_out_count__gt=0) | Q(forwards_in_count__gt=0)
    )
    return dict(busy.values("channel_id").annotate(last=Max("period_end")).values_list("channel_id", "last"))


def _last_change(channels: list[Channel]) -> dict[int, datetime]:
    rows = AuditEntry.objects.filter(channel__in=channels, action__in=POLICY_CHANGING_ACTIONS)
    return dict(rows.values("channel_id").annotate(last=Max("at")).values_list("channel_id", "last"))


def changes_in_last_day(now: datetime) -> int:
    return AuditEntry.objects.filter(action=AuditEntry.Action.POLICY_APPLIED, at__gt=now - timedelta(days=1)).count()


def _overrides() -> tuple[dict[int, BoundsOverride], dict[int, BoundsOverride]]:
    """FeeLimit rows by channel id and by peer id."""
    by_channel: dict[int, BoundsOverride] = {}
    by_peer: dict[int, BoundsOverride] = {}
    for row in FeeLimit.objects.all():
        override = BoundsOverride(
            row.min_fee_rate_ppm, row.max_fee_rate_ppm, row.min_base_fee_msat, row.max_base_fee_msat
        )
        if row.channel_id is not None:
            by_channel[row.channel_id] = override
        elif row.peer_id is not None:  # one or the other: a check constraint
            by_peer[row.peer_id] = override
    return by_channel, by_peer


def _peer_counts(channels: list[Channel]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for channel in channels:
        counts[channel.peer_id] = counts.get(channel.peer_id, 0) + 1
    return counts


def judge_channels(
    *,
    now: datetime,
    chan_ids: Iterable[int] | None = None,
    thresholds: Thresholds | None = None,
    limits: Limits | None = None,
) -> list[Judgement]:
    """Decide and validate for every open, scored channel (or those of `chan_ids`); stores nothing."""
    thresholds = thresholds or decision_thresholds()
    limits = limits or decision_limits()
    selected = Channel.objects.filter(closed_at__isnull=True).select_related("peer").order_by("chan_id")
    if chan_ids is not None:
        selected = selected.filter(chan_id__in=list(chan_ids))
    channels = list(selected)
    scores = _latest_scores(channels)
    if not scores:
        raise NothingToDecide("no scored open channel: run sync_channels and score_channels first")
    last_forward, last_change, peer_counts = _last_forward(channels), _last_change(channels), _peer_counts(channels)
    by_channel, by_peer = _overrides()
    changes_today = changes_in_last_day(now)
    judgements = []
    for channel in channels:
        score = scores.get(channel.id)
        if score is None:
            continue
        bounds = limits.bounds_for(by_peer.get(channel.peer_id), by_channel.get(channel.id))
        facts = _facts(channel, score, now, last_forward.get(channel.id), peer_counts[channel.peer_id])
        proposal = decide(replace(facts, bounds=limits.fee_bounds(bounds)), thresholds)
        candidate = Candidate(
            chan_id=channel.chan_id,
            peer_pubkey=channel.peer.pubkey,
            kind=proposal.kind,
            current=proposal.current,
            proposed=proposal.proposed,
            bounds=bounds,
            capacity_sat=channel.capacity_sat,
            closed=channel.closed_at is not None,
            last_change_at=last_change.get(channel.id),
        )
        rejections = tuple(validate(candidate, limits, now=now, changes_today=changes_today))
        if proposal.changes_policy and not rejections:
            changes_today += 1  # the budget counts the changes this batch will make
        judgements.append(Judgement(channel, score, proposal, rejections))
    return judgements


def _facts(channel: Channel, score: ChannelScore, now: datetime, last_forward, peer_channels: int) -> ChannelFacts:
    activity = score.activity()
    opened = channel.opened_at
    return ChannelFacts(
        chan_id=channel.chan_id,
        peer=channel.peer.alias or channel.peer.pubkey[:PEER_LABEL_LENGTH],
        score=score.total_score,
        sub_scores=score.sub_scores(),
        local_ratio=channel.local_ratio(),
        forwards_out=activity.forwards_out_count if activity else None,
        forwards_in=activity.forwards_in_count if activity else None,
        window_days=activity.window_days if activity else settings.DAZNODE_SCORE_ACTIVITY_DAYS,
        policy=channel.policy(),
        peer_score=score.peer_total_score,
        peer_channels=peer_channels,
        days_without_forward=(now - last_forward).total_seconds() / 86400 if last_forward else None,
        age_days=(now - opened).total_seconds() / 86400 if opened else None,
        active=channel.active,
    )


def _status(judgement: Judgement, mode: str) -> str:
    proposal = judgement.proposal
    if proposal.kind == Kind.NO_ACTION:
        return Decision.Status.RECORDED
    if judgement.blocked:
        return Decision.Status.BLOCKED
    if proposal.needs_approval:
        return Decision.Status.PENDING
    return Decision.Status.RECORDED if mode == Decision.Mode.SHADOW else Decision.Status.PENDING


def _decision_row(judgement: Judgement, *, mode: str, actor: str, cycle: FeeCycle | None, now: datetime) -> Decision:
    proposal = judgement.proposal
    reasons = list(proposal.reasons) + [f"Blocked: {rejection.message}." for rejection in judgement.rejections]
    return Decision(
        channel=judgement.channel,
        score=judgement.score,
        cycle=cycle,
        kind=proposal.kind.value,
        rule=proposal.rule.value,
        sub_scores=judgement.score.sub_scores(),
        rejections=[rejection.to_dict() for rejection in judgement.rejections],
        total_score=judgement.score.total_score,
        reasons=reasons,
        current_policy=proposal.current.to_dict(),
        proposed_policy=proposal.proposed.to_dict() if proposal.proposed else None,
        status=_status(judgement, mode),
        mode=mode,
        actor=actor,
        created_at=now,
    )


def _audit_row(decision: Decision) -> AuditEntry:
    dry = decision.mode == Decision.Mode.DRY_RUN and decision.changes_policy and decision.proposed_policy
    return AuditEntry(
        at=decision.created_at,
        actor=decision.actor,
        action=AuditEntry.Action.DRY_RUN if dry else AuditEntry.Action.DECISION_CREATED,
        channel=decision.channel,
        decision=decision,
        before=decision.current_policy,
        after=decision.proposed_policy,
        reason=f"{decision.get_kind_display()} ({decision.rule}), {decision.get_status_display().lower()}: "
        + " ".join(decision.reasons),
    )


@transaction.atomic
def decisions_store(
    judgements: list[Judgement], *, mode: str, actor: str, cycle: FeeCycle | None = None, now: datetime | None = None
) -> list[Decision]:
    """Store one decision per judgement (and its audit row); older open decisions of those channels are
    superseded, so an operator never applies yesterday's proposal by mistake."""
    now = now or timezone.now()
    # An approved recommendation stays approved: the operator agreed to act on it with their own tools.
    stale = Q(status=Decision.Status.PENDING) | Q(
        status=Decision.Status.APPROVED, kind__in=[kind.value for kind in FEE_CHANGES]
    )
    Decision.objects.filter(stale, channel__in=[j.channel for j in judgements]).update(
        status=Decision.Status.SUPERSEDED, updated_at=now
    )
    rows = Decision.objects.bulk_create(
        [_decision_row(j, mode=mode, actor=actor, cycle=cycle, now=now) for j in judgements]
    )
    AuditEntry.objects.bulk_create([_audit_row(decision) for decision in rows])
    return rows


def decision_revalidate(*, decision: Decision, now: datetime, limits: Limits | None = None) -> list[Rejection]:
    """The safety limits in force now, applied again to a stored fee decision: limits, lists, cooldown and
    budget may have changed since it was made (a dry run's decision can wait hours for an operator)."""

    limits = limits or decision_limits()
    channel = decision.channel
    by_channel, by_peer = _overrides()
    candidate = Candidate(
        chan_id=channel.chan_id,
        peer_pubkey=channel.peer.pubkey,
        kind=Kind(decision.kind),
        current=Policy.from_dict(decision.current_policy),
        proposed=Policy.from_dict(decision.proposed_policy) if decision.proposed_policy else None,
        bounds=limits.bounds_for(by_peer.get(channel.peer_id), by_channel.get(channel.id)),
        capacity_sat=channel.capacity_sat,
        closed=channel.closed_at is not None,
        last_change_at=_last_change([channel]).get(channel.id),
    )
    return validate(candidate, limits, now=now, changes_today=changes_in_last_day(now))


def decision_approve(*, decision: Decision, actor: str) -> Decision:
    return _review(decision, actor, Decision.Status.APPROVED, AuditEntry.Action.DECISION_APPROVED, "approved")


def decision_reject(*, decision: Decision, actor: str, reason: str = "") -> Decision:
    return _review(decision, actor, Decision.Status.REJECTED, AuditEntry.Action.DECISION_REJECTED, reason or "rejected")


def _review(decision: Decision, actor: str, status: str, action: str, reason: str) -> Decision:
    now = timezone.now()
    with transaction.atomic():
        moved = Decision.objects.filter(pk=decision.pk, status=Decision.Status.PENDING).update(
            status=status, approved_at=now if status == Decision.Status.APPROVED else None, updated_at=now
        )
        if moved != 1:
            decision.refresh_from_db()
            if decision.status == status:
                return decision  # approving twice is approving once
            raise DecisionStateError(
                f"decision {decision.pk} is {decision.get_status_display().lower()}: only a pending one can be "
                f"{'approved' if status == Decision.Status.APPROVED else 'rejected'}"
            )
        decision.refresh_from_db()
        audit(action, actor=actor, channel=decision.channel, decision=decision, reason=reason, at=now)
    return decision


def kill_switch_set(*, engaged: bool, actor: str, reason: str = "") -> KillSwitch:
    """Engage or release the kill switch, with an audit row. Setting it to what it is changes nothing."""
    now = timezone.now()
    with transaction.atomic():
        switch = KillSwitch.current()
        KillSwitch.objects.filter(pk=switch.pk).update(engaged=engaged, reason=reason, changed_by=actor, changed_at=now)
        if switch.engaged != engaged:
            state = "engaged" if engaged else "released"
            audit(AuditEntry.Action.KILL_SWITCH, actor=actor, reason=f"{state}: {reason}" if reason else state, at=now)
        switch.refresh_from_db()
    return switch


def kill_switch_role(engaged: bool) -> Role:
    """Who may set the switch: stopping changes is cheap and safe, so an operator may; letting them flow again
    is an admin's call."""
    return Role.OPERATOR if engaged else Role.ADMIN
