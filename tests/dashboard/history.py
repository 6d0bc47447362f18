"""A node with months of history, built in bulk: the dashboard's query-count tests and its benchmark read it.

What Daznode's beat schedule leaves behind after `days` days on a node of `channels` channels: hourly scores of every
channel, a fee cycle every 6 hours with one decision per channel (most of them "no action", recorded) and its audit
row, daily forwarding aggregates, and a backup and an audit row for every change applied. 500 channels over 90 days
is 1.08 million scores and 180,000 decisions: the size the pages must not slow down with.
"""

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from channels.models import Channel, ChannelActivity, ChannelScore, Node
from channels.scoring import DEFAULT_WEIGHTS, HEURISTICS
from decisions.models import AuditEntry, Decision, FeeCycle, PolicyBackup

BATCH = 5_000
CYCLE_EVERY = timedelta(hours=6)
FIRST_BLOCK = 700_000
# Of the decisions of one cycle, what they propose (the rest: no action).
KIND_SHARES = (
    (Decision.Kind.INCREASE_FEES, 0.04),
    (Decision.Kind.DECREASE_FEES, 0.04),
    (Decision.Kind.REBALANCE, 0.01),
)


@dataclass(frozen=True)
class History:
    our_node: Node
    channels: int
    scores: int
    decisions: int
    activity_rows: int


def _pubkey(index: int) -> str:
    return "02" + hashlib.sha256(f"daznode-history:{index}".encode()).hexdigest()


def history_build(
    *,
    channels: int,
    days: int,
    scores_per_day: int = 24,
    seed: int = 7,
    first_index: int = 1,
    now: datetime | None = None,
) -> History:
    """Build the node and its history; returns counts. `scores_per_day` 24 is the default hourly scoring. Called
    again with a `first_index` past the channels already built, it adds channels (and their history) to the node."""
    rng = random.Random(seed)
    now = (now or timezone.now()).replace(minute=0, second=0, microsecond=0)
    ours, _ = Node.objects.get_or_create(is_ours=True, defaults={"pubkey": _pubkey(0), "alias": "history-node"})
    peers = Node.objects.bulk_create(
        [Node(pubkey=_pubkey(index), alias=f"peer-{index:04d}") for index in range(first_index, first_index + channels)]
    )
    rows = Channel.objects.bulk_create(
        [_channel(rng, index, peer, now) for index, peer in enumerate(peers, start=first_index)]
    )
    activity = _bulk(
        ChannelActivity,
        (_activity(rng, channel, now - timedelta(days=day)) for channel in rows for day in range(days, 0, -1)),
    )
    scores = _bulk(ChannelScore, _scores(rng, rows, now, days, scores_per_day))
    decisions = _decisions(rng, rows, now, days)
    return History(our_node=ours, channels=len(rows), scores=scores, decisions=decisions, activity_rows=activity)


def _bulk(model, objects) -> int:
    batch, count = [], 0
    for obj in objects:
        batch.append(obj)
        if len(batch) == BATCH:
            model.objects.bulk_create(batch)
            count += len(batch)
            batch = []
    if batch:
        model.objects.bulk_create(batch)
        count += len(batch)
    return count


def _channel(rng: random.Random, index: int, peer: Node, now: datetime) -> Channel:
    capacity_sat = rng.choice((1_000_000, 2_000_000, 5_000_000, 10_000_000, 16_777_215))
    local_sat = int(capacity_sat * rng.random() * 0.98)
    return Channel(
        chan_id=((FIRST_BLOCK + index) << 40) | (rng.randrange(3000) << 16) | rng.randrange(2),
        chan_point=f"{hashlib.sha256(f'funding:{index}'.encode()).hexdigest()}:{index % 2}",
        peer=peer,
        capacity_sat=capacity_sat,
        local_balance_sat=local_sat,
        remote_balance_sat=int(capacity_sat * 0.98) - local_sat,
        active=rng.random() > 0.05,
        opened_at=now - timedelta(days=rng.randrange(100, 900)),
        base_fee_msat=rng.choice((0, 1000)),
        fee_rate_ppm=rng.choice((1, 10, 50, 100, 200, 500, 1000)),
        time_lock_delta=80,
        min_htlc_msat=1000,
        max_htlc_msat=capacity_sat * 990,
    )


