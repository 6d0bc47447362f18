import json
import math
import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from channels import models
from channels.heuristics import Activity, FeeContext, PeerNetwork
from channels.scoring import (
    DEFAULT_WEIGHTS,
    HEURISTICS,
    ScoreInputs,
    WeightsError,
    aggregate_activity,
    aggregate_channels,
    score_channel,
    score_peer,
    validate_weights,
)
from tests.channels.test_heuristics import DAY_S, NOW, make_activity, make_channel, make_peer, random_extreme_inputs

# Every sub-score of this channel is one of the golden cases of test_heuristics.
GOLDEN = ScoreInputs(
    channel=make_channel(
        capacity_sat=2_000_000,
        local_balance_sat=200_000,
        remote_balance_sat=1_700_000,
        pending_outgoing_sat=100_000,
        fee_rate_ppm=310,
        opened_at=NOW - timedelta(days=45),
        uptime_s=27 * DAY_S,
        lifetime_s=30 * DAY_S,
    ),
    activity=make_activity(
        window_days=10,
        forwards_out_count=6,
        forwards_in_count=2,
        failed_forwards_count=2,
        amount_out_msat=600_000_000,
        amount_in_msat=200_000_000,
    ),
    peer=make_peer(),
    fees=FeeContext(
        network_median_fee_rate_ppm=100, peer_inbound_fee_rates_ppm=(50, 80, 100, 120, 150, 200, 250, 300, 400, 500)
    ),
    now=NOW,
)
GOLDEN_SUB_SCORES = {
    "centrality": 0.74,  # 0.6 x 0.9 + 0.4 x 0.5
    "liquidity": 0.3,  # (200k + 100k in flight) / 2 M = 0.15; 0.15 / 0.5
    "activity": 0.72,  # 4% a day of a 5% target = 0.8, x (1 - 0.5 x 2 failed / 10)
    "competitiveness": 0.35,  # (0.3 at 3.1x the median + 0.4 above 80% of competitors) / 2
    "reliability": 0.74,  # 0.6 x 27/30 + 0.4 x 1 / (1 + 5/5)
    "age": 0.25,  # 45 / 180 days
    "peer_quality": 0.625,  # 0.3 x 2/3 + 0.3 x 0.5 + 0.25 x 0.8 + 0.15 x 0.5
    "position": 1.0,  # hub
}


def random_inputs(rng: random.Random) -> ScoreInputs:
    channel, activity, peer, fees = random_extreme_inputs(rng)
    return ScoreInputs(channel=channel, activity=activity, peer=peer, fees=fees, now=NOW)


def random_weights(rng: random.Random) -> dict[str, float]:
    raw = {name: rng.random() for name in HEURISTICS}
    total = sum(raw.values())
    weights = {name: value / total for name, value in raw.items()}
    weights["position"] = 1 - math.fsum(weights[name] for name in HEURISTICS[:-1])
    return weights


def test_the_heuristic_names_are_those_of_the_channel_score_model():
    assert HEURISTICS == models.HEURISTICS
    assert {f"{name}_score" for name in HEURISTICS} <= {field.name for field in models.ChannelScore._meta.fields}


def test_the_default_weights_are_the_specifications():
    assert validate_weights(DEFAULT_WEIGHTS) == {
        "centrality": 0.20,
        "liquidity": 0.25,
        "activity": 0.20,
        "competitiveness": 0.15,
        "reliability": 0.10,
        "age": 0.05,
        "peer_quality": 0.03,
        "position": 0.02,
    }


# Weight validation


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"centrality": 0.25}, "weights must sum to 1, got 1.05"),
        ({"centrality": 0.0}, "weights must sum to 1, got 0.8"),
        ({"liquidity": -0.05, "centrality": 0.5}, "weight for liquidity must not be negative, got -0.05"),
        ({"age": "0.05"}, "weight for age must be a number, got '0.05'"),
        ({"age": None}, "weight for age must be a number, got None"),
        ({"age": True}, "weight for age must be a number, got True"),
        ({"age": math.nan}, "weight for age must be a number, got nan"),
        ({"age": math.inf}, "weight for age must be a number, got inf"),
        ({"fees": 0.1}, "unknown heuristic\\(s\\) in weights: fees"),
    ],
)
def test_it_refuses_weights_naming_the_problem(change, message):
    with pytest.raises(WeightsError, match=message):
        validate_weights({**DEFAULT_WEIGHTS, **change})


