"""Scoring reads one snapshot: the analysed one, for metrics and peer fees alike; pruning never removes it or
a snapshot an analysis is reading; and the activity window counts exactly the days it divides by."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from channels.analysis import analyse_snapshot
from channels.models import Channel, ChannelActivity, GraphAnalysis, Node
from channels.services import channels_score
from channels.tasks import analyse_snapshot as analyse_task
from sources.models import GraphSnapshot
from tests.sources.graphs import edge, policy, pubkey

OURS, PEER, OTHERS = 0, 1, (2, 3, 4)
CAPACITY_SAT = 1_000_000


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


def graph_with_peer_rate(rate_ppm: int) -> dict:
    """Us and our peer, and three other nodes with a channel to the peer each; the peer charges `rate_ppm`."""
    nodes = [{"pub_key": pubkey(i), "alias": f"node-{i}"} for i in (OURS, PEER, *OTHERS)]
    edges = [edge(1, OURS, PEER, first=policy(rate_ppm=50), second=policy(rate_ppm=rate_ppm))]
    edges += [edge(10 + i, PEER, i, first=policy(rate_ppm=rate_ppm), second=policy(rate_ppm=200 + i)) for i in OTHERS]
    return {"nodes": nodes, "edges": edges}


def snapshot_of(graph: dict, *, fetched_at: datetime) -> GraphSnapshot:
    snapshot = GraphSnapshot.from_graph(source=None, graph=graph, ttl=timedelta(hours=12), now=fetched_at)
    snapshot.save()
    return snapshot


def our_channel() -> Channel:
    Node.objects.create(pubkey=pubkey(OURS), is_ours=True)
    peer = Node.objects.create(pubkey=pubkey(PEER))
    return Channel.objects.create(
        chan_id=(800_001 << 40),
        chan_point=f"{1:064x}:0",
        peer=peer,
        capacity_sat=CAPACITY_SAT,
        local_balance_sat=CAPACITY_SAT // 2,
        remote_balance_sat=CAPACITY_SAT // 2,
        base_fee_msat=1000,
        fee_rate_ppm=50,
        time_lock_delta=80,
        min_htlc_msat=1000,
        max_htlc_msat=990_000_000,
    )


@pytest.mark.django_db
def test_peer_fees_come_from_the_snapshot_the_metrics_come_from():
    our_channel()
    now = timezone.now()
    analysed = snapshot_of(graph_with_peer_rate(100), fetched_at=now - timedelta(hours=1))
    analyse_snapshot(analysed)
    snapshot_of(graph_with_peer_rate(900), fetched_at=now)  # newer, not analysed yet
    (score,) = channels_score(now=now)
    assert score.snapshot_id == analysed.id
    assert score.inputs["peer"]["median_outbound_fee_rate_ppm"] == 100, "not the newer snapshot's 900"


@pytest.mark.django_db
def test_an_analysis_marks_its_snapshot_and_releases_its_hold():
    snapshot = snapshot_of(graph_with_peer_rate(100), fetched_at=timezone.now())
    analysis = analyse_snapshot(snapshot)
    snapshot.refresh_from_db()
    assert snapshot.analysed_at == analysis.computed_at
    assert not snapshot.holds.exists()


@pytest.mark.django_db
def test_a_snapshot_pruned_before_its_analysis_is_reported_not_crashed():
    snapshot = snapshot_of(graph_with_peer_rate(100), fetched_at=timezone.now())
    loaded = GraphSnapshot.objects.get(pk=snapshot.pk)  # the task has read it...
    GraphSnapshot.objects.filter(pk=snapshot.pk).delete()  # ...and a refresh prunes it
    with pytest.raises(GraphSnapshot.DoesNotExist):
        analyse_snapshot(loaded)
    assert not GraphAnalysis.objects.exists()


@pytest.mark.django_db
def test_a_refresh_during_an_analysis_does_not_prune_what_it_reads(monkeypatch):
    import channels.analysis

    now = timezone.now()
    first = snapshot_of(graph_with_peer_rate(100), fetched_at=now - timedelta(minutes=2))
    compute = channels.analysis.compute_node_metrics

    def refresh_meanwhile(graph):
        snapshot_of(graph_with_peer_rate(200), fetched_at=now - timedelta(minutes=1))
        snapshot_of(graph_with_peer_rate(300), fetched_at=now)
        assert GraphSnapshot.objects.prune(keep=1) == 1, "the unheld middle one goes, the held one stays"
        return compute(graph)

    monkeypatch.setattr(channels.analysis, "compute_node_metrics", refresh_meanwhile)
    report = analyse_task(first.id)
    assert report["analysed"] is True
    assert GraphAnalysis.objects.get().snapshot_id == first.id
    GraphSnapshot.objects.prune(keep=1)
    assert GraphSnapshot.objects.filter(pk=first.pk).exists(), "the newest analysed snapshot stays after, too"


@pytest.mark.django_db
@pytest.mark.parametrize("time_of_day", [timedelta(minutes=1), timedelta(hours=12), timedelta(hours=23, minutes=59)])
def test_the_activity_window_counts_as_many_whole_days_as_it_divides_by(settings, time_of_day):
    settings.DAZNODE_SCORE_ACTIVITY_DAYS = 7
    channel = our_channel()
    today = datetime(2026, 3, 10, tzinfo=UTC)
    per_day_msat = 10_000_000_000  # 1% of the capacity a day
    elapsed_today = time_of_day / timedelta(days=1)
    for days_ago in range(0, 10):  # today's bucket, as far as the day has gone, and the nine days before
        start = today - timedelta(days=days_ago)
        ChannelActivity.objects.create(
            channel=channel,
            period_start=start,
            period_end=start + timedelta(days=1),
            forwards_out_count=1,
            amount_out_msat=int(per_day_msat * (elapsed_today if days_ago == 0 else 1)),
        )
    (score,) = channels_score(now=today + time_of_day)
    activity = score.inputs["activity"]
    assert activity["window_days"] == 7
    assert activity["amount_out_msat"] == 7 * per_day_msat, "seven whole days, whatever the time of day"
