import gzip
import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from sources.graph import SKIP_EDGE_CAPACITY
from sources.models import GraphFetchStatus, GraphSnapshot, Source
from sources.snapshots import L1_KEY, NoGraphAvailable, latest_graph, refresh_graph
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
    graph_file.write_bytes(json.dumps(broken(star_graph(3), "edges", {"0": "not a list"})).encode())
    result = refresh_graph(force=True)
    assert not result.fetched
    assert "field edges" in result.error
    assert list(GraphSnapshot.objects.values_list("id", flat=True)) == [good.id]
    assert GraphSnapshot.objects.get().graph() == star_graph(3)


def test_when_every_source_fails_the_latest_snapshot_is_used_flagged_stale(source, graph_file):
    old = refresh_graph().snapshot
    GraphSnapshot.objects.filter(pk=old.pk).update(
        fetched_at=timezone.now() - timedelta(hours=13), expires_at=timezone.now() - timedelta(hours=1)
    )
    graph_file.unlink()
    assert refresh_graph().error, "no source answered"
    view = latest_graph()
    assert view.snapshot_id == old.id
    assert view.is_stale()
    assert timedelta(hours=13) <= view.age() < timedelta(hours=13, minutes=1)


def test_with_no_snapshot_and_no_source_there_is_a_clear_error(db):
    assert refresh_graph().snapshot is None
    with pytest.raises(NoGraphAvailable, match="run refresh_graph"):
        latest_graph()


def test_only_the_last_n_snapshots_are_kept(source, settings):
    settings.DAZNODE_GRAPH_SNAPSHOTS_KEEP = 2
    ids = [refresh_graph(force=True).snapshot.id for _ in range(4)]
    assert sorted(GraphSnapshot.objects.values_list("id", flat=True)) == ids[-2:]


def test_it_never_prunes_the_newest_analysed_snapshot(source, settings):
    older_analysed = refresh_graph(force=True).snapshot
    analysed = refresh_graph(force=True).snapshot
    GraphSnapshot.objects.filter(id__in=[older_analysed.id, analysed.id]).update(analysed_at=timezone.now())
    settings.DAZNODE_GRAPH_SNAPSHOTS_KEEP = 1
    ids = [refresh_graph(force=True).snapshot.id for _ in range(2)]
    assert sorted(GraphSnapshot.objects.values_list("id", flat=True)) == [analysed.id, ids[-1]], (
        "scoring reads the newest analysed snapshot: it stays until a newer one is analysed"
    )


def test_it_never_prunes_a_snapshot_an_analysis_holds_and_releases_it_after(source, settings):
    settings.DAZNODE_GRAPH_SNAPSHOTS_KEEP = 1
    held = refresh_graph(force=True).snapshot
    hold_id = GraphSnapshot.objects.claim(held.id, until=timezone.now() + timedelta(minutes=5))
    assert hold_id is not None
    newest = refresh_graph(force=True).snapshot
    assert set(GraphSnapshot.objects.values_list("id", flat=True)) == {held.id, newest.id}
    GraphSnapshot.objects.release(hold_id)
    GraphSnapshot.objects.prune(keep=1)
    assert list(GraphSnapshot.objects.values_list("id", flat=True)) == [newest.id]
    assert GraphSnapshot.objects.claim(held.id, until=timezone.now()) is None, "a pruned snapshot cannot be claimed"


def test_one_holder_releasing_keeps_the_other_holders_hold(source, settings):
    settings.DAZNODE_GRAPH_SNAPSHOTS_KEEP = 1
    held = refresh_graph(force=True).snapshot
    until = timezone.now() + timedelta(minutes=5)
    first, second = (GraphSnapshot.objects.claim(held.id, until=until) for _ in range(2))  # two analyses at once
    newest = refresh_graph(force=True).snapshot
    GraphSnapshot.objects.release(first)
    GraphSnapshot.objects.prune(keep=1)
    assert set(GraphSnapshot.objects.values_list("id", flat=True)) == {held.id, newest.id}, (
        "the second analysis is still reading it"
    )
    GraphSnapshot.objects.release(second)
    GraphSnapshot.objects.prune(keep=1)
    assert list(GraphSnapshot.objects.values_list("id", flat=True)) == [newest.id]


