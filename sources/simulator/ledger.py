"""What only our node knows about its channels: balances, pending HTLCs, activity and forwarding history.

Everything is drawn from a seeded generator, so a seed always gives the same node. Balances are consistent:
local + remote + commit fee + pending HTLCs = capacity, and every forward pays exactly the fee our policy on
its outgoing channel asks for.
"""

import hashlib
import math
import random
from dataclasses import dataclass, field

NS_PER_S = 1_000_000_000
BLOCK_INTERVAL_S = 600
HISTORY_DAYS = 30
DAY_S = 86_400
ANCHOR_OUTPUTS_SAT = 2 * 330  # the two anchor outputs, paid by the initiator like the commitment fee
ANCHOR_COMMIT_WEIGHT = 1124  # weight of an anchor commitment transaction with no HTLC
HTLC_OUTPUT_WEIGHT = 172
FEE_RATES_PER_KW = (253, 253, 500, 1250, 2500)
DUST_LIMIT_SAT = 354
MAX_ACCEPTED_HTLCS = 483
MIN_HTLC_PARAMETER_MSAT = 1  # the smallest HTLC our side accepts, negotiated at opening
MAX_PENDING_SHARE_PERCENT = 99  # LND's default max in-flight: 99% of the capacity
MIN_CSV_DELAY, MAX_CSV_DELAY = 144, 2016
MONITORED_FOR_S = 60 * DAY_S  # lifetime counts from the last restart of the node, not from the funding
DRAINED_SHARE, FULL_SHARE = 0.15, 0.15
PENDING_HTLC_SHARE = 0.12
IDLE_SHARE = 0.2  # channels that forwarded nothing this month
MIN_FORWARD_SAT, MAX_FORWARD_SAT = 1_000, 2_000_000
PPM = 1_000_000


@dataclass
class PendingHtlc:
    incoming: bool
    amount_sat: int
    hash_lock: bytes
    expiration_height: int
    htlc_index: int
    forwarding_channel: str
    forwarding_htlc_index: int


@dataclass
class OurChannel:
    chan_id: str
    chan_point: str
    remote_pubkey: str
    capacity_sat: int
    local_balance_sat: int
    remote_balance_sat: int
    commit_fee_sat: int
    commit_weight: int
    fee_per_kw: int
    active: bool
    initiator: bool
    csv_delay: int
    reserve_sat: int
    lifetime_s: int
    uptime_s: int
    pending_htlcs: list[PendingHtlc] = field(default_factory=list)
    total_sent_sat: int = 0
    total_received_sat: int = 0
    num_updates: int = 0


@dataclass(frozen=True)
class ForwardingEvent:
    timestamp_ns: int
    chan_id_in: str
    chan_id_out: str
    amt_in_msat: int
    amt_out_msat: int
    incoming_htlc_id: int
    outgoing_htlc_id: int

    @property
    def fee_msat(self) -> int:
        return self.amt_in_msat - self.amt_out_msat

    @property
    def timestamp_s(self) -> int:
        return self.timestamp_ns // NS_PER_S


@dataclass(frozen=True)
class ChannelSeed:
    """What the graph says about one of our channels, and whether it is up."""

    chan_id: str
    chan_point: str
    remote_pubkey: str
    capacity_sat: int
    active: bool


def max_pending_amount_msat(channel: "OurChannel") -> int:
    """What may be in flight at once: LND caps a policy's max_htlc_msat at it."""
    return channel.capacity_sat * 1000 * MAX_PENDING_SHARE_PERCENT // 100


def short_channel_block(chan_id: str) -> int:
    return int(chan_id) >> 40


def our_channels(rng: random.Random, seeds: list[ChannelSeed], *, block_height: int) -> list[OurChannel]:
    channels = [_channel(rng, seed, block_height) for seed in seeds]
    for channel in channels:
        if channel.active and len(channels) > 1 and rng.random() < PENDING_HTLC_SHARE:
            _add_pending_htlcs(rng, channel, channels, block_height)
    return channels


