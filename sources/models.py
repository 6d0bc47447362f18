import json
import zlib
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
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
    def prune(self, *, keep: int, source_id: int | None = None) -> int:
        """Delete all but the newest `keep` snapshots of each source (or of one source)."""
        deleted = 0
        source_ids = [source_id] if source_id else self.values_list("source_id", flat=True).distinct()
        for sid in list(source_ids):
            stale_ids = list(
                self.filter(source_id=sid).order_by("-fetched_at", "-id").values_list("id", flat=True)[keep:]
            )
            deleted += self.filter(id__in=stale_ids).delete()[0]
        return deleted


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
