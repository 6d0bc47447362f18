"""The sources page's figures: each source's health, availability and latency, its circuit breaker and graph
fetches, and the graph snapshots with their freshness.

A fixed number of queries whatever the number of sources, checks and snapshots: the latest checks come as
subqueries of one source query, availability as one grouped count, p95 latency as one aggregate (PostgreSQL) or
one list of a day's latencies (SQLite), circuit breakers in one read of the shared store's table. A snapshot's
freshness is judged from those per-source facts by the rules of sources.snapshots.snapshot_staleness (which reads
them one snapshot at a time); tests/dashboard/test_sources_page.py holds the two to the same answers.

No credential is ever read here: of a source's vault secret only its name and the start of its fingerprint.
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connections
from django.db.models import Aggregate, Count, F, FloatField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from sources.clients.http import CircuitBreaker
from sources.connect import kind_capabilities, state_key
from sources.health import WINDOWS, percentile
from sources.interface import Capability
from sources.models import CircuitState, GraphSnapshot, HealthCheck, Source
from sources.shared_state import DatabaseState, shared_state
from sources.snapshots import Staleness, StaleReason

P95 = 0.95
LATENCY_WINDOW = WINDOWS["24h"]
SNAPSHOTS_SHOWN = 20
FINGERPRINT_SHOWN = 12
STALE_REASON_TEXT = {
    StaleReason.EXPIRED: "past its time to live",
    StaleReason.FETCH_FAILED: "the latest fetch from its source failed",
    StaleReason.SOURCE_DOWN: "its source failed its latest health check",
}
# Older than any check: "failed after the last success" when a source never succeeded.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


class PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont: the same linear interpolation as sources.health.percentile."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, *, fraction: float):
        super().__init__(expression, fraction=float(fraction))


@dataclass(frozen=True)
class SourceFacts:
    """What a snapshot's freshness depends on, of the source it came from (see snapshot_staleness)."""

    latest_check_at: datetime | None = None
    latest_ok: bool | None = None
    latest_error: str = ""
    last_ok_at: datetime | None = None
    down_since: datetime | None = None
    fetch_failing_since: datetime | None = None
    fetch_last_failure_at: datetime | None = None
    fetch_error: str = ""


@dataclass(frozen=True)
class SourceRow:
    id: int
    name: str
    kind_label: str
    url: str  # without credentials
    priority: int
    enabled: bool
    credential_name: str
    credential_fingerprint: str  # its first characters only
    graph_source: bool
    facts: SourceFacts
    last_error: str
    last_error_at: datetime | None
    availability: dict[str, float | None]  # window label -> share of successful checks
    check_counts: dict[str, int]
    p95_latency_ms: float | None
    circuit: str  # CircuitBreaker.CLOSED / OPEN / HALF_OPEN
    circuit_failures: int
    fetch_last_success_at: datetime | None
    fetch_seen: bool  # a graph fetch was ever recorded

    @property
    def availability_cells(self) -> list[tuple[str, float | None, int]]:
        """(window, share, number of checks) for each window, in order."""
        return [(label, self.availability[label], self.check_counts[label]) for label in WINDOWS]

    @property
    def status(self) -> str:
        if self.facts.latest_ok is None:
            return "unknown"
        return "up" if self.facts.latest_ok else "down"


@dataclass(frozen=True)
class SnapshotRow:
    id: int
    source_name: str
    fetched_at: datetime
    expires_at: datetime
    age: timedelta
    ttl: timedelta
    expired: bool
    node_count: int
    edge_count: int
    analysed_at: datetime | None
    content_hash: str
    staleness: Staleness
    newest: bool  # what the graph API serves and the next analysis reads
    used_by_analytics: bool  # the newest analysed snapshot: channel scores come from it

    @property
    def stale_reason(self) -> str:
        return STALE_REASON_TEXT.get(self.staleness.reason, self.staleness.reason)


