import json
import zlib
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from sources.graph import CompactGraph, GraphDocument, graph_document

NETWORK_URL = URLValidator(schemes=["http", "https"])


class Source(models.Model):
    """Somewhere Daznode reads data from: the operator's LND, LNbits, another Daznode, or a graph document."""

    class Kind(models.TextChoices):
        LND = "lnd", "LND (REST)"
        LNBITS = "lnbits", "LNbits"
        MCP = "mcp", "Daznode-compatible API (MCP)"
        PUBLIC_GRAPH = "public_graph", "Public graph (URL)"
        FILE = "file", "Graph file"

    name = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    url = models.CharField(
        "URL or path", max_length=500, help_text="https://host:port for network sources, a file path for files."
    )
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower is tried first.")
    enabled = models.BooleanField(default=True)
    credential = models.ForeignKey(
        "auth_vault.Secret",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sources_authenticated",
        help_text="Macaroon or API key in the vault.",
    )
    tls_certificate = models.ForeignKey(
        "auth_vault.Secret",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sources_pinned",
        help_text="The node's tls.cert in the vault, pinned for HTTPS.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name

    # The vault entry each kind sends, and where: a key must never travel to a source of another kind.
    CREDENTIAL_KINDS = {
        Kind.LND: "macaroon",
        Kind.LNBITS: "lnbits_key",
        Kind.MCP: "api_key",
    }

    def clean(self) -> None:
        self._clean_credentials()
        if self.kind == self.Kind.FILE:
            if not self.url.strip():
                raise ValidationError({"url": "A file source needs the path of a describegraph JSON file."})
            return
        try:
            NETWORK_URL(self.url)
        except ValidationError:
            raise ValidationError({"url": "Enter an http:// or https:// URL."}) from None

    def _clean_credentials(self) -> None:
        expected = self.CREDENTIAL_KINDS.get(self.kind)
        if self.credential is not None and self.credential.kind != expected:
            needed = f"a {expected} secret" if expected else "no credential"
            raise ValidationError(
                {
                    "credential": f"a {self.get_kind_display()} source takes {needed}, "
                    f"not a {self.credential.get_kind_display()}."
                }
            )
        if self.tls_certificate is not None and self.tls_certificate.kind != "tls_cert":
            raise ValidationError({"tls_certificate": "Choose a TLS certificate from the vault."})

    def latest_check(self) -> "HealthCheck | None":
        return self.health_checks.order_by("-checked_at").first()


class HealthCheckQuerySet(models.QuerySet):
    def prune(self, *, before) -> int:
        deleted, _ = self.filter(checked_at__lt=before).delete()
        return deleted


class HealthCheck(models.Model):
    """One probe of a source: kept as history for availability and latency figures."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="health_checks")
    checked_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    objects = HealthCheckQuerySet.as_manager()

    class Meta:
        ordering = ["-checked_at"]
        indexes = [models.Index(fields=["source", "-checked_at"]), models.Index(fields=["checked_at"])]

    def __str__(self) -> str:
        return f"{self.source} {'up' if self.ok else 'down'} at {self.checked_at:%Y-%m-%d %H:%M:%S}"


class GraphSnapshotQuerySet(models.QuerySet):
    def prune(self, *, keep: int, source_id: int | None = None, now=None) -> int:
        """Delete all but the newest `keep` snapshots of each source (or of one source).

        Never deleted, whatever their age: the newest snapshot that has been analysed (scoring reads it) and
        any snapshot a reader holds (an unexpired SnapshotHold). The rows are locked and the condition checked
        again in one transaction, so an analysis that claims a snapshot at the same moment either wins or finds
        it gone. Expired holds (their holder died) are deleted on the way.
        """
        now = now or timezone.now()
        SnapshotHold.objects.filter(until__lte=now).delete()
        deleted = 0
        source_ids = [source_id] if source_id else self.values_list("source_id", flat=True).distinct()
        for sid in list(source_ids):
            beyond_keep = list(
                self.filter(source_id=sid).order_by("-fetched_at", "-id").values_list("id", flat=True)[keep:]
            )
            deleted += self._delete_unprotected(beyond_keep, now=now)
        return deleted

    def newest_analysed_id(self) -> int | None:
        analysed = self.filter(analysed_at__isnull=False).order_by("-fetched_at", "-id")
        return analysed.values_list("id", flat=True).first()

    def _delete_unprotected(self, ids: list[int], *, now) -> int:
        if not ids:
            return 0
        with transaction.atomic():
            protected = Q(holds__until__gt=now) | Q(id=self.newest_analysed_id())
            doomed = list(self.filter(id__in=ids).exclude(protected).select_for_update().values_list("id", flat=True))
            doomed_snapshots = self.filter(id__in=doomed).exclude(holds__until__gt=now)
            return doomed_snapshots.delete()[1].get(self.model._meta.label, 0)  # not the rows that cascade

    def claim(self, snapshot_id: int, *, until) -> int | None:
        """Hold a snapshot against pruning until `until` (an analysis reading it): the hold's id, for `release`,
        or None when the snapshot is gone. Each holder has its own hold, so two analyses of one snapshot at
        once each keep it until they release their own."""
        with transaction.atomic():
            if self.select_for_update().filter(id=snapshot_id).values_list("id", flat=True).first() is None:
                return None
            return SnapshotHold.objects.create(snapshot_id=snapshot_id, until=until).id

    def release(self, hold_id: int) -> None:
        """Drop one hold (the one `claim` returned); other holders' holds stay."""
        SnapshotHold.objects.filter(id=hold_id).delete()


class GraphSnapshot(models.Model):
    """The network graph as one source gave it, in LND describegraph shape, compressed.

    Level 2 of the graph cache: it persists across restarts and is the fallback, stale or not, when a live
    fetch fails.
    """

    source = models.ForeignKey(Source, null=True, on_delete=models.SET_NULL, related_name="snapshots")
    fetched_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    node_count = models.PositiveIntegerField()
    edge_count = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the JSON document.")
    payload = models.BinaryField(help_text="zlib-compressed describegraph JSON, as the source sent it.")
    compact = models.BinaryField(default=b"", help_text="The graph as columns (sources.graph.CompactGraph).")
    skipped = models.JSONField(
        default=dict, blank=True, help_text="What the document held that was left out: reason -> count."
    )
    skipped_examples = models.JSONField(default=list, blank=True, help_text="A few of the parts left out, and why.")
    analysed_at = models.DateTimeField(null=True, blank=True, help_text="Set when its analysis is stored.")

    objects = GraphSnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["-fetched_at"]
        get_latest_by = "fetched_at"
        indexes = [models.Index(fields=["source", "-fetched_at"])]

    def __str__(self) -> str:
        return f"{self.node_count} nodes, {self.edge_count} channels at {self.fetched_at:%Y-%m-%d %H:%M}"

    @classmethod
    def from_document(
        cls,
        *,
        source: Source | None,
        document: GraphDocument,
        ttl: timedelta,
        now=None,
        compact: CompactGraph | None = None,
    ) -> "GraphSnapshot":
        """An unsaved snapshot of a validated document: its bytes as received, and its compact form."""
        now = now or timezone.now()
        compact = compact or CompactGraph.from_document(document.document)
        return cls(
            source=source,
            fetched_at=now,
            expires_at=now + ttl,
            node_count=document.summary.node_count,
            edge_count=document.summary.edge_count,
            content_hash=document.content_hash,
            payload=document.compressed,
            compact=compact.to_bytes(),
            skipped=document.summary.skipped,
            skipped_examples=list(document.summary.examples),
        )

    @classmethod
    def from_graph(cls, *, source: Source | None, graph: dict, ttl: timedelta, now=None) -> "GraphSnapshot":
        """An unsaved snapshot of a describegraph dict (`{"nodes": [...], "edges": [...]}`)."""
        document = graph_document(json.dumps(graph, separators=(",", ":")).encode())
        return cls.from_document(source=source, document=document, ttl=ttl, now=now)

    def raw_document(self) -> bytes:
        return zlib.decompress(self.payload)

    def graph(self) -> dict:
        return json.loads(self.raw_document())

    def compact_graph(self) -> CompactGraph:
        return CompactGraph.from_bytes(self.compact) if self.compact else CompactGraph.from_document(self.graph())

    def is_expired(self, now=None) -> bool:
        return (now or timezone.now()) >= self.expires_at

    def age(self, now=None) -> timedelta:
        return (now or timezone.now()) - self.fetched_at


class SnapshotHold(models.Model):
    """One reader's hold on a snapshot against pruning. A row per holder: one releasing never drops another's
    hold, and the hold of a holder that died expires by itself (`until`)."""

    snapshot = models.ForeignKey(GraphSnapshot, on_delete=models.CASCADE, related_name="holds")
    until = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["snapshot", "until"])]

    def __str__(self) -> str:
        return f"snapshot {self.snapshot_id} held until {self.until:%Y-%m-%d %H:%M:%S}"


