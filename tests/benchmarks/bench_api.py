"""Issue targets for the REST API under load: GET /api/v1/channels (500 channels, a page of 100 with their latest
scores) and GET /api/v1/decisions (a page of 100) from 50 concurrent connections: >= 300 requests/s, and p95 <= 50
ms at that rate, on the 2-core machine, the same with 1 day as with 90 days of hourly scores (12,000 and 1.08
million scores, 2,000 and 180,000 decisions).

A real server and a real load generator: gunicorn as Daznode runs it (docker/Procfile, daznode/gunicorn_conf.py:
2 workers, threaded) on a database of the benchmark's own, and wrk (Debian's package: `apt-get install wrk`; an
asyncio httpx client when wrk is not installed) with 2 threads and 50 connections for 15 s, as the issue measured.
The client logs in once per run (POST /api/v1/auth/token) and sends `Authorization: Bearer`. The server runs with
DAZNODE_RATELIMIT_ENABLE=false: the per-user read limit (DAZNODE_RATE_READ) would refuse a load test with 429s.
Every answer must be a 200. The load generator runs on the same 2 cores as gunicorn and PostgreSQL.

Three runs of each list. As fast as it answers: the capacity, against the rate target; its latencies are a
queue's (50 connections always waiting: by Little's law each waits 50 / rate on average, 50 ms only at 1,000
req/s), shown without a target. Paced at ~300 req/s (each connection waits between an answer and its next
request): the latency at the target's rate, against the p95 target. Nothing cached (every URL new): what an answer
costs the first time after a commit, since the lists keep their answers while the database is unchanged
(daznode.api_cache.KeptWhileUnchangedListAPIView); no target.
Uses DATABASE_URL and REDIS_URL when set (the targets are for PostgreSQL), otherwise SQLite and the file cache.

    .venv/bin/python -m tests.benchmarks.bench_api
"""

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from tests.benchmarks.bench_graph_cache import migrated_environment
from tests.benchmarks.measure import REPO, measure
from tests.conftest import free_port

CHANNELS = 500
HISTORIES_DAYS = (1, 90)
ENDPOINTS = {"channel list": "/api/v1/channels", "decisions list": "/api/v1/decisions"}
PAGE_ROWS = 100  # the API's page size (REST_FRAMEWORK["PAGE_SIZE"])
CONNECTIONS = 50
THREADS = 2
DURATION_S = 15
WARMUP_S = 3
P95_TARGET_S = 0.050
RATE_TARGET = 300  # requests per second
USERNAME, PASSWORD = "bench-viewer", "bench-viewer-password-1"

BUILD = """
from django.contrib.auth import get_user_model
from django.db import connection
from daznode.roles import Role, user_set_role
from tests.dashboard.history import history_build
with timed("build"):
    built = history_build(channels={channels}, days={days})
if connection.vendor == "postgresql":
    # What autovacuum does within minutes of a bulk load on a real node: statistics for the planner, and the
    # visibility map that lets a count read an index alone.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
user_set_role(get_user_model().objects.create_user({username!r}, password={password!r}), Role.VIEWER)
print("BUILT", built.channels, "channels", built.scores, "scores", built.decisions, "decisions")
"""

# wrk's report as JSON, with the percentiles the issue asks for and the answers that were not 200.
WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format(
    'WRK-RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "non_2xx": %d, '
    .. '"socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout))
end
"""
# Each connection waits a random 0 to 2 x PACE_MS between an answer and its next request: CONNECTIONS / PACE_MS
# requests arrive per millisecond on average, whatever the server does (less the time of the answers themselves).
WRK_PACED = """
function delay() return math.random(0, 2 * {pace_ms}) end
"""
# Every request a URL never asked before (a parameter the API ignores): no answer is served from those kept.
WRK_FRESH = """
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) n = 0 end
function request() n = n + 1; return wrk.format(nil, wrk.path .. "?_=" .. tid .. "-" .. n) end
"""


ANSWER_ALLOWANCE_MS = 6  # a connection's next request leaves after the answer: its time, taken off the wait


@dataclass(frozen=True)
class Mode:
    label: str
    pace_ms: int | None = None  # each connection's average wait between an answer and its next request
    fresh_urls: bool = False


SATURATED = Mode("as fast as it answers")
PACED = Mode(f"paced at ~{RATE_TARGET} req/s", pace_ms=CONNECTIONS * 1000 // RATE_TARGET - ANSWER_ALLOWANCE_MS)
UNCACHED = Mode("as fast as it answers, nothing cached", fresh_urls=True)
MODES = (SATURATED, PACED, UNCACHED)


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    p50_s: float
    p95_s: float
    p99_s: float
    failed: int  # answers other than 200, and socket errors

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


@contextmanager
def gunicorn(env: dict[str, str], data_dir: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """Daznode's web server as docker/Procfile starts it, on a free loopback port, without rate limits."""
    port = free_port()
    server_env = {**env, "DAZNODE_BIND": f"127.0.0.1:{port}", "DAZNODE_RATELIMIT_ENABLE": "false"}
    errors = data_dir / "gunicorn.log"
    with errors.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "daznode.wsgi", "-c", "python:daznode.gunicorn_conf"],
            cwd=REPO,
            env=server_env,
            stdout=subprocess.DEVNULL,  # the access log: a line per request
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, errors)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a worker still in a long request past gunicorn's graceful timeout
            process.kill()
            process.wait()


