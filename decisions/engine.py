"""From a channel's score and state to what Daznode proposes for it. Pure: no ORM, no clock, no network.

The score picks a band; liquidity and flow pick the direction of a fee change; the step grows with how far
the channel is from healthy and is bounded. Every proposal says, in sentences, which rule fired and why.

Bands (the specification's defaults, see Thresholds):

    score >= no_action_min (0.7)              NO_ACTION  healthy: leave it alone
    decrease_max (0.5) <= score < no_action_min  NO_ACTION  hold: not healthy enough to ignore, not poor
                                                         enough to be worth a gossiped change; watch it
    increase_max (0.3) <= score < decrease_max   DECREASE_FEES by default
    score < increase_max                         INCREASE_FEES by default
    score < close_max (0.1) and no forward for close_inactive_days (30)  CLOSE_CHANNEL (recommendation)

Whatever the band below "hold", a drained channel (little on our side, forwards going out) gets a raise and an
idle full one (most on our side, nothing going out) a cut: the price follows the liquidity. A channel that
routes but has nearly all its liquidity on one side gets a REBALANCE recommendation instead of a fee change.
CLOSE_CHANNEL and REBALANCE are only ever recommendations: an operator approves them and acts with their own
tools; Daznode never closes a channel or moves funds.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from daznode.lightning import (
    DEFAULT_MAX_BASE_FEE_MSAT,
    DEFAULT_MAX_BASE_STEP_MSAT,
    DEFAULT_MAX_FEE_RATE_PPM,
    DEFAULT_MAX_STEP_PCT,
    DEFAULT_MAX_STEP_PPM,
    DEFAULT_MIN_BASE_FEE_MSAT,
    DEFAULT_MIN_CHANGE_PPM,
    DEFAULT_MIN_FEE_RATE_PPM,
    Policy,
)


class Kind(StrEnum):
    NO_ACTION = "no_action"
    INCREASE_FEES = "increase_fees"
    DECREASE_FEES = "decrease_fees"
    REBALANCE = "rebalance"
    CLOSE_CHANNEL = "close_channel"


# The one definition of the kinds: Decision.kind's choices are these, with these labels.
KIND_LABELS = {
    Kind.NO_ACTION: "No action",
    Kind.INCREASE_FEES: "Increase fees",
    Kind.DECREASE_FEES: "Decrease fees",
    Kind.REBALANCE: "Rebalance",
    Kind.CLOSE_CHANNEL: "Close channel",
}
FEE_CHANGES = frozenset({Kind.INCREASE_FEES, Kind.DECREASE_FEES})
RECOMMENDATIONS = frozenset({Kind.REBALANCE, Kind.CLOSE_CHANNEL})


class Rule(StrEnum):
    """Which rule fired: stored with every decision, so an operator can filter on it."""

    CLOSE = "close_idle_and_poor"
    REBALANCE_DRAINED = "rebalance_drained"
    REBALANCE_FULL = "rebalance_full"
    HEALTHY = "healthy"
    HOLD = "hold_band"
    DRAINED_RAISE = "drained_raise"
    IDLE_FULL_CUT = "idle_full_cut"
    LOW_SCORE_RAISE = "low_score_raise"
    WEAK_SCORE_CUT = "weak_score_cut"
    AT_BOUND = "at_bound"
    OUTSIDE_BOUNDS = "outside_bounds"
    INACTIVE = "channel_inactive"


@dataclass(frozen=True)
class Thresholds:
    no_action_min: float = 0.7
    decrease_max: float = 0.5
    increase_max: float = 0.3
    close_max: float = 0.1
    close_inactive_days: int = 30
    drained_ratio: float = 0.2  # our share below this, with forwards going out: the channel is draining
    full_ratio: float = 0.8  # our share above this, with nothing going out: the channel is idle and full
    rebalance_low: float = 0.05  # our share outside [low, high] on a channel that routes: recommend a rebalance
    rebalance_high: float = 0.95
    step_min_pct: float = 0.05  # a fee change moves the rate by 5 % to 25 % of its value, more when more urgent
    step_max_pct: float = 0.25

    def __post_init__(self) -> None:
        order = [0.0, self.close_max, self.increase_max, self.decrease_max, self.no_action_min, 1.0]
        if order != sorted(order):
            raise ValueError(
                "thresholds must satisfy 0 <= close_max <= increase_max <= decrease_max <= no_action_min <= 1"
            )
        ratios = [0.0, self.rebalance_low, self.drained_ratio, self.full_ratio, self.rebalance_high, 1.0]
        if ratios != sorted(ratios):
            raise ValueError(
                "thresholds must satisfy 0 <= rebalance_low <= drained_ratio <= full_ratio <= rebalance_high <= 1"
            )
        if not 0 <= self.step_min_pct <= self.step_max_pct <= 1:
            raise ValueError("thresholds must satisfy 0 <= step_min_pct <= step_max_pct <= 1")
        if self.close_inactive_days < 1:
            raise ValueError("close_inactive_days must be at least 1")


PROFILES: dict[str, Thresholds] = {
    "balanced": Thresholds(),  # the specification's bands
    "conservative": Thresholds(
        no_action_min=0.6, decrease_max=0.4, increase_max=0.2, close_max=0.05, close_inactive_days=60,
        step_min_pct=0.03, step_max_pct=0.10,
    ),
    "aggressive": Thresholds(
        no_action_min=0.8, decrease_max=0.55, increase_max=0.35, close_max=0.15, close_inactive_days=21,
        step_min_pct=0.10, step_max_pct=0.40,
    ),
}  # fmt: skip


def thresholds_for(profile: str, overrides: Mapping[str, float | str] | None = None) -> Thresholds:
    """A profile's thresholds with some replaced (numbers, or their text as settings hold it); ValueError names an
    unknown profile or threshold."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    base = PROFILES[profile]
    names = {f.name: f.type for f in dataclasses.fields(Thresholds)}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ValueError(f"unknown threshold(s): {', '.join(unknown)}; known: {', '.join(names)}")
    # Any: each value is an int or a float according to its field, which only the name tells.
    typed: dict[str, Any] = {
        name: int(value) if names[name] in (int, "int") else float(value) for name, value in overrides.items()
    }
    return dataclasses.replace(base, **typed)


