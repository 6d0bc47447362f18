"""The decision engine is pure: facts in, a proposal with its reasons out."""

from dataclasses import replace

import pytest

from daznode.lightning import Policy
from decisions.engine import PROFILES, ChannelFacts, FeeBounds, Kind, Rule, decide, thresholds_for
from decisions.models import Decision
from decisions.validator import Limits

POLICY = Policy(base_fee_msat=1000, fee_rate_ppm=200, time_lock_delta=80, min_htlc_msat=1000, max_htlc_msat=990_000_000)
SUB_SCORES = {
    "centrality": 0.5,
    "liquidity": 0.4,
    "activity": 0.3,
    "competitiveness": 0.6,
    "reliability": 0.9,
    "age": 0.8,
    "peer_quality": 0.7,
    "position": 0.5,
}


def facts(**changes) -> ChannelFacts:
    base = ChannelFacts(
        chan_id=812345678901234567,
        peer="ACINQ",
        score=0.4,
        sub_scores=SUB_SCORES,
        local_ratio=0.5,
        forwards_out=5,
        forwards_in=5,
        window_days=7,
        policy=POLICY,
        days_without_forward=1,
        age_days=200,
    )
    return replace(base, **changes)


def test_every_engine_kind_is_a_choice_of_the_model_with_its_label():
    field = Decision._meta.get_field("kind")
    assert [value for value, _ in field.choices] == [kind.value for kind in Kind]
    assert Decision(kind=Kind.CLOSE_CHANNEL).get_kind_display() == "Close channel"
    assert Decision.Kind is Kind


def test_the_default_fee_bounds_let_the_engine_reach_zero_only_when_the_validator_allows_it():
    """One set of defaults (daznode.lightning): minimum 0 ppm, as LND accepts; routing for free stays behind the
    validator's separate zero-fee switch."""
    assert FeeBounds().min_fee_rate_ppm == Limits().min_fee_rate_ppm == 0
    assert Limits().fee_bounds(Limits().bounds_for()).min_fee_rate_ppm == 1
    assert Limits(allow_zero_fee=True).fee_bounds(Limits().bounds_for()).min_fee_rate_ppm == 0


@pytest.mark.parametrize(
    ("score", "kind", "rule"),
    [
        (0.95, Kind.NO_ACTION, Rule.HEALTHY),
        (0.70, Kind.NO_ACTION, Rule.HEALTHY),
        (0.60, Kind.NO_ACTION, Rule.HOLD),
        (0.50, Kind.NO_ACTION, Rule.HOLD),
        (0.45, Kind.DECREASE_FEES, Rule.WEAK_SCORE_CUT),
        (0.30, Kind.DECREASE_FEES, Rule.WEAK_SCORE_CUT),
        (0.29, Kind.INCREASE_FEES, Rule.LOW_SCORE_RAISE),
        (0.05, Kind.INCREASE_FEES, Rule.LOW_SCORE_RAISE),  # poor but it forwarded yesterday: not a close
    ],
)
def test_the_bands_follow_the_specification(score, kind, rule):
    proposal = decide(facts(score=score))
    assert (proposal.kind, proposal.rule) == (kind, rule)
    assert proposal.reasons[0].startswith(f"Channel 812345678901234567 with ACINQ scores {score:.2f}")


def test_a_poor_channel_idle_for_30_days_gets_a_close_recommendation_never_a_policy():
    proposal = decide(facts(score=0.05, days_without_forward=31, forwards_out=0, forwards_in=0))
    assert (proposal.kind, proposal.rule, proposal.proposed) == (Kind.CLOSE_CHANNEL, Rule.CLOSE, None)
    assert proposal.needs_approval and not proposal.changes_policy
    assert "Daznode never closes a channel" in proposal.reasons[-1]


