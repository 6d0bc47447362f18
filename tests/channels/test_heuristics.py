import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from channels import heuristics
from channels.heuristics import (
    Activity,
    ChannelState,
    FeeContext,
    PeerNetwork,
    Position,
    age,
    centrality,
    competitiveness,
    liquidity,
    peer_quality,
    position,
    reliability,
)
from channels.heuristics import activity as activity_score

NOW = datetime(2026, 2, 3, 12, 0, tzinfo=UTC)
DAY_S = 86_400


def make_channel(**overrides) -> ChannelState:
    fields = {
        "chan_id": 858_000_000_000_000_001,
        "capacity_sat": 2_000_000,
        "local_balance_sat": 1_000_000,
        "remote_balance_sat": 990_000,
        "active": True,
        "opened_at": NOW - timedelta(days=90),
        "fee_rate_ppm": 100,
        "base_fee_msat": 1000,
        "uptime_s": 30 * DAY_S,
        "lifetime_s": 30 * DAY_S,
    }
    return ChannelState(**{**fields, **overrides})


def make_activity(**overrides) -> Activity:
    fields = {
        "window_days": 7,
        "forwards_out_count": 10,
        "forwards_in_count": 5,
        "failed_forwards_count": 2,
        "amount_out_msat": 300_000_000,
        "amount_in_msat": 100_000_000,
        "fees_earned_msat": 40_000,
    }
    return Activity(**{**fields, **overrides})


def make_peer(**overrides) -> PeerNetwork:
    fields = {
        "betweenness_percentile": 0.9,
        "closeness_percentile": 0.5,
        "position": "hub",
        "total_capacity_sat": 100_000_000,
        "channel_count": 10,
        "disabled_ratio": 0.2,
        "median_outbound_fee_rate_ppm": 100,
        "fee_rate_stddev_ppm": 100,
        "flap_count": 5,
    }
    return PeerNetwork(**{**fields, **overrides})


def random_extreme_inputs(rng: random.Random) -> tuple[ChannelState, Activity, PeerNetwork, FeeContext]:
    """Ordinary values mixed with the extremes a selector may hand over: zeros, huge amounts, None, stale data."""
    capacity_sat = rng.choice((0, 1, 20_000, 2_000_000, 10**10))
    lifetime_s = rng.choice((None, 0, 1, 30 * DAY_S))
    channel = ChannelState(
        chan_id=rng.randrange(2**64),
        capacity_sat=capacity_sat,
        local_balance_sat=rng.choice((0, capacity_sat, rng.randint(0, capacity_sat), 2 * capacity_sat + 1)),
        remote_balance_sat=rng.randint(0, capacity_sat),
        pending_outgoing_sat=rng.choice((0, rng.randint(0, capacity_sat), 3 * capacity_sat)),
        pending_incoming_sat=rng.choice((0, rng.randint(0, capacity_sat))),
        active=rng.random() < 0.5,
        opened_at=rng.choice((None, NOW, NOW + timedelta(days=2), NOW - timedelta(days=rng.randint(0, 5000)))),
        fee_rate_ppm=rng.choice((0, 1, 100, 5000, 2**32 - 1)),
        base_fee_msat=rng.choice((0, 1000, 2**63)),
        uptime_s=rng.choice((None, 0, rng.randint(0, 60 * DAY_S))),
        lifetime_s=lifetime_s,
    )
    activity = Activity(
        window_days=rng.choice((0, 1, 7, 365)),
        forwards_out_count=rng.choice((0, 1, 10**6)),
        forwards_in_count=rng.choice((0, 3, 10**6)),
        failed_forwards_count=rng.choice((0, 1, 10**7)),
        amount_out_msat=rng.choice((0, 1, 10**9, 10**18)),
        amount_in_msat=rng.choice((0, 10**12)),
        fees_earned_msat=rng.choice((0, 10**9)),
    )
    return channel, activity, random_peer(rng), random_fees(rng)


