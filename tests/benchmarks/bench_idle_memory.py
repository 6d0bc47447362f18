"""Issue target for a Raspberry-Pi-class Umbrel: the idle stack (web, worker, beat) in <= 350 MB RSS.

Each role is started as its container starts it (`docker/entrypoint.sh <role>`), against SQLite and the embedded
broker in a temporary data directory, left idle, then measured: RSS and PSS summed over each role's process tree
(gunicorn's master and workers, Celery's main process, pool children and embedded beat). RSS counts a page shared
by two processes twice, PSS splits it between them, so PSS shows what preloading and forking save.
Two configurations: `default` (docker/compose.yml's defaults) and `small` (what the Umbrel package runs).
PostgreSQL and Redis are not counted: they are separate containers of their own. --database-url and --redis-url
run the roles against them instead (their clients add a few MB per process, as in the containers); the database
is migrated, so give one of the benchmark's own.

    .venv/bin/python -m tests.benchmarks.bench_idle_memory [--idle-seconds 20] [--config small]
        [--database-url postgresql://...] [--redis-url redis://...]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO, VENV_BIN

TARGET_RSS_MB = 350
KIB_PER_MB = 1024
DEFAULT_IDLE_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 15

# Role -> environment, per configuration. `small` is docker/umbrel/daznode/docker-compose.yml's.
CONFIGURATIONS: dict[str, dict[str, dict[str, str]]] = {
    "default": {
        "web": {"DAZNODE_WEB_WORKERS": "2"},
        "worker": {"DAZNODE_WORKER_CONCURRENCY": "2"},
        "beat": {},
    },
    "small": {
        "web": {"DAZNODE_WEB_WORKERS": "1"},
        "worker-with-beat": {"DAZNODE_WORKER_CONCURRENCY": "1", "DAZNODE_WORKER_POOL": "solo"},
    },
}


@dataclass(frozen=True)
class TreeMemory:
    processes: int
    rss_mb: float
    pss_mb: float


def descendants(pid: int) -> list[int]:
    """pid and every process below it, from /proc's children lists."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(descendants(int(child)))
    return found


def rollup_kib(pid: int, field: str) -> int:
    # smaps_rollup: the process's whole mapping summed by the kernel, with Pss beside Rss.
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise ValueError(f"no {field} in /proc/{pid}/smaps_rollup")


def tree_memory(pid: int) -> TreeMemory:
    pids = descendants(pid)
    rss_kib = sum(rollup_kib(one, "Rss") for one in pids)
    pss_kib = sum(rollup_kib(one, "Pss") for one in pids)
    return TreeMemory(processes=len(pids), rss_mb=rss_kib / KIB_PER_MB, pss_mb=pss_kib / KIB_PER_MB)


def base_environment(data_dir: Path, *, services: dict[str, str]) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DAZNODE_") and key not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        DAZNODE_DATA_DIR=str(data_dir),
        DAZNODE_LOG_LEVEL="WARNING",
        # A port of its own, never one a developer's `make run` holds.
        DAZNODE_BIND="127.0.0.1:0",
    )
    env.update(services)
    return env


def start_role(role: str, *, env: dict[str, str], log: Path) -> subprocess.Popen:
    out = log.open("w")
    return subprocess.Popen(
        ["sh", "docker/entrypoint.sh", role], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
    )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure_configuration(name: str, *, idle_seconds: float, services: dict[str, str]) -> dict[str, TreeMemory]:
    with tempfile.TemporaryDirectory(prefix="daznode-idle-") as tmp, ExitStack() as stack:
        data_dir = Path(tmp)
        env = base_environment(data_dir, services=services)
        subprocess.run(["sh", "docker/entrypoint.sh", "migrate"], cwd=REPO, env=env, check=True, capture_output=True)
        processes = {}
        for role, overrides in CONFIGURATIONS[name].items():
            process = start_role(role, env={**env, **overrides}, log=data_dir / f"{role}.log")
            stack.callback(stop, process)
            processes[role] = process
        time.sleep(idle_seconds)
        for role, process in processes.items():
            if process.poll() is not None:
                log = (data_dir / f"{role}.log").read_text()[-3000:]
                raise RuntimeError(f"{role} exited with {process.returncode}:\n{log}")
        return {role: tree_memory(process.pid) for role, process in processes.items()}


def print_table(name: str, memory: dict[str, TreeMemory]) -> float:
    print(f"\n{name}:")
    print(f"  {'role':<18}{'processes':>10}{'RSS MB':>10}{'PSS MB':>10}")
    for role, tree in memory.items():
        print(f"  {role:<18}{tree.processes:>10}{tree.rss_mb:>10.0f}{tree.pss_mb:>10.0f}")
    rss_mb = sum(tree.rss_mb for tree in memory.values())
    pss_mb = sum(tree.pss_mb for tree in memory.values())
    processes = sum(tree.processes for tree in memory.values())
    print(f"  {'total':<18}{processes:>10}{rss_mb:>10.0f}{pss_mb:>10.0f}")
    return rss_mb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=DEFAULT_IDLE_SECONDS)
    parser.add_argument("--config", choices=[*CONFIGURATIONS, "all"], default="all")
    parser.add_argument("--database-url", help="PostgreSQL instead of SQLite (migrated: use a database of its own)")
    parser.add_argument("--redis-url", help="Redis instead of the embedded broker")
    arguments = parser.parse_args()
    services = {"DATABASE_URL": arguments.database_url, "REDIS_URL": arguments.redis_url}
    services = {key: value for key, value in services.items() if value}
    names = list(CONFIGURATIONS) if arguments.config == "all" else [arguments.config]
    within_target = True
    for name in names:
        rss_mb = print_table(name, measure_configuration(name, idle_seconds=arguments.idle_seconds, services=services))
        if name == "small":
            within_target = rss_mb <= TARGET_RSS_MB
            verdict = "within" if within_target else "OVER"
            print(f"  small stack {rss_mb:.0f} MB RSS: {verdict} the {TARGET_RSS_MB} MB target")
    return 0 if within_target else 1


if __name__ == "__main__":
    sys.exit(main())
