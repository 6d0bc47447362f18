"""Circuit breakers and rate limits shared across clients, threads and processes, in the store the deployment
has: the database (SQLite or PostgreSQL) or Redis when REDIS_URL is set. Run this file both ways."""

import multiprocessing
import threading
from functools import partial

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from sources.clients.errors import CircuitOpenError, RateLimitedError, SourceUnavailable
from sources.clients.http import CircuitBreaker
from sources.connect import breaker_for, client_for, limiter_for
from sources.health import HealthCheckManager
from sources.models import Source
from sources.shared_state import DatabaseState, RedisState, shared_state
from tests.sources.servers import Reply, scripted_server

RACERS = 8


@pytest.fixture(autouse=True)
def fresh_store():
    cache.clear()  # Redis: the cache and the shared state live in the same database


def public_graph(url: str = "http://127.0.0.1:9/graph.json", name: str = "graph") -> Source:
    return Source.objects.create(name=name, kind=Source.Kind.PUBLIC_GRAPH, url=url)


def test_the_store_is_redis_when_configured_and_the_database_otherwise():
    expected = RedisState if settings.REDIS_URL else DatabaseState
    assert isinstance(shared_state(), expected)


def race(callers: int, action) -> list:
    """Run `action` in `callers` threads released at once; each thread's result or exception."""
    barrier, results = threading.Barrier(callers), [None] * callers

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action()
        except Exception as exc:  # the outcome is what the test compares
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_half_open_lets_exactly_one_of_racing_callers_through():
    source = public_graph()
    now = [1_000_000.0]
    for _ in range(settings.DAZNODE_SOURCE_BREAKER_THRESHOLD):
        breaker_for(source, clock=lambda: now[0]).record_failure()
    now[0] += settings.DAZNODE_SOURCE_BREAKER_COOLDOWN.total_seconds()
    assert breaker_for(source, clock=lambda: now[0]).state() == CircuitBreaker.HALF_OPEN

    results = race(RACERS, lambda: breaker_for(source, clock=lambda: now[0]).before_call(source.name))
    assert sum(result is None for result in results) == 1, results
    assert all(isinstance(result, CircuitOpenError) for result in results if result is not None)
    breaker_for(source, clock=lambda: now[0]).record_success()
    assert race(RACERS, lambda: breaker_for(source).before_call(source.name)) == [None] * RACERS


@pytest.mark.django_db(transaction=True)
def test_racing_takers_share_one_bucket():
    source = public_graph()
    rate = settings.DAZNODE_SOURCE_RATE_PER_MINUTE
    waits = race(RACERS, lambda: [limiter_for(source, clock=lambda: 0.0).wait_time(0.0) for _ in range(rate)])
    granted = sum(wait == 0.0 for per_thread in waits for wait in per_thread)
    assert granted == rate, f"{granted} tokens handed out of a bucket of {rate}"


@pytest.mark.django_db
def test_the_rate_limit_holds_across_separately_built_clients(settings):
    settings.DAZNODE_SOURCE_RATE_PER_MINUTE = 2
    settings.DAZNODE_SOURCE_TIMEOUT = settings.DAZNODE_SOURCE_TIMEOUT / 30  # 1 s: a 30 s wait is refused
    with scripted_server(lambda request: Reply()) as server:
        source = public_graph(f"{server.url}/graph.json")
        for _ in range(2):
            with client_for(source) as client:  # a client per call, as the factory builds them
                client.ping()
        with client_for(source) as client, pytest.raises(RateLimitedError, match="client-side limit of 2/min"):
            client.ping()
    assert len(server.requests) == 2