@dataclass(frozen=True)
class SourcesOverview:
    now: datetime
    sources: list[SourceRow]
    snapshots: list[SnapshotRow]
    snapshot_count: int
    analysed: SnapshotRow | None
    newest: SnapshotRow | None
    shown_limit: int = SNAPSHOTS_SHOWN

    @property
    def enabled_count(self) -> int:
        return sum(row.enabled for row in self.sources)

    @property
    def up_count(self) -> int:
        return sum(row.enabled and row.status == "up" for row in self.sources)

    @property
    def down(self) -> list[SourceRow]:
        return [row for row in self.sources if row.enabled and row.status == "down"]

    @property
    def circuits_open(self) -> list[SourceRow]:
        return [row for row in self.sources if row.circuit != CircuitBreaker.CLOSED]

    @property
    def fetches_failing(self) -> list[SourceRow]:
        return [row for row in self.sources if row.enabled and row.facts.fetch_failing_since is not None]

    @property
    def analysed_beyond_shown(self) -> bool:
        """The snapshot the scores use is older than the newest ones listed (it is listed after them)."""
        return self.analysed is not None and self.analysed not in self.snapshots[: self.shown_limit]

    @property
    def graph_sources(self) -> list[SourceRow]:
        return [row for row in self.sources if row.graph_source]

    @property
    def needs_attention(self) -> bool:
        newest_stale = self.newest is None or self.newest.staleness.stale
        analysed_stale = self.analysed is not None and self.analysed.staleness.stale
        troubles = (self.down, self.circuits_open, self.fetches_failing)
        return not self.sources or any(troubles) or newest_stale or analysed_stale


