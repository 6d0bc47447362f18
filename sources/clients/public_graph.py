"""The public graph role (LNRouter and the like): a describegraph-shaped JSON document at a URL, gzip accepted,
or the same document in a file on disk."""

import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from sources.clients.errors import ContractViolation, SourceUnavailable
from sources.clients.http import CircuitBreaker, ClientConfig, HttpClient, RateLimiter
from sources.graph import GraphDocument, graph_document
from sources.interface import Capability, DataSourceInterface


class PublicGraphClient(DataSourceInterface):
    capabilities = frozenset({Capability.GRAPH})

    def __init__(
        self,
        *,
        url: str,
        name: str = "public-graph",
        timeout_s: float = 30.0,
        rate_per_minute: int = 100,
        transport: httpx.BaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
        limiter: RateLimiter | None = None,
    ):
        self.name = name
        # httpx treats a base URL's path as a folder; keep the document's path for the requests instead.
        parts = urlsplit(url)
        self.path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        base_url = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        config = ClientConfig(name=name, base_url=base_url, timeout_s=timeout_s, rate_per_minute=rate_per_minute)
        self.http = HttpClient(
            config, headers={"Accept-Encoding": "gzip"}, transport=transport, breaker=breaker, limiter=limiter
        )

    def close(self) -> None:
        self.http.close()

    def ping(self) -> float:
        started = time.perf_counter()
        self.http.request("HEAD", self.path, idempotent=True)
        return (time.perf_counter() - started) * 1000

    def describe_graph(self) -> GraphDocument:
        return graph_document(self._document_bytes(), source=self.name)

    def _document_bytes(self) -> bytes:
        # Returning only the bytes lets the response go before parsing starts (see graph_document).
        response = self.http.request("GET", self.path)
        if "html" in response.headers.get("content-type", ""):
            raise ContractViolation("expected a graph document, got an HTML page", source=self.name)
        return response.content


class FileGraphSource(DataSourceInterface):
    """A describegraph file (.json or .json.gz) read from disk: for offline use, tests and benchmarks."""

    capabilities = frozenset({Capability.GRAPH})

    def __init__(self, *, path: Path, name: str = "graph-file"):
        self.path, self.name = Path(path), name

    def ping(self) -> float:
        started = time.perf_counter()
        try:
            with self.path.open("rb") as handle:
                handle.read(1)
        except OSError as exc:
            raise SourceUnavailable(f"cannot read {self.path}: {exc.strerror}", source=self.name) from None
        return (time.perf_counter() - started) * 1000

    def describe_graph(self) -> GraphDocument:
        return graph_document(self._document_bytes(), source=self.name)

    def _document_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise SourceUnavailable(f"cannot read {self.path}: {exc.strerror}", source=self.name) from None
