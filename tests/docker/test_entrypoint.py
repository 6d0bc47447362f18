"""docker/entrypoint.sh and docker/healthcheck.py, run as the container runs them (SQLite, no Docker)."""

import os
import subprocess
import time

import httpx
import pytest

from daznode.heartbeat import HEARTBEAT_MAX_AGE_SECONDS, heartbeat_path, heartbeat_write
from tests.benchmarks.bench_idle_memory import descendants
from tests.conftest import REPO, child_env, free_port, running, wait_until

ENTRYPOINT = ["sh", "docker/entrypoint.sh"]


def entrypoint(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ENTRYPOINT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
# Two workers: Django preloaded in gunicorn's master, then forked (daznode/gunicorn_conf.py).
@pytest.mark.parametrize("web_workers", ["1", "2"])
def test_it_serves_on_daznode_bind_and_prints_that_address(tmp_path, web_workers):
    port = free_port()
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path), DAZNODE_BIND=f"127.0.0.1:{port}", DAZNODE_WEB_WORKERS=web_workers)
    migrated = entrypoint("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert f"Admin:     http://127.0.0.1:{port}/admin/" in migrated.stdout
    log = tmp_path / "web.log"
    with running([*ENTRYPOINT, "web"], env=env, log=log):

        def answered():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answered, timeout=60, what="gunicorn on DAZNODE_BIND", log=log)
        assert entrypoint("healthcheck", "web", env=env).returncode == 0
    assert entrypoint("healthcheck", "web", env=env).returncode == 1


def test_it_prints_localhost_for_a_wildcard_bind_and_the_public_url_when_set(tmp_path):
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path), DAZNODE_BIND="0.0.0.0:9123")
    assert "Admin:     http://localhost:9123/admin/" in entrypoint("migrate", env=env).stdout
    env["DAZNODE_PUBLIC_URL"] = "https://umbrel.local:8443"
    assert "Admin:     https://umbrel.local:8443/admin/" in entrypoint("migrate", env=env).stdout


def test_it_names_an_unreadable_secret_file_and_how_to_fix_it(tmp_path):
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path), SECRET_KEY_FILE=str(tmp_path / "missing"))
    result = entrypoint("web", env=env)
    assert result.returncode == 78
    assert f"SECRET_KEY_FILE={tmp_path / 'missing'} is not readable by uid {os.getuid()}" in result.stderr
    assert "init_secrets" in result.stderr


def test_its_beat_healthcheck_fails_without_a_recent_heartbeat(tmp_path):
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path))
    assert entrypoint("healthcheck", "beat", env=env).returncode == 1
    path = heartbeat_path(data_dir=tmp_path)
    heartbeat_write(path=path)
    assert entrypoint("healthcheck", "beat", env=env).returncode == 0
    stale = time.time() - HEARTBEAT_MAX_AGE_SECONDS - 5
    os.utime(path, (stale, stale))
    assert entrypoint("healthcheck", "beat", env=env).returncode == 1


def test_its_worker_healthcheck_fails_when_no_worker_answers(tmp_path):
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path))
    result = entrypoint("healthcheck", "worker", env=env, timeout=60)
    assert result.returncode == 1


def gunicorn_setting(name: str, **env: str) -> subprocess.CompletedProcess:
    code = f"import daznode.gunicorn_conf as conf; print(conf.{name})"
    return subprocess.run(
        ["python", "-c", code], cwd=REPO, env=child_env(**env), capture_output=True, text=True, check=False
    )


def test_it_preloads_the_app_only_where_workers_share_it():
    assert gunicorn_setting("preload_app", DAZNODE_WEB_WORKERS="2").stdout.strip() == "True"
    assert gunicorn_setting("preload_app", DAZNODE_WEB_WORKERS="1").stdout.strip() == "False"
    assert gunicorn_setting("preload_app", DAZNODE_WEB_WORKERS="1", DAZNODE_WEB_PRELOAD="yes").stdout == "True\n"
    refused = gunicorn_setting("preload_app", DAZNODE_WEB_PRELOAD="sometimes")
    assert refused.returncode != 0
    assert "DAZNODE_WEB_PRELOAD must be true or false" in refused.stderr


@pytest.mark.slow
def test_it_runs_the_worker_with_beat_embedded_in_two_processes(tmp_path):
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path), DAZNODE_WORKER_POOL="solo", DAZNODE_WORKER_CONCURRENCY="1")
    assert entrypoint("migrate", env=env).returncode == 0
    log = tmp_path / "worker.log"
    with running([*ENTRYPOINT, "worker-with-beat"], env=env, log=log) as worker:
        # The embedded scheduler is Daznode's: it writes the heartbeat, and the worker answers beside it.
        wait_until(
            lambda: entrypoint("healthcheck", "worker-with-beat", env=env, timeout=60).returncode == 0,
            timeout=90,
            what="worker-with-beat healthy",
            log=log,
        )
        # Solo pool: tasks run in the worker's own process, so the tree is that process and beat's, no pool child.
        assert len(descendants(worker.pid)) == 2
    assert entrypoint("healthcheck", "worker-with-beat", env=env, timeout=60).returncode == 1


def test_its_worker_with_beat_healthcheck_fails_on_either_half(tmp_path):
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path))
    # No heartbeat: beat is not ticking, whatever the worker does.
    assert entrypoint("healthcheck", "worker-with-beat", env=env).returncode == 1
    # A fresh heartbeat but no worker answering the ping.
    heartbeat_write(path=heartbeat_path(data_dir=tmp_path))
    assert entrypoint("healthcheck", "worker-with-beat", env=env, timeout=60).returncode == 1