def test_a_channel_that_never_forwarded_is_idle_since_it_opened():
    young = decide(facts(score=0.05, days_without_forward=None, age_days=10, forwards_out=0, forwards_in=0))
    old = decide(facts(score=0.05, days_without_forward=None, age_days=45, forwards_out=0, forwards_in=0))
    assert young.kind != Kind.CLOSE_CHANNEL and old.kind == Kind.CLOSE_CHANNEL


def test_a_drained_channel_earns_a_raise_even_in_the_cut_band():
    proposal = decide(facts(score=0.4, local_ratio=0.1, forwards_out=12))
    assert (proposal.kind, proposal.rule) == (Kind.INCREASE_FEES, Rule.DRAINED_RAISE)
    assert proposal.proposed.fee_rate_ppm > POLICY.fee_rate_ppm
    assert "draining" in proposal.reasons[1]


def test_an_idle_full_channel_gets_a_cut_even_in_the_raise_band():
    proposal = decide(facts(score=0.2, local_ratio=0.9, forwards_out=0))
    assert (proposal.kind, proposal.rule) == (Kind.DECREASE_FEES, Rule.IDLE_FULL_CUT)
    assert proposal.proposed.fee_rate_ppm < POLICY.fee_rate_ppm


def test_a_routing_channel_stuck_on_one_side_gets_a_rebalance_recommendation():
    drained = decide(facts(score=0.8, local_ratio=0.02, forwards_out=30))
    full = decide(facts(score=0.4, local_ratio=0.98, forwards_in=30, forwards_out=0))
    assert (drained.kind, drained.rule) == (Kind.REBALANCE, Rule.REBALANCE_DRAINED)
    assert (full.kind, full.rule) == (Kind.REBALANCE, Rule.REBALANCE_FULL)
    assert drained.needs_approval and drained.proposed is None
    assert "Daznode does not move funds" in drained.reasons[-1]


def test_the_fee_change_keeps_every_other_field_of_the_policy():
    proposal = decide(facts(score=0.2))
    assert replace(proposal.proposed, fee_rate_ppm=POLICY.fee_rate_ppm) == POLICY
    assert f"Fee rate 200 → {proposal.proposed.fee_rate_ppm} ppm" in proposal.reasons[-1]


def test_the_step_grows_with_urgency_and_stays_bounded():
    mild = decide(facts(score=0.29)).proposed.fee_rate_ppm - 200
    urgent = decide(facts(score=0.01)).proposed.fee_rate_ppm - 200
    assert 10 <= mild < urgent <= 200 * 0.25
    huge = decide(facts(score=0.01, policy=replace(POLICY, fee_rate_ppm=2000)), PROFILES["aggressive"])
    assert huge.proposed.fee_rate_ppm - 2000 <= FeeBounds().max_step_ppm


def test_the_smallest_step_is_worth_gossiping_even_on_a_tiny_fee():
    proposal = decide(facts(score=0.29, policy=replace(POLICY, fee_rate_ppm=3)))
    assert proposal.proposed.fee_rate_ppm == 13


def test_at_the_maximum_a_raise_becomes_no_action_and_says_why():
    bounds = FeeBounds(max_fee_rate_ppm=200)
    proposal = decide(facts(score=0.1, bounds=bounds))
    assert (proposal.kind, proposal.rule) == (Kind.NO_ACTION, Rule.AT_BOUND)
    assert "already at 200 ppm and the allowed limit is 200 ppm" in proposal.reasons[-1]


def test_a_cut_stops_at_the_minimum():
    proposal = decide(
        facts(score=0.31, policy=replace(POLICY, fee_rate_ppm=100), bounds=FeeBounds(min_fee_rate_ppm=90))
    )
    assert proposal.proposed.fee_rate_ppm == 90


