"""Deterministic demo data: our node, its peers, channels of every kind a fee manager meets, and a week of
forwarding aggregates that fit each. It lets a newcomer see a populated admin before any node is connected.

The kinds are the LND simulator's roles (sources.simulator.roles), so `seed_demo` and `make run`'s simulated
node show the same mix: a channel draining because it is cheap, one full and idle, one empty and still in
demand, a dead peer, an earner, an overpriced one, one never used; the rest ordinary.
"""

import hashlib
import random
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from channels.models import Channel, ChannelActivity, Node
from daznode.lightning import MSAT_PER_SAT
from sources.simulator.ledger import (
    FORWARD_SPREAD,
    INACTIVE_UPTIME_SHARE,
    MONITORED_FOR_S,
    USUAL_FLAPS,
    Flow,
    arrivals,
    flow_for,
)
from sources.simulator.roles import PROFILES, ROLE_ORDER, Profile, Role, fee_rate_ppm, readable_alias

DEMO_DAYS = 7
# Fee rates seen often on mainnet (ppm); the real graph's median is 100.
COMMON_FEE_RATES_PPM = (0, 1, 10, 50, 100, 100, 200, 250, 500, 1000)
NETWORK_MEDIAN_FEE_RATE_PPM = 100
FIRST_DEMO_BLOCK = 780_000
CAPACITIES_SAT = (1_000_000, 2_000_000, 5_000_000, 10_000_000)
SPENDABLE_SHARE = 0.98  # the rest is the commitment fee and anchors
ORDINARY_INACTIVE_SHARE = 0.05
FAILED_FORWARDS_PER_DAY = 1.0  # of a channel that routes
INBOUND_ONLY_TURNOVER = 0.01  # the daily volume, as a share of capacity, of a channel that only receives
# Forwards in a day per unit of a flow's in_weight: an earner receives about as many as it sends.
IN_FORWARDS_PER_WEIGHT = PROFILES[Role.EARNER].forwards_out_per_day / PROFILES[Role.EARNER].in_weight


def _hex(seed: int, label: str, index: int) -> str:
    return hashlib.sha256(f"daznode-demo:{seed}:{label}:{index}".encode()).hexdigest()


def _pubkey(seed: int, index: int) -> str:
    return ("02" if index % 2 == 0 else "03") + _hex(seed, "node", index)


def demo_roles(rng: random.Random, channel_count: int) -> list[Role]:
    """One channel of each kind as far as the count allows, the rest ordinary, in a seeded order."""
    roles = list(ROLE_ORDER[:channel_count]) + [Role.ORDINARY] * max(0, channel_count - len(ROLE_ORDER))
    rng.shuffle(roles)
    return roles


@transaction.atomic
def demo_seed(*, seed: int = 42, channel_count: int = 24) -> int:
    """Create the demo node and channels unless our node already exists. Returns the channels created."""
    if Node.objects.filter(is_ours=True).exists():
        return 0
    rng = random.Random(seed)
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    Node.objects.create(pubkey=_pubkey(seed, 0), alias="daznode-demo", is_ours=True)
    for index, role in enumerate(demo_roles(rng, channel_count), start=1):
        pubkey = _pubkey(seed, index)
        peer = Node.objects.create(pubkey=pubkey, alias=readable_alias(pubkey), flap_count=_flaps(pubkey, role))
        channel = _demo_channel(rng, seed, index, peer, now, role)
        _demo_activity(rng, channel, now, role)
    return channel_count


def _flaps(pubkey: str, role: Role) -> int:
    profile = PROFILES.get(role)
    if profile is not None and profile.flap_count is not None:
        return profile.flap_count
    return int(pubkey[-2:], 16) % USUAL_FLAPS