@dataclass(frozen=True)
class FeeBounds:
    """What a proposal may not cross: the channel's effective fee ranges and the largest steps."""

    min_fee_rate_ppm: int = DEFAULT_MIN_FEE_RATE_PPM
    max_fee_rate_ppm: int = DEFAULT_MAX_FEE_RATE_PPM
    max_step_ppm: int = DEFAULT_MAX_STEP_PPM
    max_step_pct: float = DEFAULT_MAX_STEP_PCT
    min_change_ppm: int = DEFAULT_MIN_CHANGE_PPM
    min_base_fee_msat: int = DEFAULT_MIN_BASE_FEE_MSAT
    max_base_fee_msat: int = DEFAULT_MAX_BASE_FEE_MSAT
    max_base_step_msat: int = DEFAULT_MAX_BASE_STEP_MSAT

    def largest_step_ppm(self, current_ppm: int) -> int:
        """The relative cap never forbids the smallest change worth gossiping."""
        return min(self.max_step_ppm, max(round(current_ppm * self.max_step_pct), self.min_change_ppm))

    def fee_rate_outside(self, fee_rate_ppm: int) -> bool:
        return not self.min_fee_rate_ppm <= fee_rate_ppm <= self.max_fee_rate_ppm

    def fee_rate_back_ppm(self, current_ppm: int) -> int:
        """A fee rate outside the bounds, one step back: toward the nearer bound by at most the largest step and
        at least the smallest change worth gossiping (so the last step may end a little inside), never past the
        other bound. A jump straight to the bound would break the step limits, and be refused every cycle."""
        low, high = self.min_fee_rate_ppm, self.max_fee_rate_ppm
        distance = current_ppm - high if current_ppm > high else low - current_ppm
        step = min(max(distance, self.min_change_ppm), self.largest_step_ppm(current_ppm))
        return max(current_ppm - step, low) if current_ppm > high else min(current_ppm + step, high)

    def base_fee_back_msat(self, current_msat: int) -> int:
        """A base fee outside its bounds, one step of at most the largest base step closer; inside, as it is."""
        if current_msat > self.max_base_fee_msat:
            return max(current_msat - self.max_base_step_msat, self.max_base_fee_msat)
        if current_msat < self.min_base_fee_msat:
            return min(current_msat + self.max_base_step_msat, self.min_base_fee_msat)
        return current_msat