def test_it_refuses_missing_weights_and_non_mappings():
    partial = {name: weight for name, weight in DEFAULT_WEIGHTS.items() if name not in ("age", "position")}
    with pytest.raises(WeightsError, match="weights missing for: age, position"):
        validate_weights(partial)
    with pytest.raises(WeightsError, match="weights must be a mapping of heuristic name to weight, got list"):
        validate_weights([0.125] * 8)


def test_a_weights_error_is_a_value_error_and_score_channel_refuses_bad_weights():
    assert issubclass(WeightsError, ValueError)
    with pytest.raises(WeightsError):
        score_channel(GOLDEN, {**DEFAULT_WEIGHTS, "liquidity": 0.3})


def test_it_accepts_integers_and_a_sum_within_rounding_of_one():
    only_liquidity = {name: 0 for name in HEURISTICS} | {"liquidity": 1}
    assert validate_weights(only_liquidity)["liquidity"] == 1.0
    assert validate_weights({**DEFAULT_WEIGHTS, "position": 0.02 + 5e-10})["position"] == pytest.approx(0.02)


# The total


def test_golden_channel_total_is_the_weighted_sum_of_its_golden_sub_scores():
    # 0.2 x 0.74 + 0.25 x 0.3 + 0.2 x 0.72 + 0.15 x 0.35 + 0.1 x 0.74 + 0.05 x 0.25 + 0.03 x 0.625 + 0.02 x 1
    # = 0.148 + 0.075 + 0.144 + 0.0525 + 0.074 + 0.0125 + 0.01875 + 0.02 = 0.54475
    result = score_channel(GOLDEN)
    assert result.sub_scores == pytest.approx(GOLDEN_SUB_SCORES)
    assert result.total == pytest.approx(0.54475)
    assert result.chan_ids == (GOLDEN.channel.chan_id,)
    assert result.weights == dict(DEFAULT_WEIGHTS)
    assert result.reasons["competitiveness"] == (
        "310 ppm is 3.1x the network median 100 ppm and above 80% of the peer's 10 other inbound channels"
    )
    assert list(result.sub_scores) == list(result.reasons) == list(HEURISTICS)


def test_the_total_is_the_weighted_sum_and_stays_in_the_unit_interval_for_any_weights():
    rng = random.Random(3)
    for _ in range(1000):
        weights = random_weights(rng)
        result = score_channel(random_inputs(rng), weights)
        assert result.total == pytest.approx(sum(weights[name] * result.sub_scores[name] for name in HEURISTICS))
        assert 0.0 <= result.total <= 1.0
        assert all(0.0 <= value <= 1.0 for value in result.sub_scores.values())


@pytest.mark.parametrize("name", HEURISTICS)
def test_all_the_weight_on_one_heuristic_makes_the_total_that_sub_score(name):
    weights = {other: 0.0 for other in HEURISTICS} | {name: 1.0}
    result = score_channel(GOLDEN, weights)
    assert result.total == pytest.approx(GOLDEN_SUB_SCORES[name])


def test_scoring_refuses_a_naive_time():
    with pytest.raises(ValueError, match=r"ScoreInputs\.now must be timezone-aware"):
        replace(GOLDEN, now=datetime(2026, 2, 3))


# Storage


def test_inputs_summary_is_plain_json_with_the_figures_that_went_in():
    summary = score_channel(GOLDEN).inputs_summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["chan_ids"] == [GOLDEN.channel.chan_id]
    assert summary["channel"]["local_balance_sat"] == 200_000
    assert summary["channel"]["opened_at"] == "2025-12-20T12:00:00+00:00"
    assert summary["activity"]["amount_out_msat"] == 600_000_000
    assert summary["peer"]["position"] == "hub"
    assert summary["fees"]["peer_inbound_fee_rates_ppm"][:3] == [50, 80, 100]
    assert summary["now"] == "2026-02-03T12:00:00+00:00"
    assert summary["target_local_ratio"] == 0.5


# Several channels to one peer


