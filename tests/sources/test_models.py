from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from sources.models import GraphSnapshot, HealthCheck, Source
from sources.tasks import prune_graph_snapshots, prune_health_checks

GRAPH = {
    "nodes": [{"pub_key": "02" + "aa" * 32, "alias": "a"}, {"pub_key": "03" + "bb" * 32, "alias": "b"}],
    "edges": [
        {
            "channel_id": "1",
            "node1_pub": "02" + "aa" * 32,
            "node2_pub": "03" + "bb" * 32,
            "capacity": "100000",
            "node1_policy": None,
            "node2_policy": None,
        }
    ],
}


@pytest.fixture
def source(db):
    return Source.objects.create(name="graph-file", kind=Source.Kind.FILE, url="/srv/graph.json")


def test_network_sources_need_an_http_url(db):
    Source(name="lnd", kind=Source.Kind.LND, url="https://umbrel.local:8080").full_clean()
    with pytest.raises(ValidationError, match="Enter an http:// or https:// URL"):
        Source(name="lnd", kind=Source.Kind.LND, url="ftp://umbrel.local").clean()
    with pytest.raises(ValidationError, match="needs the path"):
        Source(name="file", kind=Source.Kind.FILE, url="  ").clean()


def test_a_snapshot_keeps_the_graph_with_its_counts_hash_and_expiry(source):
    now = timezone.now()
    snapshot = GraphSnapshot.from_graph(source=source, graph=GRAPH, ttl=timedelta(hours=12), now=now)
    snapshot.save()
    snapshot.refresh_from_db()
    assert snapshot.graph() == GRAPH
    assert (snapshot.node_count, snapshot.edge_count) == (2, 1)
    assert len(snapshot.content_hash) == 64
    assert not snapshot.is_expired(now + timedelta(hours=11, minutes=59))
    assert snapshot.is_expired(now + timedelta(hours=12))
    assert snapshot.age(now + timedelta(hours=13)) == timedelta(hours=13)


def test_the_same_graph_gives_the_same_hash_and_another_graph_another(source):
    first = GraphSnapshot.from_graph(source=source, graph=GRAPH, ttl=timedelta(hours=1))
    again = GraphSnapshot.from_graph(source=source, graph=GRAPH, ttl=timedelta(hours=1))
    other = GraphSnapshot.from_graph(source=source, graph={**GRAPH, "edges": []}, ttl=timedelta(hours=1))
    assert first.content_hash == again.content_hash != other.content_hash


def snapshots_at(source, hours_ago: list[int]) -> list[GraphSnapshot]:
    now = timezone.now()
    return [
        GraphSnapshot.from_graph(source=source, graph=GRAPH, ttl=timedelta(hours=1), now=now - timedelta(hours=hours))
        for hours in hours_ago
    ]


def test_pruning_keeps_the_newest_snapshots_of_each_source_even_when_expired(source, settings):
    settings.DAZNODE_GRAPH_SNAPSHOTS_KEEP = 2
    other = Source.objects.create(name="lnd", kind=Source.Kind.LND, url="https://127.0.0.1:8080")
    GraphSnapshot.objects.bulk_create(snapshots_at(source, [50, 40, 30, 20]) + snapshots_at(other, [45]))

    assert prune_graph_snapshots() == 2
    kept = GraphSnapshot.objects.filter(source=source).order_by("-fetched_at")
    assert [round(s.age().total_seconds() / 3600) for s in kept] == [20, 30]
    assert all(s.is_expired() for s in kept)
    assert GraphSnapshot.objects.filter(source=other).count() == 1
    assert prune_graph_snapshots() == 0, "pruning twice changes nothing"


def test_pruning_one_source_leaves_the_others(source, settings):
    settings.DAZNODE_GRAPH_SNAPSHOTS_KEEP = 1
    other = Source.objects.create(name="lnd", kind=Source.Kind.LND, url="https://127.0.0.1:8080")
    GraphSnapshot.objects.bulk_create(snapshots_at(source, [3, 2, 1]) + snapshots_at(other, [3, 2]))
    assert prune_graph_snapshots(source_id=source.id) == 2
    assert GraphSnapshot.objects.filter(source=other).count() == 2


def test_old_health_checks_are_pruned_and_recent_ones_kept(source, settings):
    settings.DAZNODE_HEALTH_CHECK_RETENTION = timedelta(days=8)
    now = timezone.now()
    HealthCheck.objects.bulk_create(
        [
            HealthCheck(source=source, ok=True, latency_ms=12.5, checked_at=now - timedelta(days=9)),
            HealthCheck(source=source, ok=False, error="timeout", checked_at=now - timedelta(days=7)),
            HealthCheck(source=source, ok=True, latency_ms=10.0, checked_at=now),
        ]
    )
    assert prune_health_checks() == 1
    assert source.latest_check().checked_at == now
    assert HealthCheck.objects.count() == 2
