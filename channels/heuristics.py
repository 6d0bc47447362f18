"""The eight heuristics a channel is scored on, as pure functions over plain values.

Each returns a HeuristicResult: a value in [0, 1] (1 is best) and a short reason with the figures, for an
operator to read. No ORM, no clock, no network: a selector fills the dataclasses below from the database and
from the graph analysis, and the current time is passed in, so the same inputs always give the same answer.
"""

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from daznode.lightning import MSAT_PER_SAT, local_ratio

SECONDS_PER_DAY = 86_400
FEE_FLOOR_PPM = 1  # a median of 0 ppm is compared as 1 ppm, so that "x times the median" stays finite

# A peer that is not in the graph: centrality, quality and position are unknown, which is not a good sign.
UNKNOWN_PEER_SCORE = 0.1

CENTRALITY_BETWEENNESS_WEIGHT = 0.6
CENTRALITY_CLOSENESS_WEIGHT = 0.4

DEFAULT_TARGET_LOCAL_RATIO = 0.5

# Routing half a channel's capacity every ten days (5% a day, both directions) is full marks for volume.
ACTIVITY_TARGET_DAILY_TURNOVER = 0.05
# When every attempt failed the volume score is halved; no failure leaves it as it is.
ACTIVITY_MAX_FAILURE_PENALTY = 0.5

# Against the network median: at or below it scores 1, at 4 times it or more scores 0, linear in between.
COMPETITIVENESS_MAX_MEDIAN_MULTIPLE = 4.0
# Against the peer's other inbound channels: cheaper than half of them scores 1, dearer than all scores 0.
COMPETITIVENESS_FREE_SHARE_ABOVE = 0.5
COMPETITIVENESS_NETWORK_WEIGHT = 0.5
COMPETITIVENESS_PEER_WEIGHT = 0.5
NO_FEE_CONTEXT_SCORE = 0.5

RELIABILITY_UPTIME_WEIGHT = 0.6
RELIABILITY_FLAP_WEIGHT = 0.4
RELIABILITY_INACTIVE_FACTOR = 0.5  # an inactive channel keeps at most half its reliability score
RELIABILITY_FLAPS_AT_HALF = 5  # the flap component is 1 / (1 + flaps / 5): 0.5 at five disconnections
UNKNOWN_COMPONENT_SCORE = 0.5  # an unknown uptime or flap count is neither good nor bad

AGE_FULL_DAYS = 180
UNKNOWN_AGE_SCORE = 0.5

# Peer capacity on a log scale: 0.01 BTC scores 0, 10 BTC or more scores 1.
PEER_CAPACITY_FLOOR_SAT = 1_000_000
PEER_CAPACITY_FULL_SAT = 1_000_000_000
PEER_CHANNELS_FULL = 100  # channel count on a log scale: 1 scores 0, 100 or more scores 1
PEER_QUALITY_WEIGHTS = {"capacity": 0.3, "channels": 0.3, "enabled": 0.25, "fee_stability": 0.15}


class Position(StrEnum):
    """A node's place in the network (channels.centrality.node_position decides it); the one definition."""

    HUB = "hub"
    WELL_CONNECTED = "well_connected"
    EDGE = "edge"


POSITION_LABELS = {Position.HUB: "Hub", Position.WELL_CONNECTED: "Well connected", Position.EDGE: "Edge / leaf"}

POSITION_SCORES = {Position.HUB: 1.0, Position.WELL_CONNECTED: 0.7, Position.EDGE: 0.3}
POSITION_WORDS = {
    Position.HUB: "a hub",
    Position.WELL_CONNECTED: "well connected",
    Position.EDGE: "at the edge of the network",
}


