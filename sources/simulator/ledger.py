"""What only our node knows about its channels: balances, pending HTLCs, activity and forwarding history.

Everything is drawn from a seeded generator, so a seed always gives the same node. Balances are consistent:
local + remote + commit fee + pending HTLCs = capacity, and every forward pays exactly the fee our policy on
its outgoing channel asks for. A channel with a role (roles.py) has that role's balance, peer and flows: a
draining channel sends a steady stream out and receives nothing, an idle full one received weeks ago and has
been silent since; the ordinary ones are left to chance.
"""

import hashlib
import math
import random
from dataclasses import dataclass, field

from sources.simulator.roles import PROFILES, Profile, Role

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
DRAINED_SHARE, FULL_SHARE = 0.06, 0.06  # of the ordinary channels; roles add one of each
PENDING_HTLC_SHARE = 0.12
IDLE_SHARE = 0.2  # channels that forwarded nothing this month
MIN_FORWARD_SAT, MAX_FORWARD_SAT = 1_000, 2_000_000
MAX_FORWARD_SHARE = 4  # a forward takes at most a quarter of either channel's capacity
FORWARD_SPREAD = 0.5  # sigma of the log-normal spread of forward sizes around a channel's usual one
USUAL_FLAPS = 4  # an ordinary peer disconnected 0 to 3 times while we watched
INACTIVE_UPTIME_SHARE = (0.3, 0.9)  # how long the peer of an ordinary inactive channel was online while we watched
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
    role: Role = Role.ORDINARY
    flap_count: int = 0  # disconnections of its peer, as listpeers reports them


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
    role: Role = Role.ORDINARY


@dataclass(frozen=True)
class Flow:
    """How a channel routes over the month: forwards out a day, their volume, its share of what comes in."""

    forwards_out_per_day: float
    out_turnover: float  # a day's outbound volume, as a share of the capacity
    in_weight: float
    quiet_days: int = 0  # the most recent days without any forward

    def routes_on(self, days_ago: int) -> bool:
        return (self.forwards_out_per_day > 0 or self.in_weight > 0) and days_ago >= self.quiet_days


def max_pending_amount_msat(channel: "OurChannel") -> int:
    """What may be in flight at once: LND caps a policy's max_htlc_msat at it."""
    return channel.capacity_sat * 1000 * MAX_PENDING_SHARE_PERCENT // 100


def short_channel_block(chan_id: str) -> int:
    return int(chan_id) >> 40


def our_channels(rng: random.Random, seeds: list[ChannelSeed], *, block_height: int) -> list[OurChannel]:
    channels = [_channel(rng, seed, block_height) for seed in seeds]
    for channel in channels:
        if _routes(channel) and rng.random() < PENDING_HTLC_SHARE:
            _add_pending_htlcs(rng, channel, channels, block_height)
    return channels


def _routes(channel: OurChannel) -> bool:
    profile = PROFILES.get(channel.role)
    return channel.active and (profile is None or (profile.routes and profile.quiet_days == 0))


def _channel(rng: random.Random, seed: ChannelSeed, block_height: int) -> OurChannel:
    profile = PROFILES.get(seed.role)
    fee_per_kw = rng.choice(FEE_RATES_PER_KW)
    initiator = rng.random() < 0.6
    if profile is not None and profile.opened_by_us is not None:
        initiator = profile.opened_by_us
    commit_fee_sat = ANCHOR_COMMIT_WEIGHT * fee_per_kw // 1000 + ANCHOR_OUTPUTS_SAT
    spendable_sat = max(0, seed.capacity_sat - commit_fee_sat)
    ratio = rng.uniform(*profile.local_ratio) if profile and profile.local_ratio else _local_ratio(rng)
    local_sat = round(spendable_sat * ratio)
    age_s = max(0, block_height - short_channel_block(seed.chan_id)) * BLOCK_INTERVAL_S
    lifetime_s = min(age_s, MONITORED_FOR_S)
    channel = OurChannel(
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
        uptime_s=lifetime_s if seed.active else int(lifetime_s * rng.uniform(*INACTIVE_UPTIME_SHARE)),
        num_updates=rng.randint(50, 20_000),
        # What the channel carried before the month of history below.
        total_sent_sat=rng.randint(0, seed.capacity_sat * 3),
        total_received_sat=rng.randint(0, seed.capacity_sat * 3),
        role=seed.role,
        flap_count=int(seed.remote_pubkey[-2:], 16) % USUAL_FLAPS,
    )
    if profile is not None:
        _shape(rng, channel, profile)
    return channel


