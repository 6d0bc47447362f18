"""The network graph, cached on two levels.

Level 1 is the Django cache (Redis when configured): the latest snapshot's compact form and metadata, shared
by every process, restored in milliseconds. Level 2 is GraphSnapshot rows in the database, which survive
restarts. A refresh fetches from the best graph source (failing over between them), validates the whole
document, and writes a snapshot in one transaction, so a failed or malformed fetch leaves the previous one as it
was. When no source answers, the latest snapshot is used, even past its TTL, flagged stale with its age.

A snapshot is stale when its TTL has passed, and also as soon as the source it came from fails: when that
source's latest fetch attempt failed after the snapshot was taken and after the source's latest success (a
fetch or a health check), or when it failed its latest health check. Each source's fetch outcomes are recorded
(GraphFetchStatus, one row per source) so that every process answers the same; another source failing says
nothing about this snapshot.

A document with no channels (an LND still syncing its graph, a broken public source) is refused, and so is one
with under MIN_EDGE_SHARE of the channels of the previous snapshot from the same source unless the refresh is
forced: the previous snapshot stays, the failure is recorded with its reason, and the next source is tried.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from daznode.actors import system_actor
from sources.clients.errors import SourceError
from sources.factory import AllSourcesFailed, Attempt, DataSourceFactory
from sources.graph import CompactGraph, GraphDocument
from sources.interface import Capability
from sources.models import GraphFetchStatus, GraphSnapshot, HealthCheck, Source

logger = logging.getLogger(__name__)
L1_KEY = "daznode:graph:latest"


ERROR_CHARS = 500
# A graph that shrinks this much between two fetches from one source is a source in trouble, not the network.
MIN_EDGE_SHARE = 0.5


class NoGraphAvailable(SourceError):
    """No source answered and no snapshot was ever stored."""


class ImplausibleGraph(SourceError):
    """A valid document that cannot be the network: no channels, or far fewer than the source gave last time."""


class StaleReason:
    EXPIRED = "expired"  # past its TTL
    FETCH_FAILED = "fetch-failed"  # the latest attempt to replace it failed
    SOURCE_DOWN = "source-down"  # the source it came from failed its latest health check


@dataclass(frozen=True)
class Staleness:
    stale: bool
    reason: str = ""  # a StaleReason when stale
    since: datetime | None = None  # when it became stale
    error: str = ""


@dataclass(frozen=True)
class GraphView:
    """A snapshot's compact graph with what a reader needs to judge it."""

    graph: CompactGraph
    snapshot_id: int
    source_name: str
    fetched_at: datetime
    expires_at: datetime
    content_hash: str
    level: str  # "l1" or "l2": where it was read from

    def is_stale(self, now: datetime | None = None) -> bool:
        return (now or timezone.now()) >= self.expires_at

    def age(self, now: datetime | None = None) -> timedelta:
        return (now or timezone.now()) - self.fetched_at


@dataclass(frozen=True)
class RefreshResult:
    snapshot: GraphSnapshot | None
    fetched: bool
    source_name: str | None
    error: str | None
    attempts: list[Attempt]

    @property
    def skipped(self) -> dict[str, int]:
        """What the fetched document held that was left out (reason -> count); empty when nothing was fetched."""
        return dict(self.snapshot.skipped) if self.fetched and self.snapshot else {}


def fetch_status_record(*, source_id: int, ok: bool, started_at: datetime, error: str = "") -> GraphFetchStatus:
    """Record the outcome of an attempt, begun at `started_at`, to fetch the graph from one source."""
    with transaction.atomic():
        GraphFetchStatus.objects.bulk_create([GraphFetchStatus(source_id=source_id)], ignore_conflicts=True)
        status = GraphFetchStatus.objects.select_for_update().get(source_id=source_id)
        if ok:
            status.record_success(started_at)
        else:
            status.record_failure(started_at, error[:ERROR_CHARS])
        status.save()
    return status