def test_a_later_hold_that_ends_first_does_not_shorten_a_longer_one(source):
    held = refresh_graph(force=True).snapshot
    now = timezone.now()
    long_hold = GraphSnapshot.objects.claim(held.id, until=now + timedelta(hours=1))
    short_hold = GraphSnapshot.objects.claim(held.id, until=now + timedelta(minutes=1))
    newest = refresh_graph(force=True).snapshot
    GraphSnapshot.objects.prune(keep=1, now=now + timedelta(minutes=30))
    assert set(GraphSnapshot.objects.values_list("id", flat=True)) == {held.id, newest.id}
    assert list(held.holds.values_list("id", flat=True)) == [long_hold], "the expired hold is cleared on the way"
    assert short_hold != long_hold


def test_an_expired_hold_protects_nothing(source):
    stale = refresh_graph(force=True).snapshot
    assert GraphSnapshot.objects.claim(stale.id, until=timezone.now() - timedelta(seconds=1))  # its process died
    newest = refresh_graph(force=True).snapshot
    GraphSnapshot.objects.prune(keep=1)
    assert list(GraphSnapshot.objects.values_list("id", flat=True)) == [newest.id]


def test_it_records_what_a_document_left_out_on_the_snapshot_the_report_and_the_log(source, graph_file, caplog, capsys):
    from sources.tasks import refresh_graph as task

    graph_file.write_bytes(json.dumps(broken(star_graph(3), "edges.1.capacity", "many")).encode())
    report = task(force=True)
    assert report["fetched"] is True
    assert report["skipped"] == {SKIP_EDGE_CAPACITY: 1}
    snapshot = GraphSnapshot.objects.get(pk=report["snapshot_id"])
    assert (snapshot.edge_count, snapshot.skipped) == (2, {SKIP_EDGE_CAPACITY: 1})
    assert snapshot.skipped_examples == [f"edges[1]: {SKIP_EDGE_CAPACITY}"]
    assert f"{SKIP_EDGE_CAPACITY}: 1" in caplog.text
    call_command("refresh_graph", "--force")
    assert f"left out: {SKIP_EDGE_CAPACITY} (1)" in capsys.readouterr().out


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


def write_graph(path, graph: dict) -> None:
    path.write_bytes(gzip.compress(json.dumps(graph).encode()))


def test_it_never_stores_a_graph_with_no_channels_even_forced(source, graph_file):
    write_graph(graph_file, {"nodes": [], "edges": []})  # an LND still syncing its graph
    first = refresh_graph()
    assert (first.fetched, first.snapshot) == (False, None)
    assert "no channels" in first.error
    write_graph(graph_file, star_graph(3))
    kept = refresh_graph().snapshot
    write_graph(graph_file, {"nodes": star_graph(3)["nodes"], "edges": []})
    refused = refresh_graph(force=True)
    assert not refused.fetched and "no channels" in refused.error
    assert list(GraphSnapshot.objects.values_list("id", flat=True)) == [kept.id]
    status = GraphFetchStatus.objects.get(source=source)
    assert status.failing_since is not None and "no channels" in status.error


def test_it_refuses_a_graph_that_lost_most_of_its_channels_unless_forced(source, graph_file):
    kept = refresh_graph().snapshot
    write_graph(graph_file, star_graph(10))
    previous = refresh_graph(force=True).snapshot
    write_graph(graph_file, star_graph(4))  # under half of the previous snapshot's 10 channels
    refused = refresh_graph(source_name=source.name)
    assert not refused.fetched
    assert "4 channels where this source's previous snapshot had 10" in refused.error
    assert set(GraphSnapshot.objects.values_list("id", flat=True)) == {kept.id, previous.id}
    assert GraphFetchStatus.objects.get(source=source).failing_since is not None
    accepted = refresh_graph(force=True)
    assert accepted.fetched and accepted.snapshot.edge_count == 4, "forced: the operator knows the graph shrank"
    assert GraphFetchStatus.objects.get(source=source).failing_since is None


def test_a_graph_that_keeps_half_its_channels_is_accepted(source, graph_file):
    write_graph(graph_file, star_graph(10))
    refresh_graph()
    write_graph(graph_file, star_graph(5))
    assert refresh_graph(source_name=source.name).fetched


def test_an_empty_graph_from_one_source_fails_over_to_the_next(source, graph_file, tmp_path):
    empty = tmp_path / "empty.json"
    write_graph(empty, {"nodes": [], "edges": []})
    Source.objects.create(name="syncing-lnd-export", kind=Source.Kind.FILE, url=str(empty), priority=1)
    result = refresh_graph()
    assert result.fetched and result.source_name == "graph-file"
    assert "no channels" in result.attempts[0].error
    assert GraphFetchStatus.objects.get(source__name="syncing-lnd-export").failing_since is not None