def _shape(rng: random.Random, channel: OurChannel, profile: Profile) -> None:
    """What a role says of its peer's reliability, and of a channel that never routed."""
    if profile.uptime_share != (1.0, 1.0):
        channel.uptime_s = int(channel.lifetime_s * rng.uniform(*profile.uptime_share))
    if profile.flap_count is not None:
        channel.flap_count = profile.flap_count
    if not profile.ever_used:
        channel.total_sent_sat = channel.total_received_sat = channel.num_updates = 0


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
    partners = [candidate for candidate in channels if candidate is not channel and _routes(candidate)]
    if not partners:  # an HTLC in flight is forwarded to or from another channel that routes
        return
    for index in range(rng.randint(1, 3)):
        incoming = rng.random() < 0.5
        side_sat = channel.remote_balance_sat if incoming else channel.local_balance_sat
        amount_sat = min(side_sat // 10, int(math.exp(rng.uniform(math.log(1_000), math.log(200_000)))))
        if amount_sat < DUST_LIMIT_SAT:
            continue
        if not _reserve_for_htlc(channel, amount_sat, incoming):
            continue
        other = rng.choice(partners)
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
    """A month of forwards between our active channels, oldest first. `policies`: chan_id -> (base msat, ppm).

    Each channel sends as its flow says, a Poisson stream of forwards a day; each forward enters through another
    channel routing that day, chosen by the flows' in_weight, and is no larger than either channel allows.
    """
    active = [channel for channel in channels if channel.active]
    if len(active) < 2:
        return []
    flows = {channel.chan_id: flow_for(rng, channel.role) for channel in active}
    legs = []
    for days_ago in range(HISTORY_DAYS):
        routing = [channel for channel in active if flows[channel.chan_id].routes_on(days_ago)]
        day_start_s = now_s - (days_ago + 1) * DAY_S
        for channel_out in routing:
            for offset_s in arrivals(rng, flows[channel_out.chan_id].forwards_out_per_day):
                channel_in = _pick_incoming(rng, routing, flows, channel_out)
                if channel_in is None:
                    continue
                timestamp_ns = (day_start_s + offset_s) * NS_PER_S + rng.randrange(NS_PER_S)
                legs.append((timestamp_ns, channel_in, channel_out, _amount_msat(rng, flows, channel_in, channel_out)))
    legs.sort(key=lambda leg: leg[0])
    events = []
    htlc_ids: dict[str, int] = {}
    for timestamp_ns, channel_in, channel_out, amt_out_msat in legs:
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


def flow_for(rng: random.Random, role: Role) -> Flow:
    """How a channel of this role routes; an ordinary one draws its own."""
    profile = PROFILES.get(role)
    if profile is not None:
        return Flow(profile.forwards_out_per_day, profile.out_turnover, profile.in_weight, profile.quiet_days)
    return Flow(  # ordinary: some idle, most a few forwards a day of a percent or so of the capacity
        forwards_out_per_day=0.0 if rng.random() < IDLE_SHARE else min(30.0, math.exp(rng.gauss(math.log(2), 1))),
        out_turnover=min(0.08, math.exp(rng.gauss(math.log(0.01), 1))),
        in_weight=0.0 if rng.random() < IDLE_SHARE else math.exp(rng.gauss(0, 1.2)),
    )


def arrivals(rng: random.Random, per_day: float) -> list[int]:
    """Seconds into the day of a Poisson stream of `per_day` events a day on average."""
    seconds, elapsed_days = [], 0.0
    while per_day > 0:
        elapsed_days += rng.expovariate(per_day)
        if elapsed_days >= 1:
            break
        seconds.append(int(elapsed_days * DAY_S))
    return seconds


def _pick_incoming(
    rng: random.Random, routing: list[OurChannel], flows: dict[str, Flow], channel_out: OurChannel
) -> OurChannel | None:
    candidates = [c for c in routing if c is not channel_out and flows[c.chan_id].in_weight > 0]
    if not candidates:
        return None
    return rng.choices(candidates, weights=[flows[c.chan_id].in_weight for c in candidates])[0]


def _amount_msat(rng: random.Random, flows: dict[str, Flow], channel_in: OurChannel, channel_out: OurChannel) -> int:
    flow = flows[channel_out.chan_id]
    usual_sat = channel_out.capacity_sat * flow.out_turnover / flow.forwards_out_per_day
    smaller_capacity_sat = min(channel_out.capacity_sat, channel_in.capacity_sat)
    ceiling_sat = max(MIN_FORWARD_SAT, min(MAX_FORWARD_SAT, smaller_capacity_sat // MAX_FORWARD_SHARE))
    amount_sat = min(max(usual_sat * rng.lognormvariate(0, FORWARD_SPREAD), MIN_FORWARD_SAT), ceiling_sat)
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
