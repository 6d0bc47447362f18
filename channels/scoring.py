"""A channel's score: the weighted sum of the eight heuristics, with each sub-score's reason and the figures
that went in, for storage as a ChannelScore row. Pure: the current time arrives in ScoreInputs.

Several channels to one peer are judged together (score_peer): their states and activity are summed into one
aggregate channel, which is scored once.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

from channels import heuristics
from channels.heuristics import (
    DEFAULT_TARGET_LOCAL_RATIO,
    Activity,
    ChannelState,
    FeeContext,
    HeuristicResult,
    PeerNetwork,
    require_aware,
)

# The specification's order; channels.models.HEURISTICS is the same tuple (a test keeps them equal).
HEURISTICS = (
    "centrality",
    "liquidity",
    "activity",
    "competitiveness",
    "reliability",
    "age",
    "peer_quality",
    "position",
)
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "centrality": 0.20,
        "liquidity": 0.25,
        "activity": 0.20,
        "competitiveness": 0.15,
        "reliability": 0.10,
        "age": 0.05,
        "peer_quality": 0.03,
        "position": 0.02,
    }
)
WEIGHTS_SUM_TOLERANCE = 1e-9


class WeightsError(ValueError):
    """A set of weights that cannot be used: the message names the problem."""


def validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """The weights as a plain dict in HEURISTICS order, or WeightsError naming what is wrong with them."""
    if not isinstance(weights, Mapping):
        raise WeightsError(f"weights must be a mapping of heuristic name to weight, got {type(weights).__name__}")
    unknown = sorted(str(name) for name in weights if name not in HEURISTICS)
    if unknown:
        raise WeightsError(f"unknown heuristic(s) in weights: {', '.join(unknown)}")
    missing = [name for name in HEURISTICS if name not in weights]
    if missing:
        raise WeightsError(f"weights missing for: {', '.join(missing)}")
    for name in HEURISTICS:
        value = weights[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise WeightsError(f"weight for {name} must be a number, got {value!r}")
        if value < 0:
            raise WeightsError(f"weight for {name} must not be negative, got {value:g}")
    total = math.fsum(weights[name] for name in HEURISTICS)
    if abs(total - 1) > WEIGHTS_SUM_TOLERANCE:
        raise WeightsError(f"weights must sum to 1, got {total:.10g}")
    return {name: float(weights[name]) for name in HEURISTICS}


@dataclass(frozen=True, kw_only=True)
class ScoreInputs:
    channel: ChannelState
    activity: Activity
    peer: PeerNetwork
    fees: FeeContext
    now: datetime
    target_local_ratio: float = DEFAULT_TARGET_LOCAL_RATIO

    def __post_init__(self) -> None:
        require_aware("ScoreInputs.now", self.now)


def _shallow_dict(value: "DataclassInstance") -> dict:
    """A dataclass's fields (dataclasses.asdict deep-copies, which is slow and useless on frozen flat inputs)."""
    return {item.name: getattr(value, item.name) for item in fields(value)}


def _json_safe_dict(value: dict) -> dict:
    return {key: _json_safe(item) for key, item in value.items()}


def _json_safe(value: object) -> object:
    if isinstance(value, dict):
        return _json_safe_dict(value)
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


@dataclass(frozen=True)
class ChannelScoreResult:
    chan_ids: tuple[int, ...]  # one channel, or every channel of the peer when scored with score_peer
    sub_scores: dict[str, float]
    total: float
    reasons: dict[str, str]
    weights: dict[str, float]
    inputs: ScoreInputs = field(repr=False)

    def inputs_summary(self) -> dict:
        """The figures that went in, as plain JSON types (datetimes as ISO 8601), for ChannelScore.inputs."""
        return _json_safe_dict(
            {
                "chan_ids": self.chan_ids,
                "channel": _shallow_dict(self.inputs.channel),
                "activity": _shallow_dict(self.inputs.activity),
                "peer": _shallow_dict(self.inputs.peer),
                "fees": _shallow_dict(self.inputs.fees),
                "now": self.inputs.now,
                "target_local_ratio": self.inputs.target_local_ratio,
            }
        )


def _evaluate(inputs: ScoreInputs) -> dict[str, HeuristicResult]:
    return {
        "centrality": heuristics.centrality(inputs.peer),
        "liquidity": heuristics.liquidity(inputs.channel, inputs.target_local_ratio),
        "activity": heuristics.activity(inputs.activity, inputs.channel),
        "competitiveness": heuristics.competitiveness(inputs.channel, inputs.fees),
        "reliability": heuristics.reliability(inputs.channel, inputs.peer),
        "age": heuristics.age(inputs.channel, inputs.now),
        "peer_quality": heuristics.peer_quality(inputs.peer),
        "position": heuristics.position(inputs.peer),
    }