def _activity(rng: random.Random, channel: Channel, start: datetime) -> ChannelActivity:
    forwards_out = int(rng.expovariate(1.0) * 8)
    amount_out_msat = forwards_out * rng.randrange(50_000, 500_000) * 1000
    return ChannelActivity(
        channel=channel,
        period_start=start,
        period_end=start + timedelta(days=1),
        forwards_in_count=int(rng.expovariate(1.0) * 8),
        forwards_out_count=forwards_out,
        failed_forwards_count=int(rng.expovariate(1.0) * 2),
        amount_in_msat=int(amount_out_msat * rng.random()),
        amount_out_msat=amount_out_msat,
        fees_earned_msat=amount_out_msat * channel.fee_rate_ppm // 1_000_000 + forwards_out * channel.base_fee_msat,
    )


def _scores(rng: random.Random, channels: list[Channel], now: datetime, days: int, per_day: int):
    step = timedelta(days=1) / per_day
    weights = dict(DEFAULT_WEIGHTS)
    for channel in channels:
        level = rng.random()
        for tick in range(days * per_day, 0, -1):
            subs = {name: min(1.0, max(0.0, level + rng.uniform(-0.2, 0.2))) for name in HEURISTICS}
            total = sum(subs[name] * weights[name] for name in HEURISTICS)
            yield ChannelScore(
                channel=channel,
                computed_at=now - tick * step,
                total_score=round(min(1.0, total), 6),
                weights=weights,
                inputs={},
                reasons={name: f"{name} reason" for name in HEURISTICS},
                **{f"{name}_score": value for name, value in subs.items()},
            )


def _kind(rng: random.Random) -> str:
    draw = rng.random()
    for kind, share in KIND_SHARES:
        if draw < share:
            return kind
        draw -= share
    return Decision.Kind.NO_ACTION


def _decisions(rng: random.Random, channels: list[Channel], now: datetime, days: int) -> int:
    cycles = FeeCycle.objects.bulk_create(
        [
            FeeCycle(mode="dry_run", trigger="beat", started_at=now - days * timedelta(days=1) + n * CYCLE_EVERY)
            for n in range(int(days * timedelta(days=1) / CYCLE_EVERY))
        ]
    )
    count = 0
    for cycle in cycles:
        rows = [_decision(rng, channel, cycle, last=cycle is cycles[-1]) for channel in channels]
        Decision.objects.bulk_create(rows, batch_size=BATCH)
        AuditEntry.objects.bulk_create([_audit(decision) for decision in rows], batch_size=BATCH)
        applied = [decision for decision in rows if decision.status == Decision.Status.APPLIED]
        PolicyBackup.objects.bulk_create(
            [
                PolicyBackup(channel=d.channel, decision=d, policy=d.current_policy, taken_at=d.created_at)
                for d in applied
            ]
        )
        count += len(rows)
    return count


def _decision(rng: random.Random, channel: Channel, cycle: FeeCycle, *, last: bool) -> Decision:
    kind = _kind(rng)
    policy = channel.policy().to_dict()
    proposed = None
    status = Decision.Status.RECORDED
    if kind in (Decision.Kind.INCREASE_FEES, Decision.Kind.DECREASE_FEES):
        factor = 1.25 if kind == Decision.Kind.INCREASE_FEES else 0.8
        proposed = {**policy, "fee_rate_ppm": max(1, int(policy["fee_rate_ppm"] * factor))}
        status = Decision.Status.PENDING if last else rng.choice((Decision.Status.SUPERSEDED, Decision.Status.APPLIED))
    elif kind == Decision.Kind.REBALANCE:
        status = Decision.Status.PENDING if last else Decision.Status.SUPERSEDED
    return Decision(
        channel=channel,
        cycle=cycle,
        kind=kind,
        rule="healthy" if kind == Decision.Kind.NO_ACTION else "drained_raise",
        total_score=round(rng.random(), 6),
        sub_scores={name: round(rng.random(), 6) for name in HEURISTICS},
        reasons=[f"{kind} because the history builder said so."],
        current_policy=policy,
        proposed_policy=proposed,
        status=status,
        mode="dry_run",
        created_at=cycle.started_at,
    )


def _audit(decision: Decision) -> AuditEntry:
    return AuditEntry(
        at=decision.created_at,
        actor="system",
        action=AuditEntry.Action.DECISION_CREATED,
        channel=decision.channel,
        decision=decision,
        before=decision.current_policy,
        after=decision.proposed_policy,
        reason=" ".join(decision.reasons),
    )
