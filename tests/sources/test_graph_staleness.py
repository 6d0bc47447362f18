"""GET /api/v1/graph says the snapshot is stale as soon as the live source fails, not only after its TTL."""

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from auth_vault import services
from auth_vault.models import Secret
from daznode.roles import Role, user_set_role
from sources.clients.errors import SourceUnavailable
from sources.factory import DataSourceFactory
from sources.health import HealthCheckManager
from sources.interface import Capability, DataSourceInterface
from sources.models import GraphFetchStatus, GraphSnapshot, Source
from sources.simulator import create_simulator, start_simulator
from sources.snapshots import Staleness, refresh_graph, snapshot_staleness
from tests.sources.graphs import star_graph

SEED, NODES = 3, 40


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


@pytest.fixture
def viewer(client, db):
    user = get_user_model().objects.create_user("vera")
    user_set_role(user, Role.VIEWER)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {AccessToken.for_user(user)}"
    return client


def lnd_source(url: str, macaroon: bytes) -> Source:
    credential = services.secret_create(name="umbrel-mac", kind=Secret.Kind.MACAROON, value=macaroon, actor="t")
    return Source.objects.create(name="umbrel", kind=Source.Kind.LND, url=url, credential=credential)


def stale_headers(client) -> tuple[str, str | None, str | None]:
    response = client.get("/api/v1/graph")
    assert response.status_code == 200
    return (
        response["X-Daznode-Snapshot-Stale"],
        response.headers.get("X-Daznode-Snapshot-Stale-Reason"),
        response.headers.get("X-Daznode-Snapshot-Stale-Since"),
    )


def test_it_turns_stale_when_lnd_fails_a_refresh_and_fresh_again_when_it_answers(viewer, settings):
    settings.DAZNODE_SOURCE_BREAKER_THRESHOLD = 100  # this test is about staleness, not the circuit breaker
    simulator = start_simulator(seed=SEED, node_count=NODES)
    port = int(simulator.url.rsplit(":", 1)[1])
    source = lnd_source(simulator.url, simulator.admin_macaroon)
    try:
        assert refresh_graph().fetched
        assert stale_headers(viewer) == ("false", None, None)
    finally:
        simulator.stop()

    before = timezone.now()
    failed = refresh_graph(force=True)
    assert not failed.fetched and "connection refused" in failed.error
    stale, reason, since = stale_headers(viewer)
    assert (stale, reason) == ("true", "fetch-failed"), "the snapshot is within its TTL, but its source is down"
    assert datetime.fromisoformat(since) >= before
    refresh_graph(force=True)
    assert stale_headers(viewer)[2] == since, "since when: the first failure of the run, not the latest"

    again = create_simulator(seed=SEED, node_count=NODES, port=port).start()
    try:
        source.credential = services.secret_rotate(source.credential, value=again.admin_macaroon, actor="t")
        source.save()
        assert refresh_graph(force=True).fetched
        assert stale_headers(viewer) == ("false", None, None)
    finally:
        again.stop()


@pytest.fixture
def graph_path(tmp_path) -> Path:
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(star_graph(3)))
    return path


@pytest.fixture
def file_source(db, graph_path):
    return Source.objects.create(name="graph-file", kind=Source.Kind.FILE, url=str(graph_path))


def test_a_failed_health_check_of_the_snapshot_source_makes_it_stale(viewer, file_source, graph_path):
    # The scheduled refresh does not fetch while the snapshot is within its TTL: the health check, every
    # minute, is what notices the source is gone.
    refresh_graph()
    manager = HealthCheckManager()
    assert manager.check(file_source).ok
    assert stale_headers(viewer)[0] == "false"
    content = graph_path.read_text()
    graph_path.unlink()
    first_failure = manager.check(file_source)
    manager.check(file_source)
    stale, reason, since = stale_headers(viewer)
    assert (stale, reason) == ("true", "source-down")
    assert datetime.fromisoformat(since) == first_failure.checked_at
    graph_path.write_text(content)
    assert manager.check(file_source).ok
    assert stale_headers(viewer) == ("false", None, None)