def random_peer(rng: random.Random) -> PeerNetwork:
    if rng.random() < 0.2:
        return PeerNetwork()  # not in the graph

    def maybe(value):
        return None if rng.random() < 0.2 else value

    return PeerNetwork(
        betweenness_percentile=maybe(rng.choice((0.0, 1.0, rng.random()))),
        closeness_percentile=maybe(rng.choice((0.0, 1.0, rng.random()))),
        position=maybe(rng.choice(tuple(Position))),
        total_capacity_sat=maybe(rng.choice((0, 1, 5_000_000, 10**12))),
        channel_count=maybe(rng.choice((0, 1, 40, 5000))),
        disabled_ratio=maybe(rng.choice((0.0, 1.0, rng.random()))),
        median_outbound_fee_rate_ppm=maybe(rng.choice((0, 0.5, 100, 50_000))),
        fee_rate_stddev_ppm=maybe(rng.choice((0, 40.5, 10**6))),
        flap_count=maybe(rng.choice((0, 1, 7, 10**6))),
    )


def random_fees(rng: random.Random) -> FeeContext:
    rates = tuple(rng.choice((0, 1, 100, 2**32 - 1, rng.randint(0, 3000))) for _ in range(rng.choice((0, 1, 30))))
    return FeeContext(network_median_fee_rate_ppm=rng.choice((None, 0, 100, 10**6)), peer_inbound_fee_rates_ppm=rates)


def all_results(channel: ChannelState, activity: Activity, peer: PeerNetwork, fees: FeeContext) -> dict:
    return {
        "centrality": centrality(peer),
        "liquidity": liquidity(channel),
        "activity": activity_score(activity, channel),
        "competitiveness": competitiveness(channel, fees),
        "reliability": reliability(channel, peer),
        "age": age(channel, NOW),
        "peer_quality": peer_quality(peer),
        "position": position(peer),
    }


def is_non_increasing(values: list[float]) -> bool:
    return all(later <= earlier for earlier, later in pairwise(values))


def is_non_decreasing(values: list[float]) -> bool:
    return is_non_increasing(values[::-1])


# Bounds


def test_every_heuristic_stays_in_the_unit_interval_over_extreme_and_ordinary_inputs():
    rng = random.Random(20260203)
    for _ in range(3000):
        for name, result in all_results(*random_extreme_inputs(rng)).items():
            assert 0.0 <= result.value <= 1.0, (name, result)
            assert not math.isnan(result.value)
            assert isinstance(result.reason, str) and result.reason, name


def test_a_channel_without_capacity_scores_zero_on_liquidity_and_activity_with_a_reason():
    empty = make_channel(capacity_sat=0, local_balance_sat=0, remote_balance_sat=0)
    assert liquidity(empty).value == 0.0
    assert liquidity(empty).reason == "channel has no capacity"
    assert activity_score(make_activity(), empty).value == 0.0


def test_an_empty_window_scores_zero_activity_with_a_reason():
    result = activity_score(make_activity(window_days=0), make_channel())
    assert result.value == 0.0
    assert "empty activity window" in result.reason


def test_a_peer_missing_from_the_graph_scores_low_with_reasons():
    unknown = PeerNetwork()
    for heuristic in (centrality, peer_quality, position):
        result = heuristic(unknown)
        assert result.value == heuristics.UNKNOWN_PEER_SCORE
        assert "unknown" in result.reason


def test_stale_balances_above_capacity_count_as_fully_local():
    stale = make_channel(local_balance_sat=1_900_000, pending_outgoing_sat=500_000)
    assert stale.local_ratio() == 1.0
    assert liquidity(stale).value == 0.0


# Monotonicity


