"""Safety limits every proposal passes before anything reaches a node. Pure: plain values in, refusals out.

Each refusal names its rule and the values that broke it, so an operator reading "blocked" knows what to
loosen, or why Daznode did nothing. Limits are global (settings), narrowed or widened per peer and then per
channel by FeeLimit rows; the most specific one wins, field by field.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from daznode.lightning import (
    DEFAULT_ALLOW_ZERO_FEE,
    DEFAULT_DAILY_CHANGE_BUDGET,
    DEFAULT_FEE_COOLDOWN,
    DEFAULT_MAX_BASE_FEE_MSAT,
    DEFAULT_MAX_BASE_STEP_MSAT,
    DEFAULT_MAX_FEE_RATE_PPM,
    DEFAULT_MAX_STEP_PCT,
    DEFAULT_MAX_STEP_PPM,
    DEFAULT_MAX_TIME_LOCK_DELTA,
    DEFAULT_MIN_BASE_FEE_MSAT,
    DEFAULT_MIN_CHANGE_PPM,
    DEFAULT_MIN_FEE_RATE_PPM,
    LND_MIN_TIME_LOCK_DELTA,
    Policy,
)
from decisions.engine import FEE_CHANGES, FeeBounds, Kind


@dataclass(frozen=True)
class BoundsOverride:
    """A FeeLimit row as plain values; None leaves the wider limit in place."""

    min_fee_rate_ppm: int | None = None
    max_fee_rate_ppm: int | None = None
    min_base_fee_msat: int | None = None
    max_base_fee_msat: int | None = None


@dataclass(frozen=True)
class ChannelBounds:
    min_fee_rate_ppm: int
    max_fee_rate_ppm: int
    min_base_fee_msat: int
    max_base_fee_msat: int
    set_by: str = "global"


@dataclass(frozen=True)
class Limits:
    min_fee_rate_ppm: int = DEFAULT_MIN_FEE_RATE_PPM
    max_fee_rate_ppm: int = DEFAULT_MAX_FEE_RATE_PPM
    min_base_fee_msat: int = DEFAULT_MIN_BASE_FEE_MSAT
    max_base_fee_msat: int = DEFAULT_MAX_BASE_FEE_MSAT
    max_step_pct: float = DEFAULT_MAX_STEP_PCT
    max_step_ppm: int = DEFAULT_MAX_STEP_PPM
    max_base_step_msat: int = DEFAULT_MAX_BASE_STEP_MSAT
    min_change_ppm: int = DEFAULT_MIN_CHANGE_PPM
    allow_zero_fee: bool = DEFAULT_ALLOW_ZERO_FEE
    min_time_lock_delta: int = LND_MIN_TIME_LOCK_DELTA
    max_time_lock_delta: int = DEFAULT_MAX_TIME_LOCK_DELTA
    cooldown: timedelta = DEFAULT_FEE_COOLDOWN
    daily_budget: int = DEFAULT_DAILY_CHANGE_BUDGET
    allow_channels: frozenset[int] = frozenset()
    deny_channels: frozenset[int] = frozenset()
    allow_peers: frozenset[str] = frozenset()
    deny_peers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.min_fee_rate_ppm > self.max_fee_rate_ppm or self.min_base_fee_msat > self.max_base_fee_msat:
            raise ValueError("a minimum fee is above its maximum")
        if self.min_time_lock_delta < LND_MIN_TIME_LOCK_DELTA or self.min_time_lock_delta > self.max_time_lock_delta:
            raise ValueError(f"time lock delta bounds must satisfy {LND_MIN_TIME_LOCK_DELTA} <= min <= max")
        if not 0 < self.max_step_pct <= 10 or self.max_step_ppm < 1 or self.daily_budget < 0:
            raise ValueError("max step must be positive and the daily budget not negative")

    def bounds_for(self, *overrides: BoundsOverride | None) -> ChannelBounds:
        """Global limits, then each override in turn (peer, then channel): later ones win field by field."""
        bounds = ChannelBounds(
            self.min_fee_rate_ppm, self.max_fee_rate_ppm, self.min_base_fee_msat, self.max_base_fee_msat
        )
        for label, override in zip(("peer", "channel"), overrides, strict=False):
            if override is None:
                continue
            values = {name: value for name, value in vars(override).items() if value is not None}
            bounds = replace(bounds, **values, set_by=label)
        return bounds

    def fee_bounds(self, bounds: ChannelBounds) -> FeeBounds:
        return FeeBounds(
            min_fee_rate_ppm=max(bounds.min_fee_rate_ppm, 0 if self.allow_zero_fee else 1),
            max_fee_rate_ppm=bounds.max_fee_rate_ppm,
            max_step_ppm=self.max_step_ppm,
            max_step_pct=self.max_step_pct,
            min_change_ppm=self.min_change_ppm,
            min_base_fee_msat=bounds.min_base_fee_msat,
            max_base_fee_msat=bounds.max_base_fee_msat,
            max_base_step_msat=self.max_base_step_msat,
        )


class RejectionRule(StrEnum):
    """Which safety limit refused a proposal: stored with the decision's rejections, so it can be filtered on."""

    ALLOW_LIST = "allow_list"
    BASE_FEE_MAX = "base_fee_max"
    BASE_FEE_MIN = "base_fee_min"
    BASE_FEE_STEP = "base_fee_step"
    CHANNEL_CLOSED = "channel_closed"
    COOLDOWN = "cooldown"
    DAILY_BUDGET = "daily_budget"
    DENY_LIST = "deny_list"
    FEE_RATE_MAX = "fee_rate_max"
    FEE_RATE_MIN = "fee_rate_min"
    HTLC_LIMITS = "htlc_limits"
    INCOMPLETE_POLICY = "incomplete_policy"
    MIN_CHANGE = "min_change"
    STEP_ABSOLUTE = "step_absolute"
    STEP_RELATIVE = "step_relative"
    TIME_LOCK_DELTA = "time_lock_delta"
    ZERO_FEE = "zero_fee"


