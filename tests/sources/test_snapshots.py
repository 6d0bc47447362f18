import gzip
import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from sources.models import GraphSnapshot, Source
from sources.snapshots import L1_KEY, NoGraphAvailable, current_graph, latest_graph, refresh_graph
from tests.sources.graphs import broken, star_graph


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


@pytest.fixture
def graph_file(tmp_path):
    path = tmp_path / "graph.json.gz"
    path.write_bytes(gzip.compress(json.dumps(star_graph(3)).encode()))
    return path


@pytest.fixture
def source(db, graph_file):
    return Source.objects.create(name="graph-file", kind=Source.Kind.FILE, url=str(graph_file))


def test_a_refresh_stores_a_snapshot_and_fills_level_1(source, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = refresh_graph()
    assert result.fetched and result.source_name == "graph-file"
    snapshot = GraphSnapshot.objects.get()
    assert (snapshot.node_count, snapshot.edge_count) == (4, 3)
    assert snapshot.graph() == star_graph(3)
    assert cache.get(L1_KEY)["snapshot_id"] == snapshot.id
    view = latest_graph()
    assert (view.level, view.snapshot_id, view.graph.edge_count) == ("l1", snapshot.id, 3)
    assert not view.is_stale()


def test_level_2_serves_after_a_restart_and_refills_level_1(source, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        refresh_graph()
    cache.clear()  # a restart with an empty cache
    view = latest_graph()
    assert view.level == "l2"
    assert view.graph.pubkeys[0] == star_graph(3)["nodes"][0]["pub_key"]
    assert latest_graph().level == "l1"


def test_a_fresh_snapshot_is_not_fetched_again_unless_forced(source):
    first = refresh_graph()
    again = refresh_graph()
    assert not again.fetched and again.snapshot.id == first.snapshot.id
    assert refresh_graph(force=True).fetched
    assert GraphSnapshot.objects.count() == 2


def test_a_malformed_fetch_leaves_the_previous_snapshot_intact(source, graph_file):
    good = refresh_graph().snapshot
    graph_file.write_bytes(json.dumps(broken(star_graph(3), "edges.1.capacity", "many")).encode())
    result = refresh_graph(force=True)
    assert not result.fetched
    assert "field edges[1].capacity" in result.error
    assert list(GraphSnapshot.objects.values_list("id", flat=True)) == [good.id]
    assert GraphSnapshot.objects.get().graph() == star_graph(3)


def test_when_every_source_fails_the_latest_snapshot_is_used_flagged_stale(source, graph_file):
    old = refresh_graph().snapshot
    GraphSnapshot.objects.filter(pk=old.pk).update(
        fetched_at=timezone.now() - timedelta(hours=13), expires_at=timezone.now() - timedelta(hours=1)
    )
    graph_file.unlink()
    view = current_graph()
    assert view.snapshot_id == old.id
    assert view.is_stale()
    assert timedelta(hours=13) <= view.age() < timedelta(hours=13, minutes=1)


def test_with_no_snapshot_and_no_source_there_is_a_clear_error(db):
    with pytest.raises(NoGraphAvailable, match="no graph snapshot exists and no source answered"):
        current_graph()
    with pytest.raises(NoGraphAvailable, match="run refresh_graph"):
        latest_graph()


def test_only_the_last_n_snapshots_are_kept(source, settings):
    settings.DAZNODE_GRAPH_SNAPSHOTS_KEEP = 2
    ids = [refresh_graph(force=True).snapshot.id for _ in range(4)]
    assert sorted(GraphSnapshot.objects.values_list("id", flat=True)) == ids[-2:]


def test_refresh_graph_command(source, capsys):
    call_command("refresh_graph", "--source", "graph-file")
    assert "Fetched from graph-file: snapshot" in capsys.readouterr().out
    call_command("refresh_graph")
    assert "Still fresh, not fetched" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no source named 'nope' \\(sources: graph-file\\)"):
        call_command("refresh_graph", "--source", "nope")


def test_refresh_graph_command_fails_cleanly_and_keeps_the_snapshot(source, graph_file):
    refresh_graph()
    graph_file.write_bytes(b"<html>gateway error</html>")
    with pytest.raises(CommandError, match=r"refresh failed \(kept snapshot .*\): no source could provide graph"):
        call_command("refresh_graph", "--force")
    assert GraphSnapshot.objects.count() == 1


def test_the_refresh_task_reports_what_it_did(source):
    from sources.tasks import refresh_graph as task

    assert task(source_id=source.id, force=True)["fetched"] is True
    assert task(source_id=999)["error"] == "source 999 does not exist"