@pytest.mark.parametrize("target", [0.2, 0.5, 0.8])
def test_liquidity_never_improves_as_the_balance_moves_away_from_the_target(target):
    capacity_sat = 1_000_000
    locals_sat = range(0, capacity_sat + 1, 5_000)
    scores = [
        liquidity(make_channel(capacity_sat=capacity_sat, local_balance_sat=local), target).value
        for local in locals_sat
    ]
    below = [score for local, score in zip(locals_sat, scores, strict=True) if local / capacity_sat <= target]
    above = [score for local, score in zip(locals_sat, scores, strict=True) if local / capacity_sat >= target]
    assert is_non_decreasing(below)  # draining further below the target never scores better
    assert is_non_increasing(above)  # filling further above the target never scores better
    assert max(scores) == 1.0 and scores[0] == 0.0 and scores[-1] == 0.0


def test_liquidity_with_a_centred_target_depends_only_on_the_distance_to_it():
    rng = random.Random(7)
    for _ in range(500):
        near, far = sorted(rng.uniform(0, 0.5) for _ in range(2))
        for side in (-1, 1):
            for other_side in (-1, 1):
                closer = make_channel(capacity_sat=10**8, local_balance_sat=round((0.5 + side * near) * 10**8))
                further = make_channel(capacity_sat=10**8, local_balance_sat=round((0.5 + other_side * far) * 10**8))
                assert liquidity(further).value <= liquidity(closer).value + 1e-12


def test_liquidity_counts_outgoing_htlcs_in_flight_as_ours_and_incoming_ones_as_the_peers():
    settled = make_channel(local_balance_sat=600_000, remote_balance_sat=1_000_000)
    with_outgoing = replace(settled, pending_outgoing_sat=400_000)  # 1.0 M sat ours: on target
    with_incoming = replace(settled, pending_incoming_sat=400_000)  # still 0.6 M sat ours
    assert liquidity(with_outgoing).value == 1.0
    assert liquidity(with_incoming).value == liquidity(settled).value == pytest.approx(0.6)
    assert liquidity(with_outgoing).reason == "local 50% of 2.0 M sat with 0.40 M sat outgoing in flight; target 50%"


def test_more_successful_volume_never_scores_worse_and_more_failures_never_better():
    rng = random.Random(11)
    channel = make_channel(capacity_sat=5_000_000)
    for _ in range(500):
        base = make_activity(
            window_days=rng.choice((1, 7, 30)),
            forwards_out_count=rng.randint(0, 50),
            forwards_in_count=rng.randint(0, 50),
            failed_forwards_count=rng.randint(0, 50),
            amount_out_msat=rng.randint(0, 10**10),
            amount_in_msat=rng.randint(0, 10**10),
        )
        more_volume = replace(
            base,
            forwards_out_count=base.forwards_out_count + rng.randint(1, 20),
            amount_out_msat=base.amount_out_msat + rng.randint(1, 10**10),
        )
        more_failures = replace(base, failed_forwards_count=base.failed_forwards_count + rng.randint(1, 20))
        score = activity_score(base, channel).value
        assert activity_score(more_volume, channel).value >= score
        assert activity_score(more_failures, channel).value <= score


def test_a_growing_volume_scores_higher_until_the_target_then_stays_at_one():
    channel = make_channel(capacity_sat=1_000_000)
    amounts_msat = [sat * 1000 for sat in range(0, 1_000_001, 50_000)]
    scores = [
        activity_score(make_activity(amount_out_msat=a, amount_in_msat=0, failed_forwards_count=0), channel).value
        for a in amounts_msat
    ]
    assert is_non_decreasing(scores)
    assert scores[0] == 0.0 and scores[-1] == 1.0  # 1 M sat in 7 days is 14% a day, above the 5% target


def test_a_higher_fee_in_the_same_context_never_scores_better():
    rng = random.Random(5)
    for _ in range(200):
        fees = random_fees(rng)
        scores = [competitiveness(make_channel(fee_rate_ppm=ppm), fees).value for ppm in range(0, 3001, 10)]
        assert is_non_increasing(scores), fees