def _record_failed_attempts(attempts: list[Attempt], *, started_at: datetime) -> None:
    failed = {attempt.source: attempt.error or "" for attempt in attempts if attempt.error is not None}
    for name, source_id in Source.objects.filter(name__in=failed).values_list("name", "id"):
        fetch_status_record(source_id=source_id, ok=False, started_at=started_at, error=failed[name])


def snapshot_staleness(snapshot: GraphSnapshot, *, now: datetime | None = None) -> Staleness:
    """Whether readers should treat the snapshot as out of date, why, and since when."""
    now = now or timezone.now()
    latest_check = None
    if snapshot.source_id is not None:
        latest_check = HealthCheck.objects.filter(source_id=snapshot.source_id).order_by("-checked_at").first()
        failed = _fetch_failed(snapshot)
        if failed is not None:
            return failed
    if latest_check is not None and not latest_check.ok and latest_check.checked_at >= snapshot.fetched_at:
        return Staleness(True, StaleReason.SOURCE_DOWN, _down_since(latest_check), latest_check.error)
    if snapshot.is_expired(now):
        return Staleness(True, StaleReason.EXPIRED, snapshot.expires_at)
    return Staleness(False)


def _fetch_failed(snapshot: GraphSnapshot) -> Staleness | None:
    """Stale when its source's latest attempt failed after the snapshot and after the source's latest success."""
    status = GraphFetchStatus.objects.filter(source_id=snapshot.source_id).first()
    if status is None or status.failing_since is None or status.last_failure_at < snapshot.fetched_at:
        return None
    last_up = (
        HealthCheck.objects.filter(source_id=snapshot.source_id, ok=True)
        .order_by("-checked_at")
        .values_list("checked_at", flat=True)
        .first()
    )
    if last_up is not None and last_up >= status.last_failure_at:
        return None  # the source answered its health check since: it is up again
    since = status.failing_since if last_up is None or status.failing_since > last_up else status.last_failure_at
    return Staleness(True, StaleReason.FETCH_FAILED, since, status.error)


def _down_since(latest_failure: HealthCheck) -> datetime:
    """The first failed check of the source's current run of failures."""
    last_up = (
        HealthCheck.objects.filter(
            source_id=latest_failure.source_id, ok=True, checked_at__lt=latest_failure.checked_at
        )
        .order_by("-checked_at")
        .values_list("checked_at", flat=True)
        .first()
    )
    failures = HealthCheck.objects.filter(source_id=latest_failure.source_id, ok=False)
    if last_up is not None:
        failures = failures.filter(checked_at__gt=last_up)
    return failures.order_by("checked_at").values_list("checked_at", flat=True).first() or latest_failure.checked_at


def _latest_snapshot_id() -> int | None:
    return GraphSnapshot.objects.order_by("-fetched_at", "-id").values_list("id", flat=True).first()


def _to_l1(snapshot: GraphSnapshot, compact_bytes: bytes) -> None:
    entry = {
        "snapshot_id": snapshot.id,
        "source": snapshot.source.name if snapshot.source else "",
        "fetched_at": snapshot.fetched_at,
        "expires_at": snapshot.expires_at,
        "content_hash": snapshot.content_hash,
        "compact": compact_bytes,
    }
    cache.set(L1_KEY, entry, timeout=None)


def latest_graph() -> GraphView:
    """The latest snapshot, fresh or not: level 1 when it holds the latest, otherwise level 2 (refilling 1)."""
    latest_id = _latest_snapshot_id()
    if latest_id is None:
        raise NoGraphAvailable("no graph snapshot has been stored yet: run refresh_graph")
    entry = cache.get(L1_KEY)
    if entry is not None and entry["snapshot_id"] == latest_id:
        return GraphView(
            graph=CompactGraph.from_bytes(entry["compact"]),
            snapshot_id=latest_id,
            source_name=entry["source"],
            fetched_at=entry["fetched_at"],
            expires_at=entry["expires_at"],
            content_hash=entry["content_hash"],
            level="l1",
        )
    snapshot = GraphSnapshot.objects.select_related("source").defer("payload").get(pk=latest_id)
    compact = snapshot.compact_graph()
    _to_l1(snapshot, bytes(snapshot.compact) or compact.to_bytes())
    return GraphView(
        graph=compact,
        snapshot_id=snapshot.id,
        source_name=snapshot.source.name if snapshot.source else "",
        fetched_at=snapshot.fetched_at,
        expires_at=snapshot.expires_at,
        content_hash=snapshot.content_hash,
        level="l2",
    )


