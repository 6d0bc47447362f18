"""Issue target for channel scoring: the eight heuristics and the total for 500 channels in <= 200 ms (graph
analytics excluded: the peer metrics arrive already computed).

Scoring is pure, so it runs in this process without Django. The 500 inputs are built from a seeded generator
outside the timed part; the figure is the median of a few repetitions.

    .venv/bin/python -m tests.benchmarks.bench_scoring
"""

import random
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from channels.heuristics import Activity, ChannelState, FeeContext, PeerNetwork, Position
from channels.scoring import ScoreInputs, score_channel
from tests.benchmarks.measure import report

CHANNEL_COUNT = 500
REPETITIONS = 7
TARGET_S = 0.2
SEED = 20260203
NOW = datetime(2026, 2, 3, 12, 0, tzinfo=UTC)
DAY_S = 86_400
CAPACITIES_SAT = (500_000, 1_000_000, 2_000_000, 3_000_000, 5_000_000, 10_000_000, 16_777_215)
FEE_RATES_PPM = (0, 1, 10, 50, 100, 100, 200, 250, 500, 1000, 2500)
NETWORK_MEDIAN_FEE_RATE_PPM = 100


def random_channel(rng: random.Random, chan_id: int) -> ChannelState:
    capacity_sat = rng.choice(CAPACITIES_SAT)
    local_sat = int(capacity_sat * rng.betavariate(0.7, 0.7) * 0.98)
    lifetime_s = rng.randint(1, 90) * DAY_S
    return ChannelState(
        chan_id=chan_id,
        capacity_sat=capacity_sat,
        local_balance_sat=local_sat,
        remote_balance_sat=int(capacity_sat * 0.98) - local_sat,
        pending_outgoing_sat=rng.choice((0, 0, 0, rng.randint(0, local_sat // 10 + 1))),
        pending_incoming_sat=rng.choice((0, 0, 0, 25_000)),
        active=rng.random() > 0.05,
        opened_at=rng.choice((None, NOW - timedelta(days=rng.randint(0, 900), seconds=rng.randint(0, DAY_S)))),
        fee_rate_ppm=rng.choice(FEE_RATES_PPM),
        base_fee_msat=rng.choice((0, 0, 1000)),
        uptime_s=int(lifetime_s * rng.uniform(0.7, 1.0)) if rng.random() > 0.1 else None,
        lifetime_s=lifetime_s,
    )


def random_activity(rng: random.Random, capacity_sat: int) -> Activity:
    if rng.random() < 0.3:
        return Activity(window_days=7)  # a quiet week
    forwards_out, forwards_in = rng.randint(0, 200), rng.randint(0, 200)
    return Activity(
        window_days=7,
        forwards_out_count=forwards_out,
        forwards_in_count=forwards_in,
        failed_forwards_count=rng.randint(0, 100),
        amount_out_msat=int(capacity_sat * 1000 * rng.lognormvariate(-2, 1.5)) if forwards_out else 0,
        amount_in_msat=int(capacity_sat * 1000 * rng.lognormvariate(-2, 1.5)) if forwards_in else 0,
        fees_earned_msat=rng.randint(0, 5_000_000),
    )


def random_peer(rng: random.Random) -> tuple[PeerNetwork, FeeContext]:
    if rng.random() < 0.05:
        return PeerNetwork(flap_count=rng.randint(0, 3)), FeeContext(network_median_fee_rate_ppm=100)
    channel_count = int(rng.lognormvariate(3, 1.3)) + 1
    median_ppm = rng.choice(FEE_RATES_PPM)
    peer = PeerNetwork(
        betweenness_percentile=rng.random(),
        closeness_percentile=rng.random(),
        position=rng.choices(tuple(Position), weights=(1, 3, 6))[0],
        total_capacity_sat=channel_count * rng.choice(CAPACITIES_SAT),
        channel_count=channel_count,
        disabled_ratio=rng.betavariate(1, 9),
        median_outbound_fee_rate_ppm=median_ppm,
        fee_rate_stddev_ppm=median_ppm * rng.uniform(0, 2),
        flap_count=rng.choice((None, 0, 0, 1, 2, 5, 30)),
    )
    inbound = tuple(int(rng.lognormvariate(4.5, 1.2)) for _ in range(channel_count - 1))
    return peer, FeeContext(network_median_fee_rate_ppm=NETWORK_MEDIAN_FEE_RATE_PPM, peer_inbound_fee_rates_ppm=inbound)


def build_inputs(count: int, seed: int) -> list[ScoreInputs]:
    """Channels to varied peers, a few peers holding several of them (they share the peer's metrics)."""
    rng = random.Random(seed)
    peers = [random_peer(rng) for _ in range(count * 4 // 5)]
    inputs = []
    for index in range(count):
        peer, fees = rng.choice(peers)
        channel = random_channel(rng, chan_id=(800_000 + index) << 40)
        activity = random_activity(rng, channel.capacity_sat)
        inputs.append(ScoreInputs(channel=channel, activity=activity, peer=peer, fees=fees, now=NOW))
    return inputs


def median_seconds(work, repetitions: int = REPETITIONS) -> float:
    durations = []
    for _ in range(repetitions):
        started = time.perf_counter()
        work()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def main() -> int:
    inputs = build_inputs(CHANNEL_COUNT, SEED)
    scores_only = median_seconds(lambda: [score_channel(item) for item in inputs])
    with_summary = median_seconds(lambda: [score_channel(item).inputs_summary() for item in inputs])
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Channel scoring, {CHANNEL_COUNT} channels, median of {REPETITIONS} runs (graph analytics excluded):")
    results = [
        report(
            f"score {CHANNEL_COUNT} channels (8 heuristics + total)",
            scores_only,
            peak_rss_mb,
            target_s=TARGET_S,
            target_mb=None,
        ),
        report(
            f"score {CHANNEL_COUNT} channels + inputs_summary() for storage",
            with_summary,
            peak_rss_mb,
            target_s=TARGET_S,
            target_mb=None,
        ),
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