def test_an_older_channel_never_scores_worse_on_age():
    scores = [age(make_channel(opened_at=NOW - timedelta(hours=hours)), NOW).value for hours in range(0, 24 * 400, 6)]
    assert is_non_decreasing(scores)
    assert scores[0] == 0.0 and scores[-1] == 1.0


def test_more_disconnections_never_score_better_on_reliability():
    for active in (True, False):
        channel = make_channel(active=active, uptime_s=20 * DAY_S, lifetime_s=30 * DAY_S)
        scores = [reliability(channel, make_peer(flap_count=flaps)).value for flaps in range(0, 500)]
        assert is_non_increasing(scores)
        assert scores[-1] < scores[0]


def test_more_uptime_never_scores_worse_on_reliability():
    peer = make_peer(flap_count=2)
    scores = [
        reliability(make_channel(uptime_s=hours * 3600, lifetime_s=30 * DAY_S), peer).value for hours in range(0, 721)
    ]
    assert is_non_decreasing(scores)


# Golden cases, worked out by hand


def test_centrality_golden_cases():
    # 0.6 x 0.9 + 0.4 x 0.5 = 0.54 + 0.20 = 0.74
    result = centrality(make_peer(betweenness_percentile=0.9, closeness_percentile=0.5))
    assert result.value == pytest.approx(0.74)
    assert result.reason == "peer's betweenness percentile 90%, closeness percentile 50% (weighted 0.6/0.4)"
    # closeness unknown: the betweenness percentile alone, 0.6 x 0.9 / 0.6 = 0.9
    assert centrality(make_peer(betweenness_percentile=0.9, closeness_percentile=None)).value == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("local_sat", "pending_out_sat", "target", "expected"),
    [
        (200_000, 100_000, 0.5, 0.3),  # ratio (200k + 100k) / 2 M = 0.15; 0.15 / 0.5 = 0.3
        (1_700_000, 0, 0.5, 0.3),  # ratio 0.85; (1 - 0.85) / 0.5 = 0.3
        (1_000_000, 0, 0.5, 1.0),  # on target
        (0, 0, 0.5, 0.0),  # fully drained
        (1_800_000, 0, 0.8, 0.5),  # ratio 0.9 with target 0.8: (1 - 0.9) / (1 - 0.8) = 0.5
        (400_000, 0, 0.8, 0.25),  # ratio 0.2 with target 0.8: 0.2 / 0.8 = 0.25
    ],
)
def test_liquidity_golden_cases(local_sat, pending_out_sat, target, expected):
    channel = make_channel(
        capacity_sat=2_000_000, local_balance_sat=local_sat, remote_balance_sat=0, pending_outgoing_sat=pending_out_sat
    )
    assert liquidity(channel, target).value == pytest.approx(expected)


def test_liquidity_reason_names_the_ratio_capacity_htlcs_and_target():
    channel = make_channel(local_balance_sat=140_000, pending_outgoing_sat=100_000, pending_incoming_sat=20_000)
    assert liquidity(channel).reason == (
        "local 12% of 2.0 M sat with 0.10 M sat outgoing and 20 k sat incoming in flight; target 50%"
    )


def test_activity_golden_case():
    # 600 k sat out + 200 k sat in = 800 k sat over 10 days on 2 M sat: 800k / 2M / 10 = 4% a day;
    # volume 0.04 / 0.05 = 0.8. 6 + 2 forwards, 2 failed: success 8/10 = 0.8, factor 1 - 0.5 x 0.2 = 0.9.
    # 0.8 x 0.9 = 0.72
    window = make_activity(
        window_days=10,
        forwards_out_count=6,
        forwards_in_count=2,
        failed_forwards_count=2,
        amount_out_msat=600_000_000,
        amount_in_msat=200_000_000,
        fees_earned_msat=1_234_000,
    )
    result = activity_score(window, make_channel(capacity_sat=2_000_000))
    assert result.value == pytest.approx(0.72)
    assert result.reason == (
        "routed 0.80 M sat in 10 days (8 forwards, 2 failed: 80% success), 4.0% of capacity a day"
        " against a 5% target; earned 1,234 sat in fees"
    )