def _require_non_negative(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            raise ValueError(f"{type(obj).__name__}.{name} must be a non-negative number, got {value!r}")


def _require_share(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1):
            raise ValueError(f"{type(obj).__name__}.{name} must be between 0 and 1, got {value!r}")


def require_aware(name: str, moment: datetime | None) -> None:
    if moment is not None and moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")


@dataclass(frozen=True, kw_only=True)
class ChannelState:
    """One channel (or several to one peer, summed) as last read from the node."""

    chan_id: int
    capacity_sat: int
    local_balance_sat: int
    remote_balance_sat: int
    pending_outgoing_sat: int = 0  # HTLCs we offered, still in flight: counted as ours
    pending_incoming_sat: int = 0
    active: bool
    opened_at: datetime | None = None
    fee_rate_ppm: int
    base_fee_msat: int
    uptime_s: int | None = None  # LND's uptime and lifetime: how long the peer was online while we watched
    lifetime_s: int | None = None

    def __post_init__(self) -> None:
        _require_non_negative(
            self,
            "capacity_sat",
            "local_balance_sat",
            "remote_balance_sat",
            "pending_outgoing_sat",
            "pending_incoming_sat",
            "fee_rate_ppm",
            "base_fee_msat",
            "uptime_s",
            "lifetime_s",
        )
        require_aware("ChannelState.opened_at", self.opened_at)

    def local_ratio(self) -> float:
        """Our share of the capacity, counting HTLCs we have in flight as still ours."""
        return local_ratio(
            capacity_sat=self.capacity_sat,
            local_balance_sat=self.local_balance_sat,
            pending_outgoing_sat=self.pending_outgoing_sat,
        )


@dataclass(frozen=True, kw_only=True)
class Activity:
    """Forwarding through a channel over the last `window_days` days."""

    window_days: int
    forwards_out_count: int = 0
    forwards_in_count: int = 0
    failed_forwards_count: int = 0
    amount_out_msat: int = 0
    amount_in_msat: int = 0
    fees_earned_msat: int = 0

    def __post_init__(self) -> None:
        _require_non_negative(
            self,
            "window_days",
            "forwards_out_count",
            "forwards_in_count",
            "failed_forwards_count",
            "amount_out_msat",
            "amount_in_msat",
            "fees_earned_msat",
        )


def activity_window(now: datetime, days: int) -> tuple[datetime, datetime]:
    """The `days` whole UTC days before today's: [start, end) over ChannelActivity.period_start.

    Activity is stored in daily buckets starting at midnight UTC, and the heuristic divides by `days`. A window
    of `now - days` to `now` holds today's partial bucket and leaves out the day it starts in, so it counts
    between `days - 1` and `days` days of forwards while dividing by `days` (up to 1/7 low for a week). Whole
    days only: today counts from tomorrow on.
    """
    require_aware("activity_window(now)", now)
    end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=days), end


@dataclass(frozen=True, kw_only=True)
class PeerNetwork:
    """The peer as the graph analysis sees it. Every field is None when the peer is not in the graph."""

    betweenness_percentile: float | None = None  # 0.92: more central than 92% of nodes
    closeness_percentile: float | None = None
    position: Position | None = None
    total_capacity_sat: int | None = None
    channel_count: int | None = None
    disabled_ratio: float | None = None  # share of the peer's channel directions that are disabled
    median_outbound_fee_rate_ppm: float | None = None  # what the peer charges
    fee_rate_stddev_ppm: float | None = None
    flap_count: int | None = None  # disconnections, from LND's listpeers

    def __post_init__(self) -> None:
        _require_share(self, "betweenness_percentile", "closeness_percentile", "disabled_ratio")
        _require_non_negative(
            self,
            "total_capacity_sat",
            "channel_count",
            "median_outbound_fee_rate_ppm",
            "fee_rate_stddev_ppm",
            "flap_count",
        )
        if self.position is not None:
            try:
                object.__setattr__(self, "position", Position(self.position))
            except ValueError:
                known = ", ".join(Position)
                raise ValueError(f"PeerNetwork.position must be one of {known}, got {self.position!r}") from None