@dataclass(frozen=True)
class ChannelFacts:
    chan_id: int
    peer: str  # alias, or the start of the public key
    score: float
    sub_scores: Mapping[str, float]
    local_ratio: float
    forwards_out: int | None  # within the activity window; None: unknown (not recorded), which is not 0
    forwards_in: int | None
    window_days: int
    policy: Policy
    peer_score: float | None = None  # several channels to this peer, scored together
    peer_channels: int = 1
    days_without_forward: float | None = None  # None: it has never forwarded as far as we know
    age_days: float | None = None
    active: bool = True
    bounds: FeeBounds = field(default_factory=FeeBounds)


@dataclass(frozen=True)
class Proposal:
    chan_id: int
    kind: Kind
    rule: Rule
    reasons: tuple[str, ...]
    current: Policy
    proposed: Policy | None = None  # complete, for fee changes only

    @property
    def needs_approval(self) -> bool:
        return self.kind in RECOMMENDATIONS

    @property
    def changes_policy(self) -> bool:
        return self.kind in FEE_CHANGES and self.proposed is not None


def decide(facts: ChannelFacts, thresholds: Thresholds = PROFILES["balanced"]) -> Proposal:
    score = facts.score if facts.peer_score is None else facts.peer_score
    why = [_score_sentence(facts, score)]
    if not facts.active:
        why.append("The peer is offline, so the channel cannot route: a fee change would change nothing now.")
        return _no_change(facts, Rule.INACTIVE, why)
    if score < thresholds.close_max and _idle_for_close(facts, thresholds):
        why.append(_close_sentence(facts, thresholds))
        return Proposal(facts.chan_id, Kind.CLOSE_CHANNEL, Rule.CLOSE, tuple(why), facts.policy)
    rebalance = _rebalance_rule(facts, thresholds)
    if rebalance is not None:
        why.append(_rebalance_sentence(facts, rebalance))
        return Proposal(facts.chan_id, Kind.REBALANCE, rebalance, tuple(why), facts.policy)
    if score >= thresholds.no_action_min:
        why.append(f"At or above {thresholds.no_action_min:.2f} the channel is healthy: Daznode leaves it alone.")
        return _no_change(facts, Rule.HEALTHY, why)
    if score >= thresholds.decrease_max:
        why.append(
            f"Between {thresholds.decrease_max:.2f} and {thresholds.no_action_min:.2f} is the hold band: not poor "
            "enough for a change to be worth a gossiped update, so the policy stays and the channel is watched."
        )
        return _no_change(facts, Rule.HOLD, why)
    kind, rule, urgency, sentence = _direction(facts, score, thresholds)
    why.append(sentence)
    return _fee_change(facts, kind, rule, urgency, thresholds, why)


def _direction(facts: ChannelFacts, score: float, t: Thresholds) -> tuple[Kind, Rule, float, str]:
    share = f"{facts.local_ratio:.0%} of the capacity is on our side"
    if facts.local_ratio < t.drained_ratio and (facts.forwards_out or 0) > 0:
        urgency = max(_below(score, t.decrease_max), 1 - facts.local_ratio / t.drained_ratio)
        return (
            Kind.INCREASE_FEES,
            Rule.DRAINED_RAISE,
            urgency,
            (
                f"Only {share} and {facts.forwards_out} forwards went out in {facts.window_days} days: the channel is "
                "draining, so its price goes up to slow the outflow and earn more on what is left."
            ),
        )
    if facts.local_ratio > t.full_ratio and facts.forwards_out == 0:
        urgency = max(_below(score, t.decrease_max), (facts.local_ratio - t.full_ratio) / (1 - t.full_ratio))
        return (
            Kind.DECREASE_FEES,
            Rule.IDLE_FULL_CUT,
            urgency,
            (
                f"{share.capitalize()} and nothing went out in {facts.window_days} days: the liquidity sits idle, so "
                "the price comes down to attract routes."
            ),
        )
    if score < t.increase_max:
        return (
            Kind.INCREASE_FEES,
            Rule.LOW_SCORE_RAISE,
            _below(score, t.increase_max),
            (
                f"Below {t.increase_max:.2f} the default is a raise ({share}, neither drained nor idle and full): "
                "the channel earns too little for the liquidity it locks."
            ),
        )
    return (
        Kind.DECREASE_FEES,
        Rule.WEAK_SCORE_CUT,
        _below(score, t.decrease_max),
        (
            f"Between {t.increase_max:.2f} and {t.decrease_max:.2f} the default is a cut ({share}, neither drained "
            "nor idle and full): a lower price should win it more routes."
        ),
    )