def _demo_channel(rng: random.Random, seed: int, index: int, peer: Node, now: datetime, role: Role) -> Channel:
    profile = PROFILES.get(role)
    capacity_sat = rng.choice(CAPACITIES_SAT)
    spendable_sat = int(capacity_sat * SPENDABLE_SHARE)
    ratio = rng.uniform(*profile.local_ratio) if profile and profile.local_ratio else rng.betavariate(0.7, 0.7)
    local_balance_sat = int(spendable_sat * ratio)
    block = FIRST_DEMO_BLOCK + index * 997
    recent = profile.opened_days_ago if profile else None
    opened_at = now - timedelta(days=rng.randint(*recent) if recent else rng.randrange(20, 700))
    lifetime_s = min(int((now - opened_at).total_seconds()), MONITORED_FOR_S)
    active = profile.active if profile else rng.random() > ORDINARY_INACTIVE_SHARE
    return Channel.objects.create(
        chan_id=(block << 40) | (rng.randrange(3000) << 16) | rng.randrange(2),
        chan_point=f"{_hex(seed, 'funding', index)}:{rng.randrange(2)}",
        peer=peer,
        capacity_sat=capacity_sat,
        local_balance_sat=local_balance_sat,
        remote_balance_sat=spendable_sat - local_balance_sat,
        active=active,
        opened_at=opened_at,
        lifetime_s=lifetime_s,
        uptime_s=int(lifetime_s * _uptime_share(rng, profile, active)),
        base_fee_msat=rng.choice((0, 0, 1000)),
        fee_rate_ppm=fee_rate_ppm(
            role,
            rng,
            current_ppm=rng.choice(COMMON_FEE_RATES_PPM),
            competitors_ppm=(),
            network_median_ppm=NETWORK_MEDIAN_FEE_RATE_PPM,
        ),
        time_lock_delta=rng.choice((40, 80, 144)),
        min_htlc_msat=1000,
        max_htlc_msat=capacity_sat * 990,
    )


def _uptime_share(rng: random.Random, profile: Profile | None, active: bool) -> float:
    if profile is not None:
        return rng.uniform(*profile.uptime_share)
    return 1.0 if active else rng.uniform(*INACTIVE_UPTIME_SHARE)


def _demo_activity(rng: random.Random, channel: Channel, now: datetime, role: Role) -> None:
    """A row a day: forwards out and in as the role's flow says, none on a quiet day or an inactive channel."""
    flow = flow_for(rng, role)
    rows = []
    for days_ago in range(DEMO_DAYS, 0, -1):
        routes = channel.active and flow.routes_on(days_ago - 1)
        out_count = len(arrivals(rng, flow.forwards_out_per_day)) if routes else 0
        in_count = len(arrivals(rng, flow.in_weight * IN_FORWARDS_PER_WEIGHT)) if routes else 0
        amount_out_msat = _volume_msat(rng, channel, flow, out_count)
        rows.append(
            ChannelActivity(
                channel=channel,
                period_start=now - timedelta(days=days_ago),
                period_end=now - timedelta(days=days_ago - 1),
                forwards_in_count=in_count,
                forwards_out_count=out_count,
                failed_forwards_count=len(arrivals(rng, FAILED_FORWARDS_PER_DAY)) if routes else 0,
                amount_in_msat=_volume_msat(rng, channel, flow, in_count),
                amount_out_msat=amount_out_msat,
                fees_earned_msat=channel.policy().fee_msat(amount_out_msat // max(out_count, 1)) * out_count,
            )
        )
    ChannelActivity.objects.bulk_create(rows)


def _volume_msat(rng: random.Random, channel: Channel, flow: Flow, count: int) -> int:
    """`count` forwards of about the channel's usual size."""
    if count == 0:
        return 0
    per_day = flow.forwards_out_per_day or 1.0
    usual_sat = channel.capacity_sat * (flow.out_turnover or INBOUND_ONLY_TURNOVER) / per_day
    return sum(int(usual_sat * rng.lognormvariate(0, FORWARD_SPREAD)) * MSAT_PER_SAT for _ in range(count))