def test_a_limit_that_leaves_less_than_a_worthwhile_change_means_no_change():
    proposal = decide(facts(score=0.45, policy=replace(POLICY, fee_rate_ppm=15), bounds=FeeBounds(min_fee_rate_ppm=12)))
    assert (proposal.kind, proposal.rule) == (Kind.NO_ACTION, Rule.AT_BOUND)
    assert "the 3 ppm left is below the 10 ppm worth a gossiped update" in proposal.reasons[-1]


def test_an_offline_peer_means_no_change():
    proposal = decide(facts(score=0.1, active=False))
    assert (proposal.kind, proposal.rule) == (Kind.NO_ACTION, Rule.INACTIVE)


def test_channels_to_one_peer_are_judged_on_their_joint_score():
    proposal = decide(facts(score=0.2, peer_score=0.75, peer_channels=3))
    assert proposal.kind == Kind.NO_ACTION
    assert "its 3 channels with ACINQ score 0.75 together" in proposal.reasons[0]


def test_the_same_facts_give_the_same_proposal():
    assert decide(facts(score=0.2)) == decide(facts(score=0.2))


def test_profiles_and_overrides_move_the_bands():
    assert decide(facts(score=0.65), thresholds_for("aggressive")).rule == Rule.HOLD
    assert decide(facts(score=0.65), thresholds_for("conservative")).rule == Rule.HEALTHY
    custom = thresholds_for("balanced", {"no_action_min": 0.6})
    assert decide(facts(score=0.65), custom).rule == Rule.HEALTHY


@pytest.mark.parametrize(
    ("profile", "overrides", "message"),
    [
        ("reckless", {}, "unknown profile 'reckless'"),
        ("balanced", {"no_action_max": 0.9}, "unknown threshold"),
        ("balanced", {"increase_max": 0.6}, "close_max <= increase_max <= decrease_max"),
        ("balanced", {"drained_ratio": 0.9}, "rebalance_low <= drained_ratio <= full_ratio"),
    ],
)
def test_thresholds_that_make_no_sense_are_refused_with_the_reason(profile, overrides, message):
    with pytest.raises(ValueError, match=message):
        thresholds_for(profile, overrides)


def test_unknown_activity_is_not_zero_activity():
    """A score whose forward counts were not recorded must not read as "nothing went out": that is a fee cut."""
    full = {"score": 0.4, "local_ratio": 0.95, "forwards_in": None}
    assert decide(facts(**full, forwards_out=0)).rule == Rule.IDLE_FULL_CUT
    unknown = decide(facts(**full, forwards_out=None))
    assert unknown.rule == Rule.WEAK_SCORE_CUT
    assert decide(facts(score=0.4, local_ratio=0.1, forwards_out=None, forwards_in=None)).rule != Rule.DRAINED_RAISE
    assert decide(facts(score=0.8, local_ratio=0.02, forwards_out=None, forwards_in=None)).kind != Kind.REBALANCE


def test_it_brings_a_fee_above_the_maximum_back_one_allowed_step_at_a_time():
    above = facts(score=0.4, policy=replace(POLICY, fee_rate_ppm=5000), bounds=FeeBounds(max_fee_rate_ppm=2500))
    proposal = decide(above)
    assert (proposal.kind, proposal.rule) == (Kind.DECREASE_FEES, Rule.OUTSIDE_BOUNDS)
    assert proposal.proposed == replace(POLICY, fee_rate_ppm=4750)  # the 250 ppm step limit, not 2500 at once
    assert "The fee rate 5000 ppm is above the maximum 2500 ppm of the operator's bounds" in proposal.reasons[-2]
    assert "step by step, at most 250 ppm at a time" in proposal.reasons[-2]


@pytest.mark.parametrize(
    "changes",
    [
        {"score": 0.1},  # the raise band
        {"score": 0.4, "local_ratio": 0.1, "forwards_out": 12},  # drained: a raise whatever the band
    ],
)
def test_it_never_raises_a_fee_above_the_maximum_whatever_the_band(changes):
    proposal = decide(
        facts(**changes, policy=replace(POLICY, fee_rate_ppm=3000), bounds=FeeBounds(max_fee_rate_ppm=2500))
    )
    assert (proposal.kind, proposal.rule, proposal.proposed.fee_rate_ppm) == (
        Kind.DECREASE_FEES,
        Rule.OUTSIDE_BOUNDS,
        2750,
    )