def _below(score: float, ceiling: float) -> float:
    """How far under a band's ceiling, from 0 (at it) to 1 (at zero)."""
    return 0.0 if ceiling <= 0 else min(1.0, max(0.0, (ceiling - score) / ceiling))


def _fee_change(facts: ChannelFacts, kind: Kind, rule: Rule, urgency: float, t: Thresholds, why: list[str]):
    current_ppm, bounds = facts.policy.fee_rate_ppm, facts.bounds
    if bounds.fee_rate_outside(current_ppm):
        return _back_in_bounds(facts, why)
    pct = t.step_min_pct + urgency * (t.step_max_pct - t.step_min_pct)
    step = min(max(bounds.min_change_ppm, round(current_ppm * pct)), bounds.largest_step_ppm(current_ppm))
    target = current_ppm + step if kind == Kind.INCREASE_FEES else current_ppm - step
    target = min(max(target, bounds.min_fee_rate_ppm), bounds.max_fee_rate_ppm)
    limit = bounds.max_fee_rate_ppm if kind == Kind.INCREASE_FEES else bounds.min_fee_rate_ppm
    if target == current_ppm or (kind == Kind.INCREASE_FEES) != (target > current_ppm):
        why.append(f"The fee rate is already at {current_ppm} ppm and the allowed limit is {limit} ppm: no change.")
        return _no_change(facts, Rule.AT_BOUND, why)
    if abs(target - current_ppm) < bounds.min_change_ppm:  # the validator would block it every cycle
        why.append(
            f"The fee rate is {current_ppm} ppm and the allowed limit is {limit} ppm: the {abs(target - current_ppm)} "
            f"ppm left is below the {bounds.min_change_ppm} ppm worth a gossiped update, so no change."
        )
        return _no_change(facts, Rule.AT_BOUND, why)
    return _proposal(facts, kind, rule, target, why)


def _back_in_bounds(facts: ChannelFacts, why: list[str]) -> Proposal:
    """Whichever way the band points, a fee rate outside the operator's bounds only ever moves back toward them."""
    current_ppm, bounds = facts.policy.fee_rate_ppm, facts.bounds
    above = current_ppm > bounds.max_fee_rate_ppm
    side, bound = (
        ("above the maximum", bounds.max_fee_rate_ppm) if above else ("below the minimum", bounds.min_fee_rate_ppm)
    )
    why.append(
        f"The fee rate {current_ppm} ppm is {side} {bound} ppm of the operator's bounds, so whatever the band "
        f"suggests it is brought back toward that bound step by step, at most {bounds.largest_step_ppm(current_ppm)} "
        "ppm at a time: a jump straight to the bound would break the safety limits' step limits every cycle."
    )
    kind = Kind.DECREASE_FEES if above else Kind.INCREASE_FEES
    return _proposal(facts, kind, Rule.OUTSIDE_BOUNDS, bounds.fee_rate_back_ppm(current_ppm), why)


def _proposal(facts: ChannelFacts, kind: Kind, rule: Rule, fee_rate_ppm: int, why: list[str]) -> Proposal:
    """The fee change; a base fee outside its bounds takes one step back with it (else it would block every change)."""
    current_msat = facts.policy.base_fee_msat
    base_msat = facts.bounds.base_fee_back_msat(current_msat)
    if base_msat != current_msat:
        why.append(
            f"The base fee {current_msat} msat is outside the operator's bounds "
            f"[{facts.bounds.min_base_fee_msat}, {facts.bounds.max_base_fee_msat}] msat, so it takes a step of at "
            f"most {facts.bounds.max_base_step_msat} msat back toward them with this change."
        )
    proposed = dataclasses.replace(facts.policy, fee_rate_ppm=fee_rate_ppm, base_fee_msat=base_msat)
    why.append(_diff_sentence(facts.policy, proposed))
    return Proposal(facts.chan_id, kind, rule, tuple(why), facts.policy, proposed)


