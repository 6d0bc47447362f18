"""A task sent by one process and run by a real worker in another, on each broker Daznode supports."""

import uuid

import pytest

from sources.models import GraphSnapshot, Source
from tests.conftest import child_env, run_manage, running, test_database_url

SEND_AND_WAIT = """
from sources.tasks import prune_graph_snapshots
result = prune_graph_snapshots.apply_async(kwargs={{"source_id": {source_id}}}, queue="{queue}")
print("deleted", result.get(timeout=60))
"""


def seven_snapshots(settings) -> Source:
    settings.DAZNODE_GRAPH_SNAPSHOTS_KEEP = 5  # the worker reads the same default
    source = Source.objects.create(name="graph-file", kind=Source.Kind.FILE, url="/tmp/graph.json")
    for _ in range(7):
        GraphSnapshot.from_graph(source=source, graph={"nodes": [], "edges": []}, ttl=settings.DAZNODE_GRAPH_TTL).save()
    return source


def round_trip(source: Source, env: dict[str, str], tmp_path) -> str:
    """Start a worker on a queue of its own, send the task from a separate process, return what it printed."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    worker = [
        "celery",
        "-A",
        "daznode",
        "worker",
        "--queues",
        queue,
        "--pool",
        "solo",
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "INFO",
    ]
    log = tmp_path / "worker.log"
    with running(worker, env=env, log=log):
        sent = run_manage(
            "shell", "--no-imports", "-c", SEND_AND_WAIT.format(source_id=source.id, queue=queue), env=env, timeout=90
        )
    assert sent.returncode == 0, sent.stderr + log.read_text()[-3000:]
    assert "Task sources.tasks.prune_graph_snapshots" in log.read_text()
    return sent.stdout.strip()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_a_worker_on_the_embedded_broker(settings, tmp_path):
    source = seven_snapshots(settings)
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path), DATABASE_URL=test_database_url(), REDIS_URL=None)
    assert round_trip(source, env, tmp_path) == "deleted 2"
    assert GraphSnapshot.objects.filter(source=source).count() == 5
    assert (tmp_path / "broker" / "results").is_dir()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_a_worker_on_redis(settings, tmp_path, redis_url):
    source = seven_snapshots(settings)
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path), DATABASE_URL=test_database_url(), REDIS_URL=redis_url)
    assert round_trip(source, env, tmp_path) == "deleted 2"
    assert GraphSnapshot.objects.filter(source=source).count() == 5
    assert not any((tmp_path / "broker").glob("**/*.msg")), "the embedded broker must not be used with Redis"