@dataclass(frozen=True, kw_only=True)
class FeeContext:
    """What routing through our channel competes with. The peer's inbound rates are kept sorted."""

    network_median_fee_rate_ppm: float | None = None
    peer_inbound_fee_rates_ppm: tuple[int, ...] = ()  # what the peer's other partners charge toward it

    def __post_init__(self) -> None:
        _require_non_negative(self, "network_median_fee_rate_ppm")
        rates = tuple(sorted(self.peer_inbound_fee_rates_ppm))
        if rates and (isinstance(rates[0], bool) or rates[0] < 0):
            raise ValueError(f"FeeContext.peer_inbound_fee_rates_ppm must not be negative, got {rates[0]!r}")
        object.__setattr__(self, "peer_inbound_fee_rates_ppm", rates)


@dataclass(frozen=True)
class HeuristicResult:
    value: float
    reason: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"a heuristic's value must be in [0, 1], got {self.value!r} ({self.reason})")


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _weighted_mean(parts: list[tuple[float, float]]) -> float:
    """Mean of (value, weight) pairs, the weights renormalised over the parts that are known."""
    return _clamp(sum(value * weight for value, weight in parts) / sum(weight for _, weight in parts))


def format_sat(amount_sat: float) -> str:
    if amount_sat >= 1_000_000:
        return f"{amount_sat / 1_000_000:.1f} M sat"
    if amount_sat >= 100_000:
        return f"{amount_sat / 1_000_000:.2f} M sat"
    if amount_sat >= 1_000:
        return f"{amount_sat / 1_000:.0f} k sat"
    return f"{amount_sat:.0f} sat"


def centrality(peer: PeerNetwork) -> HeuristicResult:
    """Blend of the peer's betweenness and closeness percentiles (0.6/0.4, renormalised if one is unknown)."""
    parts = [
        ("betweenness", peer.betweenness_percentile, CENTRALITY_BETWEENNESS_WEIGHT),
        ("closeness", peer.closeness_percentile, CENTRALITY_CLOSENESS_WEIGHT),
    ]
    known = [(value, weight) for _, value, weight in parts if value is not None]
    if not known:
        return HeuristicResult(UNKNOWN_PEER_SCORE, "peer is not in the network graph: centrality unknown")
    described = ", ".join(
        f"{name} percentile {value:.0%}" if value is not None else f"{name} unknown" for name, value, _ in parts
    )
    weights = f"{CENTRALITY_BETWEENNESS_WEIGHT:g}/{CENTRALITY_CLOSENESS_WEIGHT:g}"
    return HeuristicResult(_weighted_mean(known), f"peer's {described} (weighted {weights})")


def liquidity(channel: ChannelState, target_local_ratio: float = DEFAULT_TARGET_LOCAL_RATIO) -> HeuristicResult:
    """1 at the target local ratio, falling linearly to 0 at fully drained (ratio 0) and fully full (ratio 1)."""
    if not 0 < target_local_ratio < 1:
        raise ValueError(f"target_local_ratio must be strictly between 0 and 1, got {target_local_ratio!r}")
    if channel.capacity_sat == 0:
        return HeuristicResult(0.0, "channel has no capacity")
    ratio = channel.local_ratio()
    room = target_local_ratio if ratio <= target_local_ratio else 1 - target_local_ratio  # target to the wall
    value = 1 - abs(ratio - target_local_ratio) / room
    pending = {"outgoing": channel.pending_outgoing_sat, "incoming": channel.pending_incoming_sat}
    in_flight = " and ".join(f"{format_sat(amount_sat)} {way}" for way, amount_sat in pending.items() if amount_sat)
    in_flight = f" with {in_flight} in flight" if in_flight else ""
    reason = f"local {ratio:.0%} of {format_sat(channel.capacity_sat)}{in_flight}; target {target_local_ratio:.0%}"
    return HeuristicResult(_clamp(value), reason)