def test_an_expired_snapshot_is_stale_and_says_so(viewer, file_source):
    snapshot = refresh_graph().snapshot
    expired_at = timezone.now() - timedelta(minutes=1)
    GraphSnapshot.objects.filter(pk=snapshot.pk).update(expires_at=expired_at)
    assert stale_headers(viewer) == ("true", "expired", expired_at.isoformat())


def test_a_failure_older_than_the_snapshot_does_not_make_it_stale(viewer, file_source, graph_path):
    content = graph_path.read_text()
    graph_path.unlink()
    assert refresh_graph().error
    graph_path.write_text(content)
    assert refresh_graph().fetched
    assert stale_headers(viewer) == ("false", None, None)


def test_it_is_fresh_again_once_lnd_answers_its_health_check_without_waiting_for_the_ttl(viewer, settings):
    settings.DAZNODE_SOURCE_BREAKER_THRESHOLD = 100  # this test is about staleness, not the circuit breaker
    simulator = start_simulator(seed=SEED, node_count=NODES)
    port = int(simulator.url.rsplit(":", 1)[1])
    source = lnd_source(simulator.url, simulator.admin_macaroon)
    try:
        assert refresh_graph().fetched
    finally:
        simulator.stop()
    assert not refresh_graph(force=True).fetched  # the operator's "refresh now" during the outage
    assert stale_headers(viewer)[:2] == ("true", "fetch-failed")

    again = create_simulator(seed=SEED, node_count=NODES, port=port).start()
    try:
        source.credential = services.secret_rotate(source.credential, value=again.admin_macaroon, actor="t")
        source.save()
        assert not refresh_graph().fetched, "the scheduled refresh leaves a snapshot within its TTL alone"
        assert HealthCheckManager().check(source).ok
        assert stale_headers(viewer) == ("false", None, None), "the node is healthy: the snapshot is not stale"
    finally:
        again.stop()


def test_a_failed_refresh_of_another_source_does_not_make_the_snapshot_stale(viewer, file_source):
    assert refresh_graph().fetched
    Source.objects.create(name="dead-graph", kind=Source.Kind.PUBLIC_GRAPH, url="http://127.0.0.1:9/graph.json")
    failed = refresh_graph(source_name="dead-graph")
    assert not failed.fetched and failed.error
    assert refresh_graph(force=True, source_name="dead-graph").error
    assert stale_headers(viewer) == ("false", None, None), "the snapshot came from the file, which is fine"
    status = GraphFetchStatus.objects.get(source__name="dead-graph")
    assert status.failing_since is not None and "dead-graph" in status.error


class SlowFailingClient(DataSourceInterface):
    """An attempt that fails after another worker's later attempt has succeeded."""

    name = "graph-file"
    capabilities = frozenset({Capability.GRAPH})

    def ping(self) -> float:
        return 1.0

    def describe_graph(self):
        assert refresh_graph(force=True).fetched  # the other worker, begun later, finishes first
        raise SourceUnavailable("timed out after 30 s", source=self.name)


def test_a_slow_failure_ending_after_a_success_does_not_flag_the_new_snapshot(viewer, file_source):
    factory = DataSourceFactory(connect=lambda source, actor: SlowFailingClient())
    slow = refresh_graph(force=True, factory=factory)
    assert not slow.fetched and "timed out" in slow.error
    newest = GraphSnapshot.objects.order_by("-fetched_at", "-id").first()
    assert snapshot_staleness(newest) == Staleness(False)
    assert stale_headers(viewer) == ("false", None, None)


def test_a_refused_empty_graph_keeps_the_snapshot_and_says_why_it_is_stale(viewer, file_source, graph_path):
    kept = refresh_graph().snapshot
    graph_path.write_text(json.dumps({"nodes": [], "edges": []}))  # an LND still syncing its graph
    refused = refresh_graph(force=True)
    assert not refused.fetched and "no channels" in refused.error
    assert list(GraphSnapshot.objects.values_list("id", flat=True)) == [kept.id]
    response = viewer.get("/api/v1/graph")
    assert (response["X-Daznode-Snapshot-Stale"], response["X-Daznode-Snapshot-Stale-Reason"]) == (
        "true",
        "fetch-failed",
    )
    assert "no channels" in snapshot_staleness(kept).error
