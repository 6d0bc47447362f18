"""End to end on the simulated node: graph, analysis, sync, scores, and the read-only API."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import CommandError, call_command
from rest_framework_simplejwt.tokens import AccessToken

from channels.analysis import analyse_snapshot
from channels.models import HEURISTICS, Channel, ChannelScore, GraphAnalysis, NodeMetric
from channels.services import NothingToScore, channels_score
from channels.sync import sync_node
from daznode import celery_app
from daznode.roles import Role, user_set_role
from sources.demo import simulated_node_register
from sources.simulator import start_simulator
from sources.snapshots import refresh_graph
from sources.tasks import after_new_snapshot


@pytest.fixture(scope="module")
def sim():
    with start_simulator(seed=21, node_count=800) as running:
        yield running


@pytest.fixture
def pipeline(sim, db, django_capture_on_commit_callbacks):
    cache.clear()
    simulated_node_register(name="sim", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=None)
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = refresh_graph(force=True).snapshot
    analysis = analyse_snapshot(snapshot)
    sync_node()
    return analysis


@pytest.fixture
def api(client, db):
    user = get_user_model().objects.create_user("viewer")
    user_set_role(user, Role.VIEWER)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {AccessToken.for_user(user)}"
    return client


def test_every_open_channel_gets_a_score_with_its_reasons(pipeline, sim):
    scores = channels_score()
    assert len(scores) == Channel.objects.filter(closed_at__isnull=True).count() > 0
    for score in scores:
        assert all(0.0 <= value <= 1.0 for value in score.sub_scores().values())
        assert set(score.reasons) == set(HEURISTICS)
        assert score.inputs["peer"]["position"] is not None, "every peer of ours is in the graph"
        assert score.snapshot_id == pipeline.snapshot_id
    assert ChannelScore.objects.count() == len(scores)


def test_several_channels_to_one_peer_are_also_scored_together(pipeline):
    scores = channels_score()
    by_peer = {}
    for score in scores:
        by_peer.setdefault(score.channel.peer_id, []).append(score)
    for group in by_peer.values():
        if len(group) > 1:
            assert len({score.peer_total_score for score in group}) == 1
            assert group[0].peer_total_score is not None
        else:
            assert group[0].peer_total_score is None


def test_the_analysis_is_stored_once_per_snapshot(pipeline):
    assert analyse_snapshot(pipeline.snapshot) == pipeline
    assert GraphAnalysis.objects.count() == 1
    assert NodeMetric.objects.filter(analysis=pipeline).count() == pipeline.node_count


def test_the_api_lists_channels_with_their_latest_score_and_history(pipeline, api):
    channels_score()
    second = {score.channel_id: score for score in channels_score()}
    listing = api.get("/api/v1/channels")
    assert listing.status_code == 200
    first = listing.json()["results"][0]
    channel = Channel.objects.get(chan_id=int(first["chan_id"]))
    assert isinstance(first["chan_id"], str)
    assert first["latest_score"]["total_score"] == second[channel.id].total_score
    history = api.get(f"/api/v1/channels/{first['chan_id']}/scores")
    assert history.json()["count"] == 2
    assert api.get("/api/v1/channels/123/scores").status_code == 404
    assert api.get("/api/v1/channels/not-a-number/scores").status_code == 400
    assert api.get("/api/v1/channels/\u00b2/scores").status_code == 400
    assert api.get("/api/v1/channels?include_closed=maybe").status_code == 400


def test_the_api_gives_a_nodes_network_metrics(pipeline, api, sim):
    response = api.get(f"/api/v1/nodes/{sim.node.pubkey}/metrics")
    assert response.status_code == 200
    body = response.json()
    assert body["position"] in ("hub", "well_connected", "edge")
    assert 0.0 <= body["betweenness_percentile"] <= 1.0
    assert api.get("/api/v1/nodes/02" + "00" * 32 + "/metrics").status_code == 404
    assert api.get("/api/v1/nodes/nonsense/metrics").status_code == 400


def test_the_score_command_prints_the_weakest_heuristic_of_each_channel(pipeline):
    out = io.StringIO()
    call_command("score_channels", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("channel")
    assert len(lines) == 1 + Channel.objects.filter(closed_at__isnull=True).count()


@pytest.mark.django_db
def test_with_no_channels_there_is_nothing_to_score():
    with pytest.raises(NothingToScore, match="run sync_channels first"):
        channels_score()
    with pytest.raises(CommandError, match="no open channels"):
        call_command("score_channels")


def test_the_chain_after_a_new_snapshot_analyses_syncs_and_scores(sim, db, django_capture_on_commit_callbacks):
    cache.clear()
    simulated_node_register(name="sim", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=None)
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = refresh_graph(force=True).snapshot
    celery_app.loader.import_default_modules()  # what a worker does at start: autodiscover every app's tasks
    after_new_snapshot(snapshot.id).apply()  # the same chain the refresh task enqueues, run here in order
    assert GraphAnalysis.objects.filter(snapshot=snapshot).exists()
    assert ChannelScore.objects.count() == Channel.objects.filter(closed_at__isnull=True).count() > 0
