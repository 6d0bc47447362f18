"""Issue targets for the graph cache, on the real mainnet graph served by the simulator over loopback:

- fetch + parse + persist a snapshot: <= 5 s wall, <= 250 MB peak RSS (2-core machine);
- load the latest snapshot from level 2 (database): <= 1 s; from level 1 (cache): <= 0.2 s.

The simulator runs in its own process, so the figures are the client's alone. Uses DATABASE_URL and REDIS_URL
when set (as in production), otherwise SQLite and the file cache in a temporary data directory.
"""

import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

from tests.benchmarks.measure import MAINNET_GRAPH, REPO, measure, report, require_shared
from tests.conftest import free_port

REFRESH = """
from auth_vault.services import secret_create
from sources.models import Source
from sources.snapshots import refresh_graph
macaroon = secret_create(name="bench-macaroon", kind="macaroon", value=open({macaroon!r}, "rb").read(), actor="bench")
Source.objects.create(name="bench-lnd", kind="lnd", url={url!r}, credential=macaroon)
with timed("refresh"):
    result = refresh_graph(force=True)
assert result.fetched, result.error
print("snapshot", result.snapshot.node_count, "nodes", result.snapshot.edge_count, "channels")
"""
LOAD = """
from django.core.cache import cache
from sources.snapshots import L1_KEY, latest_graph
if {clear_l1}:
    cache.delete(L1_KEY)
with timed("load"):
    view = latest_graph()
assert view.level == {level!r}, view.level
assert view.graph.edge_count > 50000
"""


def start_simulator(
    env: dict[str, str], data_dir: Path, *, extra_args: list[str] | None = None
) -> tuple[subprocess.Popen, str, Path]:
    port, macaroon = free_port(), data_dir / "admin.macaroon"
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "simulate_lnd",
            "--graph",
            str(MAINNET_GRAPH),
            "--port",
            str(port),
            "--macaroon-out",
            str(macaroon),
            *(extra_args or []),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if macaroon.exists():
            try:
                httpx.get(
                    f"{url}/v1/getinfo", headers={"Grpc-Metadata-macaroon": macaroon.read_bytes().hex()}, timeout=5
                ).raise_for_status()
                return process, url, macaroon
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError("the simulator did not start within 120 s")


@contextmanager
def own_database() -> Iterator[dict[str, str]]:
    """A database and cache prefix of the benchmark's own: it never writes into the operator's data."""
    tag = f"daznode_bench_{secrets.token_hex(4)}"
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        yield {"DAZNODE_CACHE_PREFIX": tag}
        return
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{tag}"')
    try:
        yield {"DATABASE_URL": urlunsplit(urlsplit(url)._replace(path=f"/{tag}")), "DAZNODE_CACHE_PREFIX": tag}
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{tag}" WITH (FORCE)')


@contextmanager
def migrated_environment() -> Iterator[tuple[dict[str, str], Path]]:
    """A temporary data directory and a database of the benchmark's own, migrated: (environment, data dir)."""
    with tempfile.TemporaryDirectory(prefix="daznode-bench-") as tmp, own_database() as isolation:
        data_dir = Path(tmp)
        env = {
            **os.environ,
            "DAZNODE_DATA_DIR": str(data_dir),
            "DAZNODE_LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "daznode.settings",
            **isolation,
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        yield env, data_dir


def main() -> int:
    require_shared()
    with migrated_environment() as (env, data_dir):
        simulator, url, macaroon = start_simulator(env, data_dir)
        try:
            refresh = measure(REFRESH.format(macaroon=str(macaroon), url=url), env=env)
        finally:
            simulator.terminate()
            simulator.wait()
        level2 = measure(LOAD.format(clear_l1=True, level="l2"), env=env)
        level1 = measure(LOAD.format(clear_l1=False, level="l1"), env=env)
    backend = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    cache_name = "Redis" if os.environ.get("REDIS_URL") else "file cache"
    print(f"Graph cache on mainnet (17,324 nodes, 50,808 channels), {backend} + {cache_name}:")
    results = [
        report(
            "fetch + parse + persist a snapshot (simulator over HTTP)",
            refresh.seconds["refresh"],
            refresh.peak_rss_mb,
            target_s=5,
            target_mb=250,
        ),
        report(
            "load the latest snapshot from level 2 (database)",
            level2.seconds["load"],
            level2.peak_rss_mb,
            target_s=1,
            target_mb=None,
        ),
        report(
            "load the latest snapshot from level 1 (cache)",
            level1.seconds["load"],
            level1.peak_rss_mb,
            target_s=0.2,
            target_mb=None,
        ),
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
