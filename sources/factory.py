"""Ask the best available source, and fail over to the next on error.

Candidates are the enabled sources that offer the capability, healthy ones first (by their latest health
check), then by priority. A source whose circuit is open is skipped without being called. The answer says
which source gave it and what was tried before.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from django.db.models import OuterRef, Subquery

from sources.clients.errors import SourceError
from sources.clients.http import CircuitBreaker
from sources.connect import breaker_for, client_for, kind_capabilities
from sources.interface import Capability, DataSourceInterface
from sources.models import HealthCheck, Source

logger = logging.getLogger(__name__)
T = TypeVar("T")
UP, UNKNOWN, DOWN = 0, 1, 2


@dataclass(frozen=True)
class Attempt:
    source: str
    error: str | None
    elapsed_ms: float


@dataclass(frozen=True)
class Answer(Generic[T]):
    value: T
    source: Source
    attempts: list[Attempt] = field(default_factory=list)


class AllSourcesFailed(SourceError):
    def __init__(self, capability: str, attempts: list[Attempt]):
        self.attempts = attempts
        tried = "; ".join(f"{a.source}: {a.error}" for a in attempts) or "no enabled source offers it"
        super().__init__(f"no source could provide {capability} ({tried})")


class DataSourceFactory:
    def __init__(
        self,
        *,
        actor: str = "system",
        connect: Callable[..., DataSourceInterface] = client_for,
        breaker: Callable[[Source], CircuitBreaker] = breaker_for,
    ):
        self.actor, self.connect, self.breaker = actor, connect, breaker

    def candidates(self, capability: Capability, *, only: str | None = None) -> list[Source]:
        latest_ok = HealthCheck.objects.filter(source=OuterRef("pk")).order_by("-checked_at").values("ok")[:1]
        rows = Source.objects.filter(enabled=True).annotate(last_ok=Subquery(latest_ok))
        rows = rows.select_related("credential", "tls_certificate")
        if only is not None:
            rows = rows.filter(name=only)
        eligible = [row for row in rows if capability in kind_capabilities(row.kind)]

        def rank(source: Source) -> tuple:
            health = UNKNOWN if source.last_ok is None else (UP if source.last_ok else DOWN)
            return health, source.priority, source.name

        return sorted(eligible, key=rank)

    def call(
        self, capability: Capability, operation: Callable[[DataSourceInterface], T], *, only: str | None = None
    ) -> Answer[T]:
        attempts: list[Attempt] = []
        for source in self.candidates(capability, only=only):
            if self.breaker(source).state() == CircuitBreaker.OPEN:
                attempts.append(Attempt(source.name, "circuit open: skipped", 0.0))
                continue
            started = time.perf_counter()
            try:
                with self.connect(source, actor=self.actor) as client:
                    value = operation(client)
            except SourceError as exc:
                attempts.append(Attempt(source.name, str(exc), (time.perf_counter() - started) * 1000))
                logger.warning("source %s failed for %s: %s; trying the next", source.name, capability, exc)
                continue
            return Answer(value=value, source=source, attempts=attempts)
        raise AllSourcesFailed(str(capability), attempts)