def activity(
    activity: Activity,
    channel: ChannelState,
    *,
    target_daily_turnover: float = ACTIVITY_TARGET_DAILY_TURNOVER,
) -> HeuristicResult:
    """Volume routed (both ways) per day over capacity against the target, reduced by the share of failures."""
    days = activity.window_days
    if days == 0:
        return HeuristicResult(0.0, "empty activity window: nothing to judge")
    if channel.capacity_sat == 0:
        return HeuristicResult(0.0, "channel has no capacity")
    succeeded = activity.forwards_out_count + activity.forwards_in_count
    attempts = succeeded + activity.failed_forwards_count
    if attempts == 0:
        return HeuristicResult(0.0, f"no forwards in {days} days")
    volume_sat = (activity.amount_out_msat + activity.amount_in_msat) / MSAT_PER_SAT
    daily_turnover = volume_sat / channel.capacity_sat / days
    success_rate = succeeded / attempts
    value = min(1.0, daily_turnover / target_daily_turnover) * (1 - ACTIVITY_MAX_FAILURE_PENALTY * (1 - success_rate))
    reason = (
        f"routed {format_sat(volume_sat)} in {days} days ({succeeded} forwards,"
        f" {activity.failed_forwards_count} failed: {success_rate:.0%} success),"
        f" {daily_turnover:.1%} of capacity a day against a {target_daily_turnover:.0%} target;"
        f" earned {activity.fees_earned_msat / MSAT_PER_SAT:,.0f} sat in fees"
    )
    return HeuristicResult(_clamp(value), reason)


def _against_network(fee_rate_ppm: int, median_ppm: float) -> tuple[float, str]:
    multiple = fee_rate_ppm / max(median_ppm, FEE_FLOOR_PPM)
    span = COMPETITIVENESS_MAX_MEDIAN_MULTIPLE - 1
    value = _clamp((COMPETITIVENESS_MAX_MEDIAN_MULTIPLE - multiple) / span)
    return value, f"{multiple:.1f}x the network median {median_ppm:g} ppm"


def _against_competitors(fee_rate_ppm: int, rates_ppm: tuple[int, ...]) -> tuple[float, str]:
    cheaper = bisect_left(rates_ppm, fee_rate_ppm)
    equal = bisect_right(rates_ppm, fee_rate_ppm) - cheaper
    share_above = (cheaper + equal / 2) / len(rates_ppm)  # a tie counts as half above
    value = _clamp((1 - share_above) / (1 - COMPETITIVENESS_FREE_SHARE_ABOVE))
    return value, f"above {share_above:.0%} of the peer's {len(rates_ppm)} other inbound channels"


def competitiveness(channel: ChannelState, fees: FeeContext) -> HeuristicResult:
    """Our fee rate against the network median and against the peer's other inbound channels, averaged.

    Only the rate is compared: the context carries rates, and for the usual payment sizes the base fee is small.
    """
    fee_rate_ppm = channel.fee_rate_ppm
    parts: list[tuple[float, float]] = []
    words: list[str] = []
    if fees.network_median_fee_rate_ppm is not None:
        value, text = _against_network(fee_rate_ppm, fees.network_median_fee_rate_ppm)
        parts.append((value, COMPETITIVENESS_NETWORK_WEIGHT))
        words.append(text)
    if fees.peer_inbound_fee_rates_ppm:
        value, text = _against_competitors(fee_rate_ppm, fees.peer_inbound_fee_rates_ppm)
        parts.append((value, COMPETITIVENESS_PEER_WEIGHT))
        words.append(text)
    if not parts:
        return HeuristicResult(NO_FEE_CONTEXT_SCORE, f"{fee_rate_ppm} ppm: no network median or competitor fees known")
    return HeuristicResult(_weighted_mean(parts), f"{fee_rate_ppm} ppm is " + " and ".join(words))


def _uptime_part(channel: ChannelState) -> tuple[float, str]:
    if channel.uptime_s is None or not channel.lifetime_s:
        return UNKNOWN_COMPONENT_SCORE, "uptime unknown"
    share = min(1.0, channel.uptime_s / channel.lifetime_s)
    return share, f"peer online {share:.0%} of {channel.lifetime_s / SECONDS_PER_DAY:.0f} days watched"


def _flap_part(flap_count: int | None) -> tuple[float, str]:
    if flap_count is None:
        return UNKNOWN_COMPONENT_SCORE, "disconnections unknown"
    return 1 / (1 + flap_count / RELIABILITY_FLAPS_AT_HALF), f"{flap_count} disconnections"