@dataclass(frozen=True)
class Rejection:
    rule: RejectionRule
    message: str
    values: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rule", RejectionRule(self.rule))  # an unknown rule is a ValueError

    def to_dict(self) -> dict:
        return {"rule": self.rule.value, "message": self.message, "values": self.values}


@dataclass(frozen=True)
class Candidate:
    """A proposal with what the limits need to know about its channel."""

    chan_id: int
    peer_pubkey: str
    kind: Kind
    current: Policy
    proposed: Policy | None
    bounds: ChannelBounds
    capacity_sat: int
    closed: bool = False
    last_change_at: datetime | None = None  # the latest policy change of this channel, by anyone


def validate(candidate: Candidate, limits: Limits, *, now: datetime, changes_today: int = 0) -> list[Rejection]:
    """Every rule this candidate breaks, in a stable order. `changes_today`: policy changes applied or already
    accepted in this batch within the last 24 hours."""
    if candidate.kind == Kind.NO_ACTION:
        return []
    rejections = list(_lists(candidate, limits))
    if candidate.closed:
        rejections.append(
            Rejection(RejectionRule.CHANNEL_CLOSED, "the channel is closed", {"chan_id": str(candidate.chan_id)})
        )
    if candidate.kind in FEE_CHANGES:
        proposed = candidate.proposed
        if proposed is None:
            rejections.append(
                Rejection(RejectionRule.INCOMPLETE_POLICY, "a fee change must carry the complete policy to send")
            )
            return rejections
        rejections += _fees(candidate, proposed, limits)
        rejections += _steps(candidate, proposed, limits)
        rejections += _protocol(candidate, proposed, limits)
        rejections += _pace(candidate, limits, now=now, changes_today=changes_today)
    return rejections