def test_activity_without_any_forward_scores_zero():
    quiet = make_activity(
        forwards_out_count=0, forwards_in_count=0, failed_forwards_count=0, amount_out_msat=0, amount_in_msat=0
    )
    result = activity_score(quiet, make_channel())
    assert result.value == 0.0
    assert result.reason == "no forwards in 7 days"


def test_competitiveness_golden_case_overpriced():
    # Network: 310 / 100 = 3.1x; (4 - 3.1) / (4 - 1) = 0.3.
    # Peer: 8 of the 10 other inbound channels are cheaper than 310 ppm: above 80%; (1 - 0.8) / 0.5 = 0.4.
    # Mean: (0.3 + 0.4) / 2 = 0.35
    fees = FeeContext(
        network_median_fee_rate_ppm=100, peer_inbound_fee_rates_ppm=(500, 50, 80, 100, 120, 150, 200, 250, 300, 400)
    )
    result = competitiveness(make_channel(fee_rate_ppm=310), fees)
    assert result.value == pytest.approx(0.35)
    assert result.reason == (
        "310 ppm is 3.1x the network median 100 ppm and above 80% of the peer's 10 other inbound channels"
    )


@pytest.mark.parametrize(
    ("fee_rate_ppm", "median_ppm", "rates_ppm", "expected"),
    [
        (100, 100, (), 1.0),  # at the median: 1.0x, full marks
        (250, 100, (), 0.5),  # 2.5x: (4 - 2.5) / 3 = 0.5
        (400, 100, (), 0.0),  # 4x and above: 0
        (0, 0, (), 1.0),  # free in a free network: 0 / max(0, 1 ppm) = 0x
        (50, 0, (), 0.0),  # 50 ppm against a median of 0 (compared as 1 ppm): 50x
        (100, None, (100, 200), 1.0),  # a tie counts half: (0 + 1/2) / 2 = 25% above, under the free 50%
        (300, None, (100, 200, 300, 400), 0.75),  # (2 + 1/2) / 4 = 62.5% above; (1 - 0.625) / 0.5 = 0.75
        (100, None, (), 0.5),  # no context at all: neutral
    ],
)
def test_competitiveness_golden_cases(fee_rate_ppm, median_ppm, rates_ppm, expected):
    fees = FeeContext(network_median_fee_rate_ppm=median_ppm, peer_inbound_fee_rates_ppm=rates_ppm)
    assert competitiveness(make_channel(fee_rate_ppm=fee_rate_ppm), fees).value == pytest.approx(expected)


def test_reliability_golden_cases():
    # Uptime 27 of 30 days = 0.9; 5 flaps: 1 / (1 + 5/5) = 0.5. 0.6 x 0.9 + 0.4 x 0.5 = 0.54 + 0.2 = 0.74
    channel = make_channel(uptime_s=27 * DAY_S, lifetime_s=30 * DAY_S)
    result = reliability(channel, make_peer(flap_count=5))
    assert result.value == pytest.approx(0.74)
    assert result.reason == "active, peer online 90% of 30 days watched, 5 disconnections"
    # Inactive: halved, 0.37
    assert reliability(replace(channel, active=False), make_peer(flap_count=5)).value == pytest.approx(0.37)
    # Nothing known: 0.6 x 0.5 + 0.4 x 0.5 = 0.5
    unknown = reliability(make_channel(uptime_s=None, lifetime_s=None), PeerNetwork())
    assert unknown.value == pytest.approx(0.5)
    assert unknown.reason == "active, uptime unknown, disconnections unknown"


