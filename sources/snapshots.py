"""The network graph, cached on two levels.

Level 1 is the Django cache (Redis when configured): the latest snapshot's compact form and metadata, shared
by every process, restored in milliseconds. Level 2 is GraphSnapshot rows in the database, which survive
restarts. A refresh fetches from the best graph source (failing over between them), validates the whole
document, and writes a snapshot in one transaction, so a failed or malformed fetch leaves the previous one as it
was. When no source answers, the latest snapshot is used, even past its TTL, flagged stale with its age.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from sources.clients.errors import SourceError
from sources.factory import AllSourcesFailed, Attempt, DataSourceFactory
from sources.graph import CompactGraph
from sources.interface import Capability
from sources.models import GraphSnapshot

logger = logging.getLogger(__name__)
L1_KEY = "daznode:graph:latest"


class NoGraphAvailable(SourceError):
    """No source answered and no snapshot was ever stored."""


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
    factory = factory or DataSourceFactory(actor="refresh-graph")
    try:
        answer = factory.call(Capability.GRAPH, lambda client: client.describe_graph(), only=source_name)
    except AllSourcesFailed as exc:
        logger.warning("graph refresh failed, keeping the previous snapshot: %s", exc)
        return RefreshResult(snapshot=latest, fetched=False, source_name=None, error=str(exc), attempts=exc.attempts)
    document = answer.value
    compact = CompactGraph.from_document(document.document)
    snapshot = GraphSnapshot.from_document(
        source=answer.source, document=document, ttl=settings.DAZNODE_GRAPH_TTL, compact=compact
    )
    with transaction.atomic():
        snapshot.save()
        GraphSnapshot.objects.prune(keep=settings.DAZNODE_GRAPH_SNAPSHOTS_KEEP)
        compact_bytes = bytes(snapshot.compact)
        transaction.on_commit(lambda: _to_l1(snapshot, compact_bytes))
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


def current_graph() -> GraphView:
    """The graph to use now: fresh when a source answers, otherwise the latest snapshot flagged stale."""
    result = refresh_graph()
    if result.snapshot is None:
        raise NoGraphAvailable(f"no graph snapshot exists and no source answered: {result.error}")
    view = latest_graph()
    if view.is_stale():
        logger.warning("using a stale graph snapshot, %s old (%s)", view.age(), result.error or "not refreshed")
    return view