def test_it_brings_a_fee_below_the_minimum_up_step_by_step_even_in_the_cut_band():
    bounds = FeeBounds(min_fee_rate_ppm=100)
    fees = [20]
    while fees[-1] < 100:
        proposal = decide(facts(score=0.45, policy=replace(POLICY, fee_rate_ppm=fees[-1]), bounds=bounds))
        assert (proposal.kind, proposal.rule) == (Kind.INCREASE_FEES, Rule.OUTSIDE_BOUNDS)
        assert "below the minimum 100 ppm" in proposal.reasons[-2]
        fees.append(proposal.proposed.fee_rate_ppm)
    assert fees == [20, 30, 45, 67, 100]  # +10 (the smallest change), then at most 50 % a step, ending at the bound


@pytest.mark.parametrize(
    ("fee_rate_ppm", "bounds", "expected_ppm"),
    [
        (2505, FeeBounds(max_fee_rate_ppm=2500), 2495),  # a 5 ppm step is not worth a gossip: 10, a little inside
        (0, FeeBounds(min_fee_rate_ppm=1), 10),  # 0 ppm when routing for free is not allowed
        (95, FeeBounds(min_fee_rate_ppm=100, max_fee_rate_ppm=100), 100),  # never past the other bound
    ],
)
def test_the_last_step_back_is_worth_gossiping_and_stays_within_the_bounds(fee_rate_ppm, bounds, expected_ppm):
    proposal = decide(facts(score=0.45, policy=replace(POLICY, fee_rate_ppm=fee_rate_ppm), bounds=bounds))
    assert (proposal.rule, proposal.proposed.fee_rate_ppm) == (Rule.OUTSIDE_BOUNDS, expected_ppm)


def test_a_healthy_channel_outside_the_bounds_is_still_left_alone():
    """The bounds limit what Daznode proposes; a channel it would not change keeps its fee, as before."""
    proposal = decide(facts(score=0.8, policy=replace(POLICY, fee_rate_ppm=5000), bounds=FeeBounds()))
    assert (proposal.kind, proposal.rule) == (Kind.NO_ACTION, Rule.HEALTHY)


@pytest.mark.parametrize(
    ("base_fee_msat", "bounds", "expected_msat"),
    [
        (20_000, FeeBounds(max_base_fee_msat=10_000), 19_000),
        (10_400, FeeBounds(max_base_fee_msat=10_000), 10_000),
        (0, FeeBounds(min_base_fee_msat=500), 500),
    ],
)
def test_a_base_fee_outside_its_bounds_takes_one_step_back_with_a_fee_change(base_fee_msat, bounds, expected_msat):
    proposal = decide(facts(score=0.45, policy=replace(POLICY, base_fee_msat=base_fee_msat), bounds=bounds))
    assert (proposal.kind, proposal.rule) == (Kind.DECREASE_FEES, Rule.WEAK_SCORE_CUT)
    assert proposal.proposed.base_fee_msat == expected_msat and proposal.proposed.fee_rate_ppm < 200
    assert f"The base fee {base_fee_msat} msat is outside the operator's bounds" in proposal.reasons[-2]
    assert f"base fee {base_fee_msat} → {expected_msat} msat;" in proposal.reasons[-1]


def test_a_fee_change_inside_the_bounds_leaves_the_base_fee_as_it_is():
    proposal = decide(facts(score=0.45))
    assert proposal.proposed.base_fee_msat == POLICY.base_fee_msat
    assert "base fee 1000 msat, time lock delta 80 and HTLC limits unchanged" in proposal.reasons[-1]