def _lists(c: Candidate, limits: Limits) -> Iterable[Rejection]:
    if c.chan_id in limits.deny_channels:
        yield Rejection(
            RejectionRule.DENY_LIST, f"channel {c.chan_id} is on the deny list", {"chan_id": str(c.chan_id)}
        )
    if c.peer_pubkey in limits.deny_peers:
        yield Rejection(
            RejectionRule.DENY_LIST, f"peer {c.peer_pubkey[:16]}… is on the deny list", {"peer": c.peer_pubkey}
        )
    allowed = limits.allow_channels or limits.allow_peers
    if allowed and c.chan_id not in limits.allow_channels and c.peer_pubkey not in limits.allow_peers:
        yield Rejection(
            RejectionRule.ALLOW_LIST,
            "an allow list is set and neither this channel nor its peer is on it",
            {"chan_id": str(c.chan_id), "peer": c.peer_pubkey},
        )


def _fees(c: Candidate, new: Policy, limits: Limits) -> Iterable[Rejection]:
    """A fee outside the bounds is refused, unless the current one is further out on that side: a step back
    toward the bounds is the only way a fee set outside them (by hand, or before the bounds changed) returns."""
    b, old = c.bounds, c.current
    where = f"({b.set_by} limit)"
    if new.fee_rate_ppm < b.min_fee_rate_ppm and new.fee_rate_ppm <= old.fee_rate_ppm:
        yield Rejection(
            RejectionRule.FEE_RATE_MIN,
            f"fee rate {new.fee_rate_ppm} ppm is below the minimum {b.min_fee_rate_ppm} ppm {where}",
            {"proposed": new.fee_rate_ppm, "minimum": b.min_fee_rate_ppm},
        )
    if new.fee_rate_ppm > b.max_fee_rate_ppm and new.fee_rate_ppm >= old.fee_rate_ppm:
        yield Rejection(
            RejectionRule.FEE_RATE_MAX,
            f"fee rate {new.fee_rate_ppm} ppm is above the maximum {b.max_fee_rate_ppm} ppm {where}",
            {"proposed": new.fee_rate_ppm, "maximum": b.max_fee_rate_ppm},
        )
    if new.base_fee_msat < b.min_base_fee_msat and new.base_fee_msat <= old.base_fee_msat:
        yield Rejection(
            RejectionRule.BASE_FEE_MIN,
            f"base fee {new.base_fee_msat} msat is below the minimum {b.min_base_fee_msat} msat {where}",
            {"proposed": new.base_fee_msat, "minimum": b.min_base_fee_msat},
        )
    if new.base_fee_msat > b.max_base_fee_msat and new.base_fee_msat >= old.base_fee_msat:
        yield Rejection(
            RejectionRule.BASE_FEE_MAX,
            f"base fee {new.base_fee_msat} msat is above the maximum {b.max_base_fee_msat} msat {where}",
            {"proposed": new.base_fee_msat, "maximum": b.max_base_fee_msat},
        )
    if new.fee_rate_ppm == 0 and not limits.allow_zero_fee:
        yield Rejection(
            RejectionRule.ZERO_FEE,
            "a fee rate of 0 ppm routes for free; set DAZNODE_ALLOW_ZERO_FEE=true to allow it",
            {"proposed": 0},
        )