def refresh_graph(
    *, source_name: str | None = None, force: bool = False, factory: DataSourceFactory | None = None
) -> RefreshResult:
    """Fetch a new snapshot unless the latest is still fresh (or `force`). Never raises for a failed fetch."""
    latest = GraphSnapshot.objects.defer("payload", "compact").order_by("-fetched_at", "-id").first()
    if latest is not None and not force and source_name is None and not latest.is_expired():
        return RefreshResult(snapshot=latest, fetched=False, source_name=None, error=None, attempts=[])
    factory = factory or DataSourceFactory(actor=system_actor("refresh-graph"))
    started_at = timezone.now()
    try:
        answer = factory.call(Capability.GRAPH, lambda client: _plausible_graph(client, force=force), only=source_name)
    except AllSourcesFailed as exc:
        logger.warning("graph refresh failed, keeping the previous snapshot: %s", exc)
        _record_failed_attempts(exc.attempts, started_at=started_at)
        return RefreshResult(snapshot=latest, fetched=False, source_name=None, error=str(exc), attempts=exc.attempts)
    _record_failed_attempts(answer.attempts, started_at=started_at)
    document = answer.value
    _log_skipped(document.summary, answer.source.name)
    snapshot = GraphSnapshot.from_document(
        source=answer.source, document=document, ttl=settings.DAZNODE_GRAPH_TTL, compact=document.compact
    )
    with transaction.atomic():
        snapshot.save()
        GraphSnapshot.objects.prune(keep=settings.DAZNODE_GRAPH_SNAPSHOTS_KEEP)
        compact_bytes = bytes(snapshot.compact)
        transaction.on_commit(lambda: _to_l1(snapshot, compact_bytes))
    fetch_status_record(source_id=answer.source.id, ok=True, started_at=started_at)
    logger.info(
        "graph snapshot %s from %s: %d nodes, %d channels",
        snapshot.id,
        answer.source.name,
        snapshot.node_count,
        snapshot.edge_count,
    )
    return RefreshResult(
        snapshot=snapshot, fetched=True, source_name=answer.source.name, error=None, attempts=answer.attempts
    )


def _plausible_graph(client, *, force: bool) -> GraphDocument:
    """The client's graph, unless it cannot be the network (ImplausibleGraph: the factory tries the next source)."""
    document = client.describe_graph()
    edge_count = document.summary.edge_count
    if edge_count == 0:
        raise ImplausibleGraph(
            "the graph has no channels (an LND still syncing its graph?); keeping the previous snapshot",
            source=client.name,
        )
    previous = (
        GraphSnapshot.objects.filter(source__name=client.name)
        .order_by("-fetched_at", "-id")
        .values_list("edge_count", flat=True)
        .first()
    )
    if not force and previous and edge_count < previous * MIN_EDGE_SHARE:
        raise ImplausibleGraph(
            f"the graph has {edge_count} channels where this source's previous snapshot had {previous} "
            f"(under {MIN_EDGE_SHARE:.0%}); keeping the previous snapshot: force a refresh to accept it",
            source=client.name,
        )
    return document


def _log_skipped(summary, source_name: str) -> None:
    if summary.skipped:
        counts = ", ".join(f"{reason}: {count}" for reason, count in summary.skipped.items())
        logger.warning(
            "graph from %s: parts left out (%s); for example %s", source_name, counts, "; ".join(summary.examples)
        )