class GraphFetchStatus(models.Model):
    """A source's latest graph fetch outcomes: one row per source, updated in place.

    A snapshot within its TTL is not fresh when the source that should replace it is failing: readers are told.
    Times are when an attempt started: a slow failure that ends after another worker's success is older news
    than that success, and must not flag the snapshot it brought.
    """

    source = models.OneToOneField(Source, on_delete=models.CASCADE, related_name="graph_fetch_status")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failure since the latest success; empty when not failing."
    )
    error = models.CharField(max_length=500, blank=True, help_text="Why the latest failed attempt failed.")

    class Meta:
        verbose_name_plural = "graph fetch status"

    def __str__(self) -> str:
        return f"{self.source}: {'failing' if self.failing_since else 'ok'}"

    def record_success(self, started_at) -> None:
        self.last_success_at = max(self.last_success_at or started_at, started_at)
        if self.last_failure_at is None or self.last_failure_at <= self.last_success_at:
            self.failing_since = None

    def record_failure(self, started_at, error: str) -> None:
        if self.last_success_at is not None and started_at <= self.last_success_at:
            return  # began before a success that has been recorded: that success is the newer news
        if self.last_failure_at is None or started_at > self.last_failure_at:
            self.last_failure_at, self.error = started_at, error
        self.failing_since = min(self.failing_since or started_at, started_at)


class CircuitState(models.Model):
    """A source's circuit breaker, shared by every process when there is no Redis (sources.shared_state)."""

    key = models.CharField(max_length=100, unique=True)
    failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    trial_until = models.DateTimeField(null=True, blank=True, help_text="A half-open trial is running until then.")

    def __str__(self) -> str:
        return f"{self.key}: {'open' if self.opened_at else 'closed'}"


class RateBucket(models.Model):
    """A source's client-side rate limit (token bucket), shared by every process when there is no Redis."""

    key = models.CharField(max_length=100, unique=True)
    tokens = models.FloatField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key}: {self.tokens:.1f} tokens"
