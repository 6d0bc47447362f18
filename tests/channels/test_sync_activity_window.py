"""The sync stores whole UTC days of forwards, over the whole activity window, so no stored day ever shrinks."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache

from channels.heuristics import activity_window
from channels.models import Channel, ChannelActivity
from channels.sync import sync_node
from sources.demo import simulated_node_register
from sources.simulator import start_simulator
from sources.simulator.ledger import ForwardingEvent

NS_PER_S = 1_000_000_000
AMOUNT_MSAT = 50_000_000
FEE_MSAT = 1_000


@pytest.fixture
def sim(db):
    cache.clear()
    with start_simulator(seed=23, node_count=60) as running:
        simulated_node_register(name="sim", url=running.url, macaroon=running.admin_macaroon, cert_pem=None)
        yield running


def noon_yesterday() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1) + timedelta(hours=12)


def add_forwards(sim, *moments: datetime) -> str:
    """Forwards at `moments` through the simulated node's first two active channels; the outgoing channel id."""
    channel_in, channel_out = [channel for channel in sim.node.channels if channel.active][:2]
    events = [
        ForwardingEvent(
            timestamp_ns=int(moment.timestamp()) * NS_PER_S,
            chan_id_in=channel_in.chan_id,
            chan_id_out=channel_out.chan_id,
            amt_in_msat=AMOUNT_MSAT + FEE_MSAT,
            amt_out_msat=AMOUNT_MSAT,
            incoming_htlc_id=10_000 + i,
            outgoing_htlc_id=10_000 + i,
        )
        for i, moment in enumerate(moments)
    ]
    with sim.node._lock:
        sim.node.forwards = sorted([*sim.node.forwards, *events], key=lambda event: event.timestamp_ns)
    return channel_out.chan_id


def forwards_out_on(chan_id: str, day: datetime) -> int | None:
    return (
        ChannelActivity.objects.filter(channel__chan_id=int(chan_id), period_start=day)
        .values_list("forwards_out_count", flat=True)
        .first()
    )


def test_it_keeps_the_oldest_day_of_a_30_day_window_whole(sim, settings):
    settings.DAZNODE_SCORE_ACTIVITY_DAYS = 30
    now = noon_yesterday()
    oldest_day, _ = activity_window(now, 30)
    # One forward before the time of day of `now - 30 days` on the window's oldest day, one after it.
    chan_id = add_forwards(sim, oldest_day + timedelta(hours=1), oldest_day + timedelta(hours=13))
    sync_node(now=now - timedelta(days=1))  # yesterday's sync: the day was well inside its window
    assert forwards_out_on(chan_id, oldest_day) == 2
    sync_node(now=now)
    assert forwards_out_on(chan_id, oldest_day) == 2, "the oldest day of the window is read from its midnight"


def test_the_stored_window_matches_the_nodes_history_day_for_day(sim, settings):
    settings.DAZNODE_SCORE_ACTIVITY_DAYS = 30
    now = noon_yesterday()
    start, end = activity_window(now, 30)
    add_forwards(sim, start + timedelta(minutes=5), start + timedelta(hours=23))
    sync_node(now=now)
    expected: dict[int, int] = {}
    for event in sim.node.forwards:
        if start.timestamp() * NS_PER_S <= event.timestamp_ns < end.timestamp() * NS_PER_S:
            expected[int(event.chan_id_out)] = expected.get(int(event.chan_id_out), 0) + 1
    stored: dict[int, int] = {}
    for chan_id, count in ChannelActivity.objects.filter(period_start__gte=start, period_start__lt=end).values_list(
        "channel__chan_id", "forwards_out_count"
    ):
        stored[chan_id] = stored.get(chan_id, 0) + count
    assert {chan_id: count for chan_id, count in stored.items() if count} == expected


def test_an_activity_window_longer_than_30_days_is_synced_whole(sim, settings):
    settings.DAZNODE_SCORE_ACTIVITY_DAYS = 45
    now = noon_yesterday()
    oldest_day, _ = activity_window(now, 45)
    chan_id = add_forwards(sim, oldest_day + timedelta(hours=2))
    sync_node(now=now)
    assert forwards_out_on(chan_id, oldest_day) == 1, "the scoring window reaches 45 days back: so does the sync"
    assert Channel.objects.filter(chan_id=int(chan_id)).exists()


def test_a_short_activity_window_still_syncs_a_month(sim, settings):
    settings.DAZNODE_SCORE_ACTIVITY_DAYS = 7
    now = noon_yesterday()
    month_ago, _ = activity_window(now, 30)
    chan_id = add_forwards(sim, month_ago + timedelta(minutes=30))
    sync_node(now=now)
    assert forwards_out_on(chan_id, month_ago) == 1