def _channel(rng: random.Random, seed: ChannelSeed, block_height: int) -> OurChannel:
    fee_per_kw = rng.choice(FEE_RATES_PER_KW)
    initiator = rng.random() < 0.6
    commit_fee_sat = ANCHOR_COMMIT_WEIGHT * fee_per_kw // 1000 + ANCHOR_OUTPUTS_SAT
    spendable_sat = max(0, seed.capacity_sat - commit_fee_sat)
    local_sat = round(spendable_sat * _local_ratio(rng))
    age_s = max(0, block_height - short_channel_block(seed.chan_id)) * BLOCK_INTERVAL_S
    lifetime_s = min(age_s, MONITORED_FOR_S)
    return OurChannel(
        chan_id=seed.chan_id,
        chan_point=seed.chan_point,
        remote_pubkey=seed.remote_pubkey,
        capacity_sat=seed.capacity_sat,
        local_balance_sat=local_sat,
        remote_balance_sat=spendable_sat - local_sat,
        commit_fee_sat=commit_fee_sat,
        commit_weight=ANCHOR_COMMIT_WEIGHT,
        fee_per_kw=fee_per_kw,
        active=seed.active,
        initiator=initiator,
        # LND scales the CSV delay with the channel size, between one day and two weeks of blocks.
        csv_delay=min(MAX_CSV_DELAY, max(MIN_CSV_DELAY, seed.capacity_sat // 10_000)),
        reserve_sat=max(DUST_LIMIT_SAT, seed.capacity_sat // 100),
        lifetime_s=lifetime_s,
        uptime_s=lifetime_s if seed.active else int(lifetime_s * rng.uniform(0.3, 0.9)),
        num_updates=rng.randint(50, 20_000),
        # What the channel carried before the month of history below.
        total_sent_sat=rng.randint(0, seed.capacity_sat * 3),
        total_received_sat=rng.randint(0, seed.capacity_sat * 3),
    )


def _local_ratio(rng: random.Random) -> float:
    """Some channels drained, some full, most somewhere in between."""
    draw = rng.random()
    if draw < DRAINED_SHARE:
        return rng.uniform(0, 0.03)
    if draw < DRAINED_SHARE + FULL_SHARE:
        return rng.uniform(0.97, 1)
    return rng.betavariate(2, 2)


def _add_pending_htlcs(rng: random.Random, channel: OurChannel, channels: list[OurChannel], block_height: int) -> None:
    """HTLCs in flight are carved out of the side that offered them, and weigh on the commitment."""
    for index in range(rng.randint(1, 3)):
        incoming = rng.random() < 0.5
        side_sat = channel.remote_balance_sat if incoming else channel.local_balance_sat
        amount_sat = min(side_sat // 10, int(math.exp(rng.uniform(math.log(1_000), math.log(200_000)))))
        if amount_sat < DUST_LIMIT_SAT:
            continue
        if not _reserve_for_htlc(channel, amount_sat, incoming):
            continue
        other = rng.choice([candidate for candidate in channels if candidate is not channel])
        channel.pending_htlcs.append(
            PendingHtlc(
                incoming=incoming,
                amount_sat=amount_sat,
                hash_lock=hashlib.sha256(f"{channel.chan_id}:{index}".encode()).digest(),
                expiration_height=block_height + rng.randint(40, 144),
                htlc_index=channel.num_updates + index,
                forwarding_channel=other.chan_id,
                forwarding_htlc_index=rng.randint(0, other.num_updates),
            )
        )


def _reserve_for_htlc(channel: OurChannel, amount_sat: int, incoming: bool) -> bool:
    """Move the HTLC out of the side that offered it, and the fee of its output out of the initiator's side.

    Returns False (and changes nothing) when a side cannot afford it.
    """
    extra_fee_sat = HTLC_OUTPUT_WEIGHT * channel.fee_per_kw // 1000
    from_local = (0 if incoming else amount_sat) + (extra_fee_sat if channel.initiator else 0)
    from_remote = (amount_sat if incoming else 0) + (0 if channel.initiator else extra_fee_sat)
    if from_local > channel.local_balance_sat or from_remote > channel.remote_balance_sat:
        return False
    channel.local_balance_sat -= from_local
    channel.remote_balance_sat -= from_remote
    channel.commit_weight += HTLC_OUTPUT_WEIGHT
    channel.commit_fee_sat += extra_fee_sat
    return True


def forwarding_history(
    rng: random.Random, channels: list[OurChannel], policies: dict[str, tuple[int, int]], *, now_s: int
) -> list[ForwardingEvent]:
    """A month of forwards between our active channels, oldest first. `policies`: chan_id -> (base msat, ppm)."""
    active = [channel for channel in channels if channel.active]
    if len(active) < 2:
        return []
    weights_in = [_activity(rng) for _ in active]
    weights_out = [_activity(rng) for _ in active]
    if not any(weights_in) or not any(weights_out):
        return []
    count = HISTORY_DAYS * rng.randint(20, 60)
    timestamps_ns = sorted(
        rng.randrange((now_s - HISTORY_DAYS * DAY_S) * NS_PER_S, now_s * NS_PER_S) for _ in range(count)
    )
    htlc_ids: dict[str, int] = {}
    events = []
    for timestamp_ns in timestamps_ns:
        channel_in, channel_out = _pick_route(rng, active, weights_in, weights_out)
        if channel_in is None:
            continue
        amt_out_msat = _forward_amount_msat(rng, channel_out)
        base_fee_msat, fee_rate_ppm = policies[channel_out.chan_id]
        events.append(
            ForwardingEvent(
                timestamp_ns=timestamp_ns,
                chan_id_in=channel_in.chan_id,
                chan_id_out=channel_out.chan_id,
                amt_in_msat=amt_out_msat + base_fee_msat + amt_out_msat * fee_rate_ppm // PPM,
                amt_out_msat=amt_out_msat,
                incoming_htlc_id=_next_htlc_id(htlc_ids, channel_in.chan_id),
                outgoing_htlc_id=_next_htlc_id(htlc_ids, channel_out.chan_id),
            )
        )
    _account(channels, events)
    return events


def _activity(rng: random.Random) -> float:
    return 0.0 if rng.random() < IDLE_SHARE else math.exp(rng.gauss(0, 1.2))


def _pick_route(
    rng: random.Random, active: list[OurChannel], weights_in: list[float], weights_out: list[float]
) -> tuple[OurChannel | None, OurChannel]:
    channel_in = rng.choices(active, weights=weights_in)[0]
    channel_out = rng.choices(active, weights=weights_out)[0]
    return (None, channel_out) if channel_in is channel_out else (channel_in, channel_out)


def _forward_amount_msat(rng: random.Random, channel_out: OurChannel) -> int:
    ceiling_sat = max(MIN_FORWARD_SAT + 1, min(MAX_FORWARD_SAT, channel_out.capacity_sat // 4))
    amount_sat = math.exp(rng.uniform(math.log(MIN_FORWARD_SAT), math.log(ceiling_sat)))
    return int(amount_sat) * 1000 + rng.randrange(1000)


def _next_htlc_id(htlc_ids: dict[str, int], chan_id: str) -> int:
    htlc_ids[chan_id] = htlc_ids.get(chan_id, 0) + 1
    return htlc_ids[chan_id]


def _account(channels: list[OurChannel], events: list[ForwardingEvent]) -> None:
    """Channel totals include the month's forwards on top of what they carried before."""
    by_id = {channel.chan_id: channel for channel in channels}
    for event in events:
        by_id[event.chan_id_in].total_received_sat += event.amt_in_msat // 1000
        by_id[event.chan_id_out].total_sent_sat += event.amt_out_msat // 1000
        by_id[event.chan_id_in].num_updates += 2
        by_id[event.chan_id_out].num_updates += 2