def _take_tokens(source_id: int, attempts: int, queue) -> None:
    connections.close_all()  # a forked child opens its own connection
    source = Source.objects.get(pk=source_id)
    queue.put(sum(limiter_for(source, clock=lambda: 0.0).wait_time(0.0) == 0.0 for _ in range(attempts)))
    connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_holds_across_processes():
    source = public_graph()
    rate = settings.DAZNODE_SOURCE_RATE_PER_MINUTE
    connections.close_all()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=partial(_take_tokens, source.id, rate, queue)) for _ in range(2)]
    for process in processes:
        process.start()
    granted = [queue.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert sum(granted) == rate, f"two processes were handed {granted} tokens of a bucket of {rate}"


class Clock:
    """A health check every interval; a failing request takes a moment, as a real one does."""

    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.django_db
def test_the_first_health_check_after_a_source_recovers_closes_its_circuit(settings):
    interval_s = settings.CHECK_SOURCES_EVERY.total_seconds()
    clock, up = Clock(), [False]

    def answer(request):
        if up[0]:
            return Reply()
        clock.now += 0.5  # a failing answer is not instant: the circuit opens just after the check started
        return Reply(status=503)

    manager = HealthCheckManager(connect=partial(client_for, clock=clock))
    with scripted_server(answer) as server:
        source = public_graph(f"{server.url}/graph.json")
        checks = []
        while breaker_for(source, clock=clock).state() == CircuitBreaker.CLOSED:
            checks.append(manager.check(source))
            clock.now = 1_000_000.0 + interval_s * len(checks)
        assert not any(check.ok for check in checks)
        up[0] = True  # the source recovers right after the check that opened the circuit
        recovered = manager.check(source)
    assert recovered.ok, f"the first check after recovery was refused: {recovered.error}"
    assert breaker_for(source, clock=clock).state() == CircuitBreaker.CLOSED


@pytest.mark.django_db
def test_an_open_circuit_refuses_the_health_check_until_the_cooldown(settings):
    clock = Clock()
    manager = HealthCheckManager(connect=partial(client_for, clock=clock))
    with scripted_server(lambda request: Reply(status=503)) as server:
        source = public_graph(f"{server.url}/graph.json")
        for _ in range(settings.DAZNODE_SOURCE_BREAKER_THRESHOLD):
            breaker_for(source, clock=clock).record_failure()
        refused = manager.check(source)
        assert "circuit open" in refused.error and not server.requests
        clock.now += settings.DAZNODE_SOURCE_BREAKER_COOLDOWN.total_seconds()
        trial = manager.check(source)
    assert "HTTP 503" in trial.error and len(server.requests) == 1, "one trial, not retried: it failed, so open"
    with pytest.raises(SourceUnavailable):
        breaker_for(source, clock=clock).before_call(source.name)


WRITES = ("UPDATE", "INSERT", "DELETE")
COOLDOWN_S, LEASE_S = 60.0, 30.0


def writes_during(action) -> tuple[object, list[str]]:
    """What `action` returned, and the statements it ran that write (SQLite's file lock, a row lock on PostgreSQL)."""
    with CaptureQueriesContext(connection) as queries:
        result = action()
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)]
    return result, writes


@pytest.mark.django_db
def test_acquiring_a_closed_circuit_writes_nothing():
    store = DatabaseState()  # the store without Redis, whatever this run is configured with

    def acquire(now: float = 1_000_000.0) -> str:
        return store.breaker_acquire("graph", now=now, cooldown_s=COOLDOWN_S, lease_s=LEASE_S)

    assert writes_during(acquire) == (CircuitBreaker.CLOSED, []), "no row yet"
    store.breaker_failure("graph", now=1_000_000.0, threshold=3)  # one failure: still closed
    assert writes_during(acquire) == (CircuitBreaker.CLOSED, []), "a row with failures, not open"
    store.breaker_failure("graph", now=1_000_000.0, threshold=2)
    assert writes_during(lambda: acquire(1_000_010.0)) == (CircuitBreaker.OPEN, []), "open, cooling down"
    state, writes = writes_during(lambda: acquire(1_000_000.0 + COOLDOWN_S))
    assert (state, len(writes)) == (CircuitBreaker.TRIAL, 1), "the trial is claimed by one conditional UPDATE"
    assert writes_during(lambda: acquire(1_000_000.0 + COOLDOWN_S + 1)) == (CircuitBreaker.OPEN, []), "trial running"
    store.breaker_success("graph")
    assert writes_during(acquire) == (CircuitBreaker.CLOSED, [])