@pytest.mark.parametrize(
    ("opened_at", "expected"),
    [
        (NOW - timedelta(days=45), 0.25),  # 45 / 180
        (NOW - timedelta(days=180), 1.0),
        (NOW - timedelta(days=1000), 1.0),  # saturated
        (NOW, 0.0),
        (NOW + timedelta(hours=1), 0.0),  # opened "after now": clock skew, treated as new
        (None, 0.5),  # unknown: neutral
    ],
)
def test_age_golden_cases(opened_at, expected):
    assert age(make_channel(opened_at=opened_at), NOW).value == pytest.approx(expected)


def test_age_reasons():
    assert age(make_channel(opened_at=NOW - timedelta(days=45)), NOW).reason == "opened 45 days ago; full marks at 180"
    assert age(make_channel(opened_at=None), NOW).reason == "opening time unknown: neutral"


def test_peer_quality_golden_case():
    # Capacity 1 BTC on the 0.01-10 BTC log scale: log(100) / log(1000) = 2/3.
    # 10 channels on the 1-100 log scale: log(10) / log(100) = 0.5. 20% disabled: 0.8 enabled.
    # Fees 100 +- 100 ppm: spread 1, stability 1 / (1 + 1) = 0.5.
    # 0.3 x 2/3 + 0.3 x 0.5 + 0.25 x 0.8 + 0.15 x 0.5 = 0.2 + 0.15 + 0.2 + 0.075 = 0.625
    result = peer_quality(make_peer())
    assert result.value == pytest.approx(0.625)
    assert result.reason == "peer has 100.0 M sat capacity, 10 channels, 20% disabled, fees 100 ± 100 ppm"


def test_peer_quality_uses_only_what_is_known():
    # Only the disabled ratio: 1 - 0.25 = 0.75
    assert peer_quality(PeerNetwork(disabled_ratio=0.25)).value == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("where", "expected"), [("hub", 1.0), ("well_connected", 0.7), ("edge", 0.3), (None, heuristics.UNKNOWN_PEER_SCORE)]
)
def test_position_ranks_hub_over_well_connected_over_edge_over_unknown(where, expected):
    assert position(PeerNetwork(position=where)).value == expected


# Inputs refuse what they cannot mean


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: make_channel(local_balance_sat=-1), "local_balance_sat must be a non-negative number"),
        (lambda: make_channel(opened_at=datetime(2026, 1, 1)), "opened_at must be timezone-aware"),
        (lambda: make_activity(failed_forwards_count=-3), "failed_forwards_count must be a non-negative number"),
        (lambda: make_peer(betweenness_percentile=1.5), "betweenness_percentile must be between 0 and 1"),
        (lambda: make_peer(disabled_ratio=math.nan), "disabled_ratio must be between 0 and 1"),
        (lambda: make_peer(position="core"), "position must be one of hub, well_connected, edge"),
        (lambda: make_peer(flap_count=math.inf), "flap_count must be a non-negative number"),
        (lambda: FeeContext(peer_inbound_fee_rates_ppm=(100, -5)), "must not be negative"),
        (lambda: liquidity(make_channel(), 1.0), "target_local_ratio must be strictly between 0 and 1"),
        (lambda: age(make_channel(), datetime(2026, 2, 3)), "now must be timezone-aware"),
    ],
)
def test_inputs_refuse_values_they_cannot_mean(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_the_peer_position_accepts_the_analysis_strings_and_the_inbound_rates_are_kept_sorted():
    assert make_peer(position="well_connected").position is Position.WELL_CONNECTED
    assert FeeContext(peer_inbound_fee_rates_ppm=(300, 1, 50)).peer_inbound_fee_rates_ppm == (1, 50, 300)


def test_the_same_inputs_give_the_same_results():
    rng_a, rng_b = random.Random(99), random.Random(99)
    for _ in range(200):
        assert all_results(*random_extreme_inputs(rng_a)) == all_results(*random_extreme_inputs(rng_b))