def _steps(c: Candidate, new: Policy, limits: Limits) -> Iterable[Rejection]:
    old = c.current
    delta = abs(new.fee_rate_ppm - old.fee_rate_ppm)
    relative_cap = max(round(old.fee_rate_ppm * limits.max_step_pct), limits.min_change_ppm)
    if delta > limits.max_step_ppm:
        yield Rejection(
            RejectionRule.STEP_ABSOLUTE,
            f"a change of {delta} ppm is more than the {limits.max_step_ppm} ppm allowed per step",
            {"change_ppm": delta, "maximum_ppm": limits.max_step_ppm},
        )
    if delta > relative_cap:
        yield Rejection(
            RejectionRule.STEP_RELATIVE,
            f"a change of {delta} ppm on {old.fee_rate_ppm} ppm is more than {limits.max_step_pct:.0%} "
            f"(at most {relative_cap} ppm) per step",
            {"change_ppm": delta, "current_ppm": old.fee_rate_ppm, "maximum_pct": limits.max_step_pct},
        )
    base_delta = abs(new.base_fee_msat - old.base_fee_msat)
    if base_delta > limits.max_base_step_msat:
        yield Rejection(
            RejectionRule.BASE_FEE_STEP,
            f"a base fee change of {base_delta} msat is more than the {limits.max_base_step_msat} msat allowed",
            {"change_msat": base_delta, "maximum_msat": limits.max_base_step_msat},
        )
    other_fields_changed = _without_fee_rate(old) != _without_fee_rate(new)
    bounds = limits.fee_bounds(c.bounds)
    back_in_bounds = bounds.fee_rate_outside(old.fee_rate_ppm) and not bounds.fee_rate_outside(new.fee_rate_ppm)
    if 0 < delta < limits.min_change_ppm and not other_fields_changed and not back_in_bounds:
        yield Rejection(
            RejectionRule.MIN_CHANGE,
            f"a change of {delta} ppm is below the {limits.min_change_ppm} ppm worth a gossiped update",
            {"change_ppm": delta, "minimum_ppm": limits.min_change_ppm},
        )
    if old == new:
        yield Rejection(RejectionRule.MIN_CHANGE, "the proposed policy is the current one: nothing to send", {})


def _without_fee_rate(policy: Policy) -> Policy:
    return replace(policy, fee_rate_ppm=0)


def _protocol(c: Candidate, new: Policy, limits: Limits) -> Iterable[Rejection]:
    if not limits.min_time_lock_delta <= new.time_lock_delta <= limits.max_time_lock_delta:
        yield Rejection(
            RejectionRule.TIME_LOCK_DELTA,
            f"time lock delta {new.time_lock_delta} is outside "
            f"[{limits.min_time_lock_delta}, {limits.max_time_lock_delta}] "
            f"(LND's minimum is {LND_MIN_TIME_LOCK_DELTA})",
            {
                "proposed": new.time_lock_delta,
                "minimum": limits.min_time_lock_delta,
                "maximum": limits.max_time_lock_delta,
            },
        )
    capacity_msat = c.capacity_sat * 1000
    if not new.min_htlc_msat <= new.max_htlc_msat <= capacity_msat:
        yield Rejection(
            RejectionRule.HTLC_LIMITS,
            f"HTLC limits must satisfy min {new.min_htlc_msat} <= max {new.max_htlc_msat} <= capacity "
            f"{capacity_msat} msat",
            {"min_htlc_msat": new.min_htlc_msat, "max_htlc_msat": new.max_htlc_msat, "capacity_msat": capacity_msat},
        )


def _pace(c: Candidate, limits: Limits, *, now: datetime, changes_today: int) -> Iterable[Rejection]:
    if c.last_change_at is not None and now - c.last_change_at < limits.cooldown:
        ready_at = c.last_change_at + limits.cooldown
        yield Rejection(
            RejectionRule.COOLDOWN,
            f"the policy changed at {c.last_change_at:%Y-%m-%d %H:%M} UTC; the cooldown of "
            f"{_hours(limits.cooldown)} allows the next change from {ready_at:%Y-%m-%d %H:%M} UTC",
            {"last_change_at": c.last_change_at.isoformat(), "ready_at": ready_at.isoformat()},
        )
    if changes_today >= limits.daily_budget:
        yield Rejection(
            RejectionRule.DAILY_BUDGET,
            f"{changes_today} policy changes in the last 24 hours reach the daily budget of {limits.daily_budget}",
            {"changes": changes_today, "budget": limits.daily_budget},
        )


def _hours(duration: timedelta) -> str:
    hours = duration.total_seconds() / 3600
    return f"{hours:g} h"
