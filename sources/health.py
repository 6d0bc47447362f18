"""Health checks of every enabled source, and the figures the health endpoint reports."""

import logging
import statistics
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from daznode.actors import system_actor
from sources.clients.errors import SourceError
from sources.clients.http import CircuitBreaker
from sources.connect import breaker_for, client_for, kind_capabilities
from sources.interface import Capability, DataSourceInterface
from sources.models import HealthCheck, Source

logger = logging.getLogger(__name__)
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
ERROR_CHARS = 500


class HealthCheckManager:
    """Pings each enabled source and stores the result; a failing source is recorded, never fatal."""

    def __init__(
        self,
        *,
        connect: Callable[..., DataSourceInterface] = client_for,
        breaker: Callable[[Source], CircuitBreaker] = breaker_for,
    ):
        self.connect, self.breaker = connect, breaker

    def check(self, source: Source) -> HealthCheck:
        try:
            with self.connect(source, actor=system_actor("health-check")) as client:
                latency_ms = client.ping()
        except SourceError as exc:
            logger.warning("health: %s is down: %s", source.name, exc)
            return HealthCheck.objects.create(source=source, ok=False, error=str(exc)[:ERROR_CHARS])
        return HealthCheck.objects.create(source=source, ok=True, latency_ms=latency_ms)

    def check_all(self) -> list[HealthCheck]:
        sources = Source.objects.filter(enabled=True).select_related("credential", "tls_certificate")
        return [self.check(source) for source in sources]

    def prune(self, *, now: datetime | None = None) -> int:
        return HealthCheck.objects.prune(before=(now or timezone.now()) - settings.DAZNODE_HEALTH_CHECK_RETENTION)


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def source_health(
    source: Source, *, now: datetime | None = None, breaker: Callable[[Source], CircuitBreaker] = breaker_for
) -> dict:
    now = now or timezone.now()
    checks = list(
        source.health_checks.filter(checked_at__gte=now - WINDOWS["7d"])
        .order_by("-checked_at")
        .values_list("checked_at", "ok", "latency_ms", "error")
    )
    latest = checks[0] if checks else None
    availability = {}
    for label, window in WINDOWS.items():
        in_window = [ok for checked_at, ok, _, _ in checks if checked_at >= now - window]
        availability[label] = round(sum(in_window) / len(in_window), 4) if in_window else None
    latencies = [
        latency
        for checked_at, ok, latency, _ in checks
        if ok and latency is not None and checked_at >= now - WINDOWS["24h"]
    ]
    return {
        "name": source.name,
        "kind": source.kind,
        "status": "unknown" if latest is None else ("up" if latest[1] else "down"),
        "last_check": latest[0].isoformat() if latest else None,
        "last_error": latest[3] if latest and not latest[1] else None,
        "availability": availability,
        "latency_ms": {"p50": percentile(latencies, 0.50), "p95": percentile(latencies, 0.95)},
        "circuit": breaker(source).state(),
    }


def system_health(*, now: datetime | None = None) -> tuple[bool, list[dict]]:
    """Every enabled source's health; healthy overall when at least one graph source is up."""
    reports, graph_up = [], False
    for source in Source.objects.filter(enabled=True):
        report = source_health(source, now=now)
        reports.append(report)
        graph_up |= report["status"] == "up" and Capability.GRAPH in kind_capabilities(source.kind)
    return graph_up, reports