def _no_change(facts: ChannelFacts, rule: Rule, why: list[str]) -> Proposal:
    return Proposal(facts.chan_id, Kind.NO_ACTION, rule, tuple(why), facts.policy)


def _idle_for_close(facts: ChannelFacts, t: Thresholds) -> bool:
    if facts.days_without_forward is not None:
        return facts.days_without_forward >= t.close_inactive_days
    return facts.age_days is not None and facts.age_days >= t.close_inactive_days


def _rebalance_rule(facts: ChannelFacts, t: Thresholds) -> Rule | None:
    routes = bool(facts.forwards_out) or bool(facts.forwards_in)  # unknown activity is not "it routes"
    if routes and facts.local_ratio < t.rebalance_low:
        return Rule.REBALANCE_DRAINED
    if routes and facts.local_ratio > t.rebalance_high:
        return Rule.REBALANCE_FULL
    return None


def _score_sentence(facts: ChannelFacts, score: float) -> str:
    weakest = sorted(facts.sub_scores.items(), key=lambda item: item[1])[:2]
    weak = ", ".join(f"{name.replace('_', ' ')} {value:.2f}" for name, value in weakest)
    if facts.peer_score is None:
        return f"Channel {facts.chan_id} with {facts.peer} scores {score:.2f} (weakest: {weak})."
    return (
        f"Channel {facts.chan_id} scores {facts.score:.2f} (weakest: {weak}); its {facts.peer_channels} channels "
        f"with {facts.peer} score {score:.2f} together, and that is the score the bands use."
    )


def _close_sentence(facts: ChannelFacts, t: Thresholds) -> str:
    idle = (
        f"nothing was forwarded for {facts.days_without_forward:.0f} days"
        if facts.days_without_forward is not None
        else f"nothing was ever forwarded in its {facts.age_days:.0f} days"
    )
    return (
        f"Below {t.close_max:.2f} and {idle} (limit {t.close_inactive_days}): consider closing it and putting the "
        "liquidity elsewhere. Daznode never closes a channel: approve this to record your agreement, then close "
        "it with your node's tools."
    )


def _rebalance_sentence(facts: ChannelFacts, rule: Rule) -> str:
    routed = f"{(facts.forwards_out or 0) + (facts.forwards_in or 0)} forwards in {facts.window_days} days"
    if rule == Rule.REBALANCE_DRAINED:
        stuck = f"only {facts.local_ratio:.0%} of the capacity is on our side"
        fix = "bring outbound liquidity back (a circular rebalance or a loop out)"
    else:
        stuck = f"{facts.local_ratio:.0%} of the capacity is on our side"
        fix = "move some liquidity to the other side (a circular rebalance or a loop out)"
    return (
        f"The channel is in demand ({routed}) but {stuck}: a fee change alone is too slow; {fix}. This needs your "
        "approval: Daznode does not move funds."
    )


def _diff_sentence(current: Policy, proposed: Policy) -> str:
    delta = proposed.fee_rate_ppm - current.fee_rate_ppm
    relative = f", {delta / current.fee_rate_ppm:+.1%}" if current.fee_rate_ppm else ""
    rate = f"Fee rate {current.fee_rate_ppm} → {proposed.fee_rate_ppm} ppm ({delta:+d} ppm{relative})"
    if proposed.base_fee_msat != current.base_fee_msat:
        return (
            f"{rate}; base fee {current.base_fee_msat} → {proposed.base_fee_msat} msat; time lock delta "
            f"{current.time_lock_delta} and HTLC limits unchanged."
        )
    return (
        f"{rate}; base fee {current.base_fee_msat} msat, time lock delta {current.time_lock_delta} and HTLC limits "
        "unchanged."
    )