def url_without_credentials(url: str) -> str:
    """The URL with no user, password or query string (where an API key may ride); a file path as it is."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "…" if parts.query else "", ""))


def sources_overview(*, now: datetime) -> SourcesOverview:
    sources = source_rows(now=now)
    facts = {row.id: row.facts for row in sources}
    snapshots, analysed = snapshot_rows(now=now, facts=facts)
    newest = snapshots[0] if snapshots else None
    return SourcesOverview(
        now=now,
        sources=sources,
        snapshots=snapshots,
        snapshot_count=GraphSnapshot.objects.count(),
        analysed=analysed,
        newest=newest,
    )


SOURCE_COLUMNS = ("id", "name", "kind", "url", "priority", "enabled", "created_at")


def _latest(checks: QuerySet[HealthCheck], column: str) -> Subquery:
    return Subquery(checks.order_by("-checked_at", "-id").values(column)[:1])


def _source_values() -> list[Mapping[str, Any]]:
    """Every source with its latest check, latest success and failure, and graph fetch status: one query."""
    checks = HealthCheck.objects.filter(source=OuterRef("pk"))
    failed = checks.filter(ok=False)
    after_last_ok = Q(checked_at__gt=Coalesce(OuterRef("last_ok_at"), Value(BEGINNING)))
    annotations = {
        "latest_check_at": _latest(checks, "checked_at"),
        "latest_ok": _latest(checks, "ok"),
        "latest_error": _latest(checks, "error"),
        "last_ok_at": _latest(checks.filter(ok=True), "checked_at"),
        "last_error_at": _latest(failed, "checked_at"),
        "last_error": _latest(failed, "error"),
        "down_since": Subquery(failed.filter(after_last_ok).order_by("checked_at").values("checked_at")[:1]),
        "credential_name": F("credential__name"),
        "credential_fingerprint": F("credential__fingerprint"),
        "fetch_id": F("graph_fetch_status__id"),
        "fetch_last_success_at": F("graph_fetch_status__last_success_at"),
        "fetch_last_failure_at": F("graph_fetch_status__last_failure_at"),
        "fetch_failing_since": F("graph_fetch_status__failing_since"),
        "fetch_error": F("graph_fetch_status__error"),
    }
    sources = Source.objects.annotate(**annotations).order_by("priority", "name")
    return list(sources.values(*SOURCE_COLUMNS, *annotations))


def availability_by_source(*, now: datetime) -> dict[int, dict[str, tuple[int, int]]]:
    """source id -> window label -> (successful checks, checks), in one grouped query over the longest window."""
    counts: dict[str, Count] = {}
    for label, window in WINDOWS.items():
        in_window = Q(checked_at__gte=now - window)
        counts[f"up_{label}"] = Count("id", filter=in_window & Q(ok=True))
        counts[f"total_{label}"] = Count("id", filter=in_window)
    rows = (
        HealthCheck.objects.filter(checked_at__gte=now - max(WINDOWS.values()))
        .order_by()
        .values("source_id")
        .annotate(**counts)
        .values_list("source_id", *counts)
    )
    return {source_id: dict(zip(WINDOWS, pairwise_counts(figures), strict=True)) for source_id, *figures in rows}


def pairwise_counts(figures: list[int]) -> list[tuple[int, int]]:
    """[up, total, up, total, ...] -> [(up, total), ...]."""
    return list(zip(figures[::2], figures[1::2], strict=True))


def p95_latency_by_source(*, now: datetime) -> dict[int, float | None]:
    """source id -> p95 latency (ms) of its successful checks over the last 24 h."""
    answered = HealthCheck.objects.filter(checked_at__gte=now - LATENCY_WINDOW, ok=True, latency_ms__isnull=False)
    if connections[answered.db].vendor == "postgresql":
        rows = answered.order_by().values("source_id").annotate(p95=PercentileCont("latency_ms", fraction=P95))
        return {row["source_id"]: row["p95"] for row in rows}
    # SQLite has no percentile: a day of checks (one a minute by default) is a bounded list.
    latencies: dict[int, list[float]] = defaultdict(list)
    for source_id, latency_ms in answered.order_by().values_list("source_id", "latency_ms"):
        if latency_ms is not None:
            latencies[source_id].append(latency_ms)
    return {source_id: percentile(values, P95) for source_id, values in latencies.items()}


class _PeekedState:
    """Breaker records read beforehand, so that CircuitBreaker.state() judges them by its own rule."""

    def __init__(self, records: dict[str, tuple[int, float | None, float | None]]):
        self.records = records

    def breaker_peek(self, key: str) -> tuple[int, float | None, float | None]:
        return self.records.get(key, (0, None, None))


def breaker_records(keys: list[str]) -> dict[str, tuple[int, float | None, float | None]]:
    """key -> (failures, opened_at, trial_until): one query on the database store; Redis answers each key."""
    state = shared_state()
    if isinstance(state, DatabaseState):
        rows = CircuitState.objects.filter(key__in=keys).values_list("key", "failures", "opened_at", "trial_until")
        return {
            key: (failures, _epoch(opened_at), _epoch(trial_until)) for key, failures, opened_at, trial_until in rows
        }
    return {key: state.breaker_peek(key) for key in keys}


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _circuit(key: str, records: dict[str, tuple[int, float | None, float | None]], now: datetime) -> str:
    breaker = CircuitBreaker(
        key,
        threshold=settings.DAZNODE_SOURCE_BREAKER_THRESHOLD,
        cooldown_s=settings.DAZNODE_SOURCE_BREAKER_COOLDOWN.total_seconds(),
        state=_PeekedState(records),  # type: ignore[arg-type]  # state() only peeks
        clock=now.timestamp,
    )
    return breaker.state()


def source_rows(*, now: datetime) -> list[SourceRow]:
    values = _source_values()
    availability = availability_by_source(now=now)
    latency = p95_latency_by_source(now=now)
    keys = {row["id"]: state_key(Source(pk=row["id"], created_at=row["created_at"])) for row in values}
    records = breaker_records(list(keys.values()))
    return [
        _source_row(
            row,
            availability=availability.get(row["id"], {}),
            p95_latency_ms=latency.get(row["id"]),
            circuit=_circuit(keys[row["id"]], records, now),
            circuit_failures=records.get(keys[row["id"]], (0, None, None))[0],
        )
        for row in values
    ]


def _source_row(
    row: Mapping[str, Any],
    *,
    availability: dict[str, tuple[int, int]],
    p95_latency_ms: float | None,
    circuit: str,
    circuit_failures: int,
) -> SourceRow:
    down = row["latest_ok"] is False
    facts = SourceFacts(
        latest_check_at=row["latest_check_at"],
        latest_ok=row["latest_ok"],
        latest_error=row["latest_error"] or "",
        last_ok_at=row["last_ok_at"],
        down_since=row["down_since"] if down else None,
        fetch_failing_since=row["fetch_failing_since"],
        fetch_last_failure_at=row["fetch_last_failure_at"],
        fetch_error=row["fetch_error"] or "",
    )
    return SourceRow(
        id=row["id"],
        name=row["name"],
        kind_label=Source.Kind(row["kind"]).label,
        url=url_without_credentials(row["url"]),
        priority=row["priority"],
        enabled=row["enabled"],
        credential_name=row["credential_name"] or "",
        credential_fingerprint=(row["credential_fingerprint"] or "")[:FINGERPRINT_SHOWN],
        graph_source=Capability.GRAPH in kind_capabilities(row["kind"]),
        facts=facts,
        last_error=row["last_error"] or "",
        last_error_at=row["last_error_at"],
        availability={label: _share(*availability.get(label, (0, 0))) for label in WINDOWS},
        check_counts={label: availability.get(label, (0, 0))[1] for label in WINDOWS},
        p95_latency_ms=p95_latency_ms,
        circuit=circuit,
        circuit_failures=circuit_failures,
        fetch_last_success_at=row["fetch_last_success_at"],
        fetch_seen=row["fetch_id"] is not None,
    )


def _share(up: int, total: int) -> float | None:
    return up / total if total else None


def snapshot_freshness(
    *, source_id: int | None, fetched_at: datetime, expires_at: datetime, facts: SourceFacts | None, now: datetime
) -> Staleness:
    """sources.snapshots.snapshot_staleness's answer, from facts already read for every source."""
    if source_id is not None and facts is not None:
        failed = _fetch_failed(fetched_at, facts)
        if failed is not None:
            return failed
        latest_at = facts.latest_check_at
        if facts.latest_ok is False and latest_at is not None and latest_at >= fetched_at:
            return Staleness(True, StaleReason.SOURCE_DOWN, facts.down_since or latest_at, facts.latest_error)
    if now >= expires_at:
        return Staleness(True, StaleReason.EXPIRED, expires_at)
    return Staleness(False)