def score_channel(inputs: ScoreInputs, weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> ChannelScoreResult:
    """Score one channel: each heuristic, then total = sum of weight x sub-score (clamped to [0, 1])."""
    used = validate_weights(weights)
    results = _evaluate(inputs)
    sub_scores = {name: results[name].value for name in HEURISTICS}
    total = min(1.0, max(0.0, math.fsum(used[name] * sub_scores[name] for name in HEURISTICS)))
    return ChannelScoreResult(
        chan_ids=(inputs.channel.chan_id,),
        sub_scores=sub_scores,
        total=total,
        reasons={name: results[name].reason for name in HEURISTICS},
        weights=used,
        inputs=inputs,
    )


def _capacity_weighted(channels: Sequence[ChannelState], attribute: str) -> int:
    total_capacity_sat = sum(channel.capacity_sat for channel in channels)
    if total_capacity_sat == 0:
        return round(sum(getattr(channel, attribute) for channel in channels) / len(channels))
    return round(sum(getattr(channel, attribute) * channel.capacity_sat for channel in channels) / total_capacity_sat)


def aggregate_channels(channels: Sequence[ChannelState]) -> ChannelState:
    """Several channels to one peer as one: amounts summed; active if any is (the peer is reachable through us);
    opened at the earliest known opening; fees capacity-weighted means, rounded; uptime and lifetime summed over
    the channels that report both (so their ratio is the time-weighted uptime share); chan_id the lowest."""
    if not channels:
        raise ValueError("no channels to aggregate")
    openings = [channel.opened_at for channel in channels if channel.opened_at is not None]
    watched = [
        (channel.uptime_s, channel.lifetime_s)
        for channel in channels
        if channel.uptime_s is not None and channel.lifetime_s is not None
    ]
    return ChannelState(
        chan_id=min(channel.chan_id for channel in channels),
        capacity_sat=sum(channel.capacity_sat for channel in channels),
        local_balance_sat=sum(channel.local_balance_sat for channel in channels),
        remote_balance_sat=sum(channel.remote_balance_sat for channel in channels),
        pending_outgoing_sat=sum(channel.pending_outgoing_sat for channel in channels),
        pending_incoming_sat=sum(channel.pending_incoming_sat for channel in channels),
        active=any(channel.active for channel in channels),
        opened_at=min(openings) if openings else None,
        fee_rate_ppm=_capacity_weighted(channels, "fee_rate_ppm"),
        base_fee_msat=_capacity_weighted(channels, "base_fee_msat"),
        uptime_s=sum(uptime_s for uptime_s, _ in watched) if watched else None,
        lifetime_s=sum(lifetime_s for _, lifetime_s in watched) if watched else None,
    )


def aggregate_activity(activities: Sequence[Activity]) -> Activity:
    """Several channels' activity over the same window, every count and amount summed."""
    if not activities:
        raise ValueError("no activity to aggregate")
    windows = {item.window_days for item in activities}
    if len(windows) != 1:
        raise ValueError(f"activity windows differ ({sorted(windows)} days): they cannot be summed")
    return Activity(
        window_days=windows.pop(),
        forwards_out_count=sum(item.forwards_out_count for item in activities),
        forwards_in_count=sum(item.forwards_in_count for item in activities),
        failed_forwards_count=sum(item.failed_forwards_count for item in activities),
        amount_out_msat=sum(item.amount_out_msat for item in activities),
        amount_in_msat=sum(item.amount_in_msat for item in activities),
        fees_earned_msat=sum(item.fees_earned_msat for item in activities),
    )


def score_peer(
    inputs_list: Sequence[ScoreInputs], weights: Mapping[str, float] = DEFAULT_WEIGHTS
) -> ChannelScoreResult:
    """Score every channel to one peer together: aggregate_channels() and aggregate_activity() make one channel,
    scored once with the peer, fee context, time and target they share (ValueError if they differ: the channels
    are then not to one peer, or not read at one time). The result names all their chan_ids."""
    if not inputs_list:
        raise ValueError("no channels to score")
    first = inputs_list[0]
    for shared in ("peer", "fees", "now", "target_local_ratio"):
        if any(getattr(inputs, shared) != getattr(first, shared) for inputs in inputs_list):
            raise ValueError(f"channels scored together must share their {shared}")
    aggregate = ScoreInputs(
        channel=aggregate_channels([inputs.channel for inputs in inputs_list]),
        activity=aggregate_activity([inputs.activity for inputs in inputs_list]),
        peer=first.peer,
        fees=first.fees,
        now=first.now,
        target_local_ratio=first.target_local_ratio,
    )
    chan_ids = tuple(sorted(inputs.channel.chan_id for inputs in inputs_list))
    return replace(score_channel(aggregate, weights), chan_ids=chan_ids)