def wait_until_healthy(url: str, process: subprocess.Popen, errors: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}:\n{errors.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def access_token(url: str) -> str:
    response = httpx.post(f"{url}/api/v1/auth/token", json={"username": USERNAME, "password": PASSWORD}, timeout=30)
    response.raise_for_status()
    return response.json()["access"]


def peak_rss_mb(server: subprocess.Popen) -> float:
    """The peak resident memory (VmHWM) of gunicorn's master and its workers, added up."""
    pids = [server.pid, *children(server.pid)]
    total_kb = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def wrk_load(url: str, token: str, seconds: int, mode: Mode) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_REPORT)
        if mode.pace_ms:
            script.write(WRK_PACED.format(pace_ms=mode.pace_ms))
        if mode.fresh_urls:
            script.write(WRK_FRESH)
        script.flush()
        command = [
            "wrk",
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK-RESULT "))
    result = json.loads(line.removeprefix("WRK-RESULT "))
    return Load(
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        p50_s=result["p50_us"] / 1e6,
        p95_s=result["p95_us"] / 1e6,
        p99_s=result["p99_us"] / 1e6,
        failed=result["non_2xx"] + result["socket_errors"],
    )


def httpx_load(url: str, token: str, seconds: int, mode: Mode) -> Load:
    """The same load from asyncio and httpx, for a machine without wrk (it takes more of the CPU than wrk)."""
    return asyncio.run(_httpx_load(url, token, seconds, mode))


async def _httpx_load(url: str, token: str, seconds: int, mode: Mode) -> Load:
    latencies: list[float] = []
    failed = 0
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=10) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def connection(number: int) -> None:
            nonlocal failed
            sent_count = 0
            while time.perf_counter() < deadline:
                if mode.pace_ms:
                    await asyncio.sleep(random.uniform(0, 2 * mode.pace_ms) / 1000)
                sent_count += 1
                sent = time.perf_counter()
                try:
                    response = await client.get(f"{url}?_={number}-{sent_count}" if mode.fresh_urls else url)
                    failed += response.status_code != 200
                except httpx.HTTPError:
                    failed += 1
                latencies.append(time.perf_counter() - sent)

        await asyncio.gather(*(connection(number) for number in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(share: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * share))]

    return Load(len(latencies), elapsed, percentile(0.50), percentile(0.95), percentile(0.99), failed)


def load(url: str, token: str, seconds: int, mode: Mode = SATURATED) -> Load:
    return (wrk_load if shutil.which("wrk") else httpx_load)(url, token, seconds, mode)


def check_answer(url: str, token: str) -> None:
    """One request by hand before the load: a 200 with a full page, so that the load measures real answers."""
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if response.status_code != 200 or len(response.json()["results"]) != PAGE_ROWS:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")


def report(label: str, mode: Mode, result: Load, rss_mb: float) -> bool:
    """One line per run; the target that run checks: the rate when saturated, p95 when paced, none uncached."""
    if mode is SATURATED:
        ok, target = result.rate >= RATE_TARGET, f"target >= {RATE_TARGET} req/s"
    elif mode is PACED:
        ok, target = result.p95_s <= P95_TARGET_S, f"target p95 <= {P95_TARGET_S * 1000:g} ms"
    else:
        ok, target = True, "no target"
    ok &= result.failed == 0
    failures = f", {result.failed} not 200" if result.failed else ""
    verdict = "" if mode is UNCACHED and not result.failed else ("  OK" if ok else "  OVER TARGET")
    print(
        f"  {label + ', ' + mode.label:<62} p50 {result.p50_s * 1000:6.1f} ms  p95 {result.p95_s * 1000:6.1f} ms  "
        f"p99 {result.p99_s * 1000:6.1f} ms  {result.rate:5.0f} req/s  peak RSS {rss_mb:4.0f} MB{failures}  "
        f"({target}){verdict}"
    )
    return ok


def run_history(days: int) -> bool:
    ok = True
    with migrated_environment() as (env, data_dir):
        built = measure(BUILD.format(channels=CHANNELS, days=days, username=USERNAME, password=PASSWORD), env=env)
        print(f"{days} day(s) of hourly scores, built in {built.seconds['build']:.0f} s (not a target):")
        with gunicorn(env, data_dir) as (url, server):
            for label, path in ENDPOINTS.items():
                token = access_token(url)
                check_answer(url + path, token)
                load(url + path, token, WARMUP_S)
                for mode in MODES:
                    result = load(url + path, token, DURATION_S, mode)
                    ok &= report(label, mode, result, peak_rss_mb(server))
        clear_cache(env)
    return ok


def clear_cache(env: dict[str, str]) -> None:
    """Leave nothing behind in Redis: the keys under the benchmark's own prefix."""
    if not env.get("REDIS_URL"):
        return
    client = redis.Redis.from_url(env["REDIS_URL"])
    for key in client.scan_iter(match=f"{env['DAZNODE_CACHE_PREFIX']}:*", count=1000):
        client.delete(key)


def main() -> int:
    backend = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    cache_name = "Redis" if os.environ.get("REDIS_URL") else "file cache"
    generator = "wrk" if shutil.which("wrk") else "httpx (wrk is not installed)"
    print(
        f"API under load, {CHANNELS} channels, {backend} + {cache_name}, gunicorn (daznode/gunicorn_conf.py), "
        f"{generator}: {THREADS} threads, {CONNECTIONS} connections, {DURATION_S} s, rate limits off"
    )
    results = [run_history(days) for days in HISTORIES_DAYS]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