def _fetch_failed(fetched_at: datetime, facts: SourceFacts) -> Staleness | None:
    failing_since, last_failure_at = facts.fetch_failing_since, facts.fetch_last_failure_at
    if failing_since is None or last_failure_at is None or last_failure_at < fetched_at:
        return None
    last_up = facts.last_ok_at
    if last_up is not None and last_up >= last_failure_at:
        return None  # the source answered its health check since: it is up again
    since = failing_since if last_up is None or failing_since > last_up else last_failure_at
    return Staleness(True, StaleReason.FETCH_FAILED, since, facts.fetch_error)


SNAPSHOT_COLUMNS = (
    "id",
    "source_id",
    "source__name",
    "fetched_at",
    "expires_at",
    "node_count",
    "edge_count",
    "analysed_at",
    "content_hash",
)


def snapshot_rows(*, now: datetime, facts: dict[int, SourceFacts]) -> tuple[list[SnapshotRow], SnapshotRow | None]:
    """The newest snapshots (never their payloads), and the one analytics uses even when older than those."""
    analysed_id = GraphSnapshot.objects.newest_analysed_id()
    ordering = ("-fetched_at", "-id")
    newest_ids = GraphSnapshot.objects.order_by(*ordering).values("id")[:SNAPSHOTS_SHOWN]
    shown = Q(id__in=newest_ids) | Q(id=analysed_id) if analysed_id is not None else Q(id__in=newest_ids)
    listed = list(GraphSnapshot.objects.filter(shown).order_by(*ordering).values(*SNAPSHOT_COLUMNS))
    newest_id = listed[0]["id"] if listed else None
    rows = [_snapshot_row(row, now=now, facts=facts, newest_id=newest_id, analysed_id=analysed_id) for row in listed]
    analysed = next((row for row in rows if row.used_by_analytics), None)
    return rows, analysed


def _snapshot_row(
    row: Mapping[str, Any],
    *,
    now: datetime,
    facts: dict[int, SourceFacts],
    newest_id: int | None,
    analysed_id: int | None,
) -> SnapshotRow:
    return SnapshotRow(
        id=row["id"],
        source_name=row["source__name"] or "",
        fetched_at=row["fetched_at"],
        expires_at=row["expires_at"],
        age=now - row["fetched_at"],
        ttl=row["expires_at"] - row["fetched_at"],
        expired=now >= row["expires_at"],
        node_count=row["node_count"],
        edge_count=row["edge_count"],
        analysed_at=row["analysed_at"],
        content_hash=row["content_hash"],
        staleness=snapshot_freshness(
            source_id=row["source_id"],
            fetched_at=row["fetched_at"],
            expires_at=row["expires_at"],
            facts=facts.get(row["source_id"]) if row["source_id"] is not None else None,
            now=now,
        ),
        newest=row["id"] == newest_id,
        used_by_analytics=row["id"] == analysed_id,
    )
