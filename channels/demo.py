"""Deterministic demo data: our node, its peers, channels with plausible balances and policies, and a week of
forwarding aggregates. It lets a newcomer see a populated admin before any node is connected."""

import hashlib
import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from channels.models import Channel, ChannelActivity, Node

DEMO_DAYS = 7
# Fee rates seen often on mainnet (ppm); the real graph's median is 100.
COMMON_FEE_RATES_PPM = (0, 1, 10, 50, 100, 100, 200, 250, 500, 1000)
FIRST_DEMO_BLOCK = 780_000


def _hex(seed: int, label: str, index: int) -> str:
    return hashlib.sha256(f"daznode-demo:{seed}:{label}:{index}".encode()).hexdigest()


def _pubkey(seed: int, index: int) -> str:
    return ("02" if index % 2 == 0 else "03") + _hex(seed, "node", index)


@transaction.atomic
def demo_seed(*, seed: int = 42, channel_count: int = 24) -> int:
    """Create the demo node and channels unless our node already exists. Returns the channels created."""
    if Node.objects.filter(is_ours=True).exists():
        return 0
    rng = random.Random(seed)
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    Node.objects.create(pubkey=_pubkey(seed, 0), alias="daznode-demo", is_ours=True)
    for index in range(1, channel_count + 1):
        peer = Node.objects.create(pubkey=_pubkey(seed, index), alias=f"demo-peer-{index:02d}")
        channel = _demo_channel(rng, seed, index, peer, now)
        _demo_activity(rng, channel, now)
    return channel_count


def _demo_channel(rng: random.Random, seed: int, index: int, peer: Node, now) -> Channel:
    capacity_sat = rng.choice((1_000_000, 2_000_000, 5_000_000, 10_000_000))
    local_balance_sat = int(capacity_sat * rng.betavariate(0.7, 0.7) * 0.98)
    block = FIRST_DEMO_BLOCK + index * 997
    return Channel.objects.create(
        chan_id=(block << 40) | (rng.randrange(3000) << 16) | rng.randrange(2),
        chan_point=f"{_hex(seed, 'funding', index)}:{rng.randrange(2)}",
        peer=peer,
        capacity_sat=capacity_sat,
        local_balance_sat=local_balance_sat,
        remote_balance_sat=int(capacity_sat * 0.98) - local_balance_sat,
        active=rng.random() > 0.08,
        opened_at=now - timedelta(days=rng.randrange(20, 700)),
        base_fee_msat=rng.choice((0, 0, 1000)),
        fee_rate_ppm=rng.choice(COMMON_FEE_RATES_PPM),
        time_lock_delta=rng.choice((40, 80, 144)),
        min_htlc_msat=1000,
        max_htlc_msat=capacity_sat * 990,
    )


def _demo_activity(rng: random.Random, channel: Channel, now) -> None:
    liveliness = rng.random()
    rows = []
    for day in range(DEMO_DAYS, 0, -1):
        forwards_out = int(rng.expovariate(1.0) * 20 * liveliness)
        amount_out_msat = sum(rng.randrange(10_000, 2_000_000) * 1000 for _ in range(forwards_out))
        rows.append(
            ChannelActivity(
                channel=channel,
                period_start=now - timedelta(days=day),
                period_end=now - timedelta(days=day - 1),
                forwards_in_count=int(rng.expovariate(1.0) * 20 * liveliness),
                forwards_out_count=forwards_out,
                failed_forwards_count=int(rng.expovariate(1.0) * 5),
                amount_in_msat=sum(rng.randrange(10_000, 2_000_000) * 1000 for _ in range(forwards_out)),
                amount_out_msat=amount_out_msat,
                fees_earned_msat=channel.policy().fee_msat(amount_out_msat // max(forwards_out, 1)) * forwards_out,
            )
        )
    ChannelActivity.objects.bulk_create(rows)