def two_channels_to_one_peer() -> list[ScoreInputs]:
    drained = make_channel(
        chan_id=1, capacity_sat=1_000_000, local_balance_sat=20_000, remote_balance_sat=970_000, fee_rate_ppm=100
    )
    full = make_channel(
        chan_id=2, capacity_sat=1_000_000, local_balance_sat=970_000, remote_balance_sat=20_000, fee_rate_ppm=300
    )
    return [
        replace(GOLDEN, channel=drained, activity=make_activity(forwards_out_count=1, amount_out_msat=10_000_000)),
        replace(GOLDEN, channel=full, activity=make_activity(forwards_out_count=9, amount_out_msat=90_000_000)),
    ]


def test_a_drained_and_a_full_channel_to_one_peer_make_a_balanced_aggregate():
    drained, full = two_channels_to_one_peer()
    assert score_channel(drained).sub_scores["liquidity"] == pytest.approx(0.04)  # 2% local: 0.02 / 0.5
    assert score_channel(full).sub_scores["liquidity"] == pytest.approx(0.06)  # 97% local: 0.03 / 0.5
    together = score_peer([drained, full])
    # (20k + 970k) / (1 M + 1 M) = 49.5% local: 0.495 / 0.5 = 0.99
    assert together.sub_scores["liquidity"] == pytest.approx(0.99)
    assert together.chan_ids == (1, 2)
    assert together.inputs_summary()["chan_ids"] == [1, 2]
    assert together.reasons["liquidity"] == "local 50% of 2.0 M sat; target 50%"


def test_the_aggregate_sums_amounts_and_activity_and_weights_fees_by_capacity():
    small = make_channel(
        chan_id=7, capacity_sat=1_000_000, remote_balance_sat=0, fee_rate_ppm=100, base_fee_msat=0, active=False
    )
    large = make_channel(
        chan_id=3,
        capacity_sat=3_000_000,
        local_balance_sat=500_000,
        fee_rate_ppm=300,
        base_fee_msat=1000,
        opened_at=NOW - timedelta(days=400),
        pending_outgoing_sat=5_000,
        uptime_s=10 * DAY_S,
        lifetime_s=20 * DAY_S,
    )
    aggregate = aggregate_channels([small, large])
    assert aggregate.chan_id == 3
    assert aggregate.capacity_sat == 4_000_000
    assert aggregate.local_balance_sat == 1_500_000
    assert aggregate.pending_outgoing_sat == 5_000
    assert aggregate.fee_rate_ppm == 250  # (100 x 1 M + 300 x 3 M) / 4 M
    assert aggregate.base_fee_msat == 750  # (0 x 1 M + 1000 x 3 M) / 4 M
    assert aggregate.active  # the peer is reachable through one of them
    assert aggregate.opened_at == NOW - timedelta(days=400)  # the oldest
    assert (aggregate.uptime_s, aggregate.lifetime_s) == (40 * DAY_S, 50 * DAY_S)  # 30 + 10 of 30 + 20 days
    activity = aggregate_activity([make_activity(), make_activity(failed_forwards_count=5, fees_earned_msat=1)])
    assert activity == Activity(
        window_days=7,
        forwards_out_count=20,
        forwards_in_count=10,
        failed_forwards_count=7,
        amount_out_msat=600_000_000,
        amount_in_msat=200_000_000,
        fees_earned_msat=40_001,
    )


def test_a_single_channel_scored_as_a_peer_scores_as_itself():
    assert score_peer([GOLDEN]) == score_channel(GOLDEN)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"peer": PeerNetwork()}, "must share their peer"),
        ({"fees": FeeContext()}, "must share their fees"),
        ({"now": NOW + timedelta(minutes=1)}, "must share their now"),
        ({"activity": make_activity(window_days=30)}, "activity windows differ \\(\\[7, 30\\] days\\)"),
    ],
)
def test_channels_scored_together_must_share_peer_context_time_and_window(change, message):
    drained, full = two_channels_to_one_peer()
    with pytest.raises(ValueError, match=message):
        score_peer([drained, replace(full, **change)])


def test_scoring_no_channels_is_an_error():
    with pytest.raises(ValueError, match="no channels to score"):
        score_peer([])


# Determinism


def test_the_same_inputs_give_the_same_score():
    rng_a, rng_b = random.Random(42), random.Random(42)
    for _ in range(300):
        first, second = random_inputs(rng_a), random_inputs(rng_b)
        assert first is not second
        assert score_channel(first) == score_channel(second) == score_channel(first)
        assert json.dumps(score_channel(first).inputs_summary()) == json.dumps(score_channel(second).inputs_summary())
