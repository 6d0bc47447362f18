"""`make test` runs the suite on parallel workers (pytest-xdist); no two workers may share a data folder or a Redis
database, since the tests clear the cache (FLUSHDB) and run Celery queues there."""

import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import worker_environment


def test_it_gives_each_worker_its_own_data_folder_and_redis_database(tmp_path):
    environments = [
        worker_environment(index, data_dir=tmp_path, redis_url="redis://127.0.0.1:6379/0") for index in (0, 1)
    ]
    assert [env["DAZNODE_DATA_DIR"] for env in environments] == [str(tmp_path / "worker0"), str(tmp_path / "worker1")]
    assert [env["REDIS_URL"] for env in environments] == ["redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1"]


def test_it_counts_from_the_configured_database_and_keeps_credentials(tmp_path):
    env = worker_environment(2, data_dir=tmp_path, redis_url="rediss://:pw@cache.example:6380/5")
    assert env["REDIS_URL"] == "rediss://:pw@cache.example:6380/7"
    assert worker_environment(1, data_dir=tmp_path, redis_url="redis://127.0.0.1")["REDIS_URL"] == "redis://127.0.0.1/1"


def test_it_leaves_redis_alone_when_none_is_configured(tmp_path):
    assert worker_environment(0, data_dir=tmp_path, redis_url="") == {"DAZNODE_DATA_DIR": str(tmp_path / "worker0")}


@pytest.mark.parametrize(
    ("redis_url", "message"),
    [
        ("unix:///run/redis.sock?db=0", "need REDIS_URL as redis://host:port/db"),
        ("redis://127.0.0.1:6379/15", "would need Redis database 16"),
    ],
)
def test_it_refuses_a_redis_url_it_cannot_split_between_workers(tmp_path, redis_url, message):
    with pytest.raises(pytest.UsageError, match=message):
        worker_environment(1, data_dir=tmp_path, redis_url=redis_url)


def test_this_worker_runs_in_the_folder_and_database_it_was_given():
    """Under `make test` each worker's settings were loaded from its own environment (xdist's `env:` spec)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        pytest.skip("not running under pytest-xdist (make test runs it)")
    assert Path(os.environ["DAZNODE_DATA_DIR"]).name.startswith("worker")
    assert Path(os.environ["DAZNODE_DATA_DIR"]).resolve() == settings.DATA_DIR
    if os.environ.get("REDIS_URL"):
        assert settings.CACHES["default"]["LOCATION"] == os.environ["REDIS_URL"]
