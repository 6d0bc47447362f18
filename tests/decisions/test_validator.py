"""The safety limits: each refusal names its rule and the values that broke it."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured

from daznode.lightning import Policy
from decisions.conf import check_settings, decision_limits
from decisions.engine import ChannelFacts, Kind, Rule, decide
from decisions.validator import BoundsOverride, Candidate, Limits, Rejection, RejectionRule, validate

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PEER = "02" + "ab" * 32
CURRENT = Policy(
    base_fee_msat=1000, fee_rate_ppm=200, time_lock_delta=80, min_htlc_msat=1000, max_htlc_msat=990_000_000
)
LIMITS = Limits()


def candidate(fee_rate_ppm: int = 240, **changes) -> Candidate:
    base = Candidate(
        chan_id=900,
        peer_pubkey=PEER,
        kind=Kind.INCREASE_FEES,
        current=CURRENT,
        proposed=replace(CURRENT, fee_rate_ppm=fee_rate_ppm),
        bounds=LIMITS.bounds_for(),
        capacity_sat=1_000_000,
    )
    return replace(base, **changes)


def rules(c: Candidate, limits: Limits = LIMITS, **kwargs) -> list[str]:
    return [rejection.rule for rejection in validate(c, limits, now=NOW, **kwargs)]


def test_a_sensible_change_passes():
    assert rules(candidate()) == []


def test_no_action_is_never_refused():
    assert rules(candidate(kind=Kind.NO_ACTION, proposed=None), replace(LIMITS, deny_channels=frozenset({900}))) == []


@pytest.mark.parametrize(
    ("fee_rate_ppm", "limits", "rule", "words"),
    [
        (290, replace(LIMITS, max_fee_rate_ppm=280), "fee_rate_max", "above the maximum 280 ppm"),
        (150, replace(LIMITS, min_fee_rate_ppm=180), "fee_rate_min", "below the minimum 180 ppm"),
        (0, replace(LIMITS, max_step_pct=2), "zero_fee", "routes for free"),
        (500, replace(LIMITS, max_step_pct=5), "step_absolute", "300 ppm is more than the 250 ppm"),
        (320, LIMITS, "step_relative", "120 ppm on 200 ppm is more than 50%"),
        (205, LIMITS, "min_change", "5 ppm is below the 10 ppm"),
    ],
)
def test_each_limit_names_its_rule_and_values(fee_rate_ppm, limits, rule, words):
    found = validate(candidate(fee_rate_ppm, bounds=limits.bounds_for()), limits, now=NOW)
    assert [r.rule for r in found] == [rule]
    assert words in found[0].message


def test_zero_fee_passes_when_allowed():
    limits = replace(LIMITS, allow_zero_fee=True, min_fee_rate_ppm=0, max_step_pct=2)
    assert rules(candidate(0), limits) == []


def test_the_relative_step_never_forbids_the_smallest_worthwhile_change():
    tiny = replace(CURRENT, fee_rate_ppm=2)
    assert rules(candidate(12, current=tiny)) == []


def test_a_base_fee_step_and_bounds_are_checked():
    proposed = replace(CURRENT, base_fee_msat=20_000)
    assert rules(candidate(proposed=proposed)) == ["base_fee_max", "base_fee_step"]


def test_the_channel_override_beats_the_peer_override_which_beats_the_global_limit():
    bounds = LIMITS.bounds_for(BoundsOverride(max_fee_rate_ppm=300), BoundsOverride(max_fee_rate_ppm=220))
    assert (bounds.max_fee_rate_ppm, bounds.set_by) == (220, "channel")
    found = validate(candidate(240, bounds=bounds), LIMITS, now=NOW)
    assert [r.rule for r in found] == ["fee_rate_max"]
    assert "(channel limit)" in found[0].message
    peer_only = LIMITS.bounds_for(BoundsOverride(min_fee_rate_ppm=50), None)
    assert (peer_only.min_fee_rate_ppm, peer_only.max_fee_rate_ppm, peer_only.set_by) == (50, 2500, "peer")


def test_cooldown_refuses_a_second_change_within_24_hours_and_says_when():
    found = validate(candidate(last_change_at=NOW - timedelta(hours=5)), LIMITS, now=NOW)
    assert [r.rule for r in found] == ["cooldown"]
    assert "allows the next change from 2026-11-23 07:00 UTC" in found[0].message
    assert rules(candidate(last_change_at=NOW - timedelta(hours=24))) == []


def test_the_daily_budget_counts_changes():
    assert rules(candidate(), changes_today=49) == []
    found = validate(candidate(), LIMITS, now=NOW, changes_today=50)
    assert [r.to_dict() for r in found] == [
        {
            "rule": "daily_budget",
            "message": "50 policy changes in the last 24 hours reach the daily budget of 50",
            "values": {"changes": 50, "budget": 50},
        }
    ]


def test_deny_and_allow_lists_cover_channels_and_peers():
    assert rules(candidate(), replace(LIMITS, deny_channels=frozenset({900}))) == ["deny_list"]
    assert rules(candidate(), replace(LIMITS, deny_peers=frozenset({PEER}))) == ["deny_list"]
    assert rules(candidate(), replace(LIMITS, allow_channels=frozenset({901}))) == ["allow_list"]
    assert rules(candidate(), replace(LIMITS, allow_peers=frozenset({PEER}))) == []
    recommendation = candidate(kind=Kind.CLOSE_CHANNEL, proposed=None)
    assert rules(recommendation, replace(LIMITS, deny_peers=frozenset({PEER}))) == ["deny_list"]


def test_time_lock_delta_and_htlc_limits_are_bounded():
    assert rules(candidate(proposed=replace(CURRENT, fee_rate_ppm=240, time_lock_delta=17))) == ["time_lock_delta"]
    too_big = replace(CURRENT, fee_rate_ppm=240, max_htlc_msat=2_000_000_000)
    assert rules(candidate(proposed=too_big)) == ["htlc_limits"]


def test_a_closed_channel_and_an_incomplete_policy_are_refused():
    assert rules(candidate(closed=True)) == ["channel_closed"]
    assert rules(candidate(proposed=None)) == ["incomplete_policy"]


@pytest.mark.parametrize(
    "changes",
    [
        {"min_fee_rate_ppm": 10, "max_fee_rate_ppm": 5},
        {"min_time_lock_delta": 10},
        {"max_step_pct": 0},
        {"daily_budget": -1},
    ],
)
def test_limits_that_make_no_sense_are_refused(changes):
    with pytest.raises(ValueError):
        Limits(**changes)


def test_every_rejection_names_one_of_the_known_rules():
    rejection = validate(candidate(fee_rate_ppm=5000), LIMITS, now=NOW)[0]
    assert rejection.rule is RejectionRule.FEE_RATE_MAX
    assert rejection.to_dict()["rule"] == "fee_rate_max"
    with pytest.raises(ValueError, match="made_up"):
        Rejection("made_up", "no such limit")


def test_the_settings_defaults_are_the_validators_defaults(settings):
    """One definition of the fee bounds: unset DAZNODE_FEE_* variables give exactly Limits()."""
    assert decision_limits() == Limits()


def test_the_limits_follow_a_changed_setting(settings):
    settings.DAZNODE_DECISION_LIMITS = {**settings.DAZNODE_DECISION_LIMITS, "cooldown": timedelta(0)}
    assert decision_limits().cooldown == timedelta(0)


def test_inconsistent_limits_in_the_settings_name_the_variables(settings):
    settings.DAZNODE_DECISION_LIMITS = {**settings.DAZNODE_DECISION_LIMITS, "min_fee_rate_ppm": 9000}
    with pytest.raises(ImproperlyConfigured, match="DAZNODE_FEE_"):
        decision_limits()
    assert [error.id for error in check_settings(None)] == ["decisions.E001"]


def test_it_accepts_a_step_back_toward_the_bounds_from_a_fee_outside_them():
    above = replace(CURRENT, fee_rate_ppm=5000)
    assert rules(candidate(4750, current=above, kind=Kind.DECREASE_FEES)) == []
    limits = replace(LIMITS, min_fee_rate_ppm=100)
    assert rules(candidate(30, current=replace(CURRENT, fee_rate_ppm=20), bounds=limits.bounds_for()), limits) == []


def test_it_still_refuses_a_fee_outside_the_bounds_that_stays_or_moves_further_out():
    above = replace(CURRENT, fee_rate_ppm=5000)
    assert rules(candidate(5100, current=above)) == ["fee_rate_max"]
    assert rules(candidate(2600, current=replace(CURRENT, fee_rate_ppm=2400))) == ["fee_rate_max"]
    limits = replace(LIMITS, min_fee_rate_ppm=100)
    cut = candidate(10, current=replace(CURRENT, fee_rate_ppm=20), kind=Kind.DECREASE_FEES, bounds=limits.bounds_for())
    assert rules(cut, limits) == ["fee_rate_min"]
    base_above = replace(CURRENT, base_fee_msat=20_000)
    assert rules(candidate(current=base_above, proposed=replace(base_above, base_fee_msat=20_500))) == ["base_fee_max"]


def test_a_step_back_toward_the_bounds_still_keeps_to_the_step_limits():
    """The jump straight to the bound that left a fee above the maximum blocked every cycle."""
    found = validate(candidate(2500, current=replace(CURRENT, fee_rate_ppm=5000)), LIMITS, now=NOW)
    assert [r.rule for r in found] == ["step_absolute"]
    base_above = replace(CURRENT, base_fee_msat=20_000)
    assert rules(candidate(current=base_above, proposed=replace(base_above, base_fee_msat=19_000))) == []
    assert rules(candidate(current=base_above, proposed=replace(base_above, base_fee_msat=18_000))) == ["base_fee_step"]


def test_a_change_under_the_minimum_passes_only_when_it_brings_the_fee_back_within_the_bounds():
    pinned = replace(LIMITS, min_fee_rate_ppm=100, max_fee_rate_ppm=100)
    outside = replace(CURRENT, fee_rate_ppm=95)
    assert rules(candidate(100, current=outside, bounds=pinned.bounds_for()), pinned) == []
    assert rules(candidate(98, current=outside, bounds=pinned.bounds_for()), pinned) == ["min_change"]
    assert rules(candidate(1, current=replace(CURRENT, fee_rate_ppm=0))) == []  # 0 ppm is outside: no free routing
    assert rules(candidate(205)) == ["min_change"]


@pytest.mark.parametrize(
    ("current", "limits", "score"),
    [
        (replace(CURRENT, fee_rate_ppm=5000), LIMITS, 0.4),
        (replace(CURRENT, fee_rate_ppm=5000), LIMITS, 0.1),
        (replace(CURRENT, fee_rate_ppm=20), replace(LIMITS, min_fee_rate_ppm=100), 0.4),
        (replace(CURRENT, fee_rate_ppm=2505), LIMITS, 0.1),
        (replace(CURRENT, fee_rate_ppm=95), replace(LIMITS, min_fee_rate_ppm=100, max_fee_rate_ppm=100), 0.4),
        (replace(CURRENT, base_fee_msat=14_500), LIMITS, 0.4),
    ],
)
def test_every_step_the_engine_takes_back_toward_the_bounds_passes_until_the_fee_is_within_them(current, limits, score):
    bounds = limits.bounds_for()
    fee_bounds = limits.fee_bounds(bounds)

    def outside(policy: Policy) -> bool:
        return fee_bounds.fee_rate_outside(policy.fee_rate_ppm) or (
            fee_bounds.base_fee_back_msat(policy.base_fee_msat) != policy.base_fee_msat
        )

    steps = 0
    while outside(current) and steps < 20:
        facts = ChannelFacts(900, "ACINQ", score, {"liquidity": score}, 0.5, 5, 5, 7, current, bounds=fee_bounds)
        proposal = decide(facts)
        assert (proposal.rule == Rule.OUTSIDE_BOUNDS) == fee_bounds.fee_rate_outside(current.fee_rate_ppm)
        c = candidate(kind=proposal.kind, current=current, proposed=proposal.proposed, bounds=bounds)
        assert rules(c, limits) == [], proposal.reasons
        current, steps = proposal.proposed, steps + 1
    assert 0 < steps < 20 and not outside(current)