def reliability(channel: ChannelState, peer: PeerNetwork) -> HeuristicResult:
    """0.6 x uptime share + 0.4 x 1 / (1 + flaps / 5), halved when the channel is inactive; unknowns count 0.5."""
    uptime, uptime_text = _uptime_part(channel)
    flaps, flap_text = _flap_part(peer.flap_count)
    value = RELIABILITY_UPTIME_WEIGHT * uptime + RELIABILITY_FLAP_WEIGHT * flaps
    if not channel.active:
        value *= RELIABILITY_INACTIVE_FACTOR
    state = "active" if channel.active else "inactive"
    return HeuristicResult(_clamp(value), f"{state}, {uptime_text}, {flap_text}")


def age(channel: ChannelState, now: datetime, *, full_days: int = AGE_FULL_DAYS) -> HeuristicResult:
    """Rises linearly from 0 when opened to 1 at `full_days`; an unknown opening time is neutral."""
    require_aware("now", now)
    if channel.opened_at is None:
        return HeuristicResult(UNKNOWN_AGE_SCORE, "opening time unknown: neutral")
    age_days = (now - channel.opened_at).total_seconds() / SECONDS_PER_DAY
    if age_days < 0:
        return HeuristicResult(0.0, "opened after the scoring time (clock skew?): treated as brand new")
    return HeuristicResult(min(1.0, age_days / full_days), f"opened {age_days:.0f} days ago; full marks at {full_days}")


def _log_scale(value: float, floor: float, full: float) -> float:
    if value <= floor:
        return 0.0
    return _clamp(math.log(value / floor) / math.log(full / floor))


def _peer_quality_parts(peer: PeerNetwork) -> dict[str, tuple[float, str]]:
    parts = {}
    if peer.total_capacity_sat is not None:
        value = _log_scale(peer.total_capacity_sat, PEER_CAPACITY_FLOOR_SAT, PEER_CAPACITY_FULL_SAT)
        parts["capacity"] = value, f"{format_sat(peer.total_capacity_sat)} capacity"
    if peer.channel_count is not None:
        parts["channels"] = _log_scale(peer.channel_count, 1, PEER_CHANNELS_FULL), f"{peer.channel_count} channels"
    if peer.disabled_ratio is not None:
        parts["enabled"] = 1 - peer.disabled_ratio, f"{peer.disabled_ratio:.0%} disabled"
    if peer.fee_rate_stddev_ppm is not None and peer.median_outbound_fee_rate_ppm is not None:
        spread = peer.fee_rate_stddev_ppm / max(peer.median_outbound_fee_rate_ppm, FEE_FLOOR_PPM)
        text = f"fees {peer.median_outbound_fee_rate_ppm:g} ± {peer.fee_rate_stddev_ppm:.0f} ppm"
        parts["fee_stability"] = 1 / (1 + spread), text
    return parts


def peer_quality(peer: PeerNetwork) -> HeuristicResult:
    """Weighted mean of capacity (log, 0.01 to 10 BTC), channel count (log, 1 to 100), share enabled, and fee
    stability 1 / (1 + stddev / median); weights 0.3/0.3/0.25/0.15 renormalised over what is known."""
    parts = _peer_quality_parts(peer)
    if not parts:
        return HeuristicResult(UNKNOWN_PEER_SCORE, "peer is not in the network graph: quality unknown")
    value = _weighted_mean([(value, PEER_QUALITY_WEIGHTS[name]) for name, (value, _) in parts.items()])
    return HeuristicResult(value, "peer has " + ", ".join(text for _, text in parts.values()))


def position(peer: PeerNetwork) -> HeuristicResult:
    """Hub 1.0, well connected 0.7, edge 0.3, unknown 0.1."""
    if peer.position is None:
        return HeuristicResult(UNKNOWN_PEER_SCORE, "peer's position in the network unknown")
    return HeuristicResult(POSITION_SCORES[peer.position], f"peer is {POSITION_WORDS[peer.position]}")
