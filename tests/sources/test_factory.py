"""Unit tests of failover: the clients are stand-ins at the `connect` boundary; everything else is real."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from sources.clients.errors import SourceTimeout, SourceUnavailable
from sources.connect import breaker_for
from sources.factory import AllSourcesFailed, DataSourceFactory
from sources.interface import Capability, DataSourceInterface
from sources.models import HealthCheck, Source


class StandIn(DataSourceInterface):
    capabilities = frozenset({Capability.GRAPH})

    def __init__(self, name: str, behaviour):
        self.name, self.behaviour = name, behaviour

    def ping(self) -> float:
        return 1.0

    def describe_graph(self):
        if isinstance(self.behaviour, Exception):
            raise self.behaviour
        return self.behaviour


@pytest.fixture(autouse=True)
def fresh_circuits():
    cache.clear()


def make(name: str, *, priority: int = 100, kind=Source.Kind.PUBLIC_GRAPH, enabled=True, healthy=None) -> Source:
    source = Source.objects.create(
        name=name, kind=kind, url=f"https://{name}.example/graph.json", priority=priority, enabled=enabled
    )
    if healthy is not None:
        HealthCheck.objects.create(source=source, ok=healthy, checked_at=timezone.now())
    return source


def factory(behaviours: dict, called: list) -> DataSourceFactory:
    def connect(source, *, actor):
        called.append(source.name)
        return StandIn(source.name, behaviours[source.name])

    return DataSourceFactory(connect=connect)


@pytest.mark.django_db
def test_it_asks_sources_by_priority_and_reports_which_answered():
    make("second", priority=20)
    make("first", priority=10)
    called = []
    answer = factory({"first": "graph-1", "second": "graph-2"}, called).call(
        Capability.GRAPH, lambda c: c.describe_graph()
    )
    assert (answer.value, answer.source.name, answer.attempts, called) == ("graph-1", "first", [], ["first"])


@pytest.mark.django_db
def test_it_fails_over_to_the_next_source_and_says_what_failed():
    make("first", priority=10)
    make("second", priority=20)
    called = []
    answer = factory({"first": SourceTimeout("timed out", source="first"), "second": "graph-2"}, called).call(
        Capability.GRAPH, lambda c: c.describe_graph()
    )
    assert answer.source.name == "second"
    assert [(a.source, a.error) for a in answer.attempts] == [("first", "first: timed out")]


@pytest.mark.django_db
def test_healthy_sources_come_before_unknown_and_failing_ones_whatever_their_priority():
    make("down", priority=1, healthy=False)
    make("unknown", priority=2)
    make("up", priority=3, healthy=True)
    assert [s.name for s in DataSourceFactory().candidates(Capability.GRAPH)] == ["up", "unknown", "down"]


@pytest.mark.django_db
def test_only_enabled_sources_that_offer_the_capability_are_candidates():
    make("graph")
    make("off", enabled=False)
    make("wallet", kind=Source.Kind.LNBITS)
    assert [s.name for s in DataSourceFactory().candidates(Capability.GRAPH)] == ["graph"]


@pytest.mark.django_db
def test_a_source_with_an_open_circuit_is_skipped_without_a_call():
    first = make("first", priority=10)
    make("second", priority=20)
    for _ in range(settings.DAZNODE_SOURCE_BREAKER_THRESHOLD):
        breaker_for(first).record_failure()
    called = []
    answer = factory({"first": "graph-1", "second": "graph-2"}, called).call(
        Capability.GRAPH, lambda c: c.describe_graph()
    )
    assert answer.source.name == "second"
    assert called == ["second"]
    assert answer.attempts[0].error == "circuit open: skipped"


@pytest.mark.django_db
def test_when_every_source_fails_the_error_lists_each_attempt():
    make("first", priority=10)
    make("second", priority=20)
    behaviours = {
        "first": SourceUnavailable("refused", source="first"),
        "second": SourceTimeout("timed out", source="second"),
    }
    with pytest.raises(AllSourcesFailed, match="no source could provide graph \\(first: first: refused; second:") as e:
        factory(behaviours, []).call(Capability.GRAPH, lambda c: c.describe_graph())
    assert [a.source for a in e.value.attempts] == ["first", "second"]


@pytest.mark.django_db
def test_with_no_source_configured_the_error_says_so():
    with pytest.raises(AllSourcesFailed, match="no enabled source offers it"):
        DataSourceFactory().call(Capability.GRAPH, lambda c: c.describe_graph())


@pytest.mark.django_db
def test_the_latest_check_decides_health():
    source = make("flappy", priority=1)
    HealthCheck.objects.create(source=source, ok=True, checked_at=timezone.now() - timedelta(minutes=2))
    HealthCheck.objects.create(source=source, ok=False, checked_at=timezone.now())
    make("steady", priority=2, healthy=True)
    assert [s.name for s in DataSourceFactory().candidates(Capability.GRAPH)] == ["steady", "flappy"]
