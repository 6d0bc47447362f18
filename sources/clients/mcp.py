"""A remote Daznode-compatible analytics API ("MCP"): another Daznode instance, so that instances federate.

It speaks this project's own REST API (/api/v1/...) with an API key made on the remote instance.
"""

import time

import httpx

from sources.clients.http import CircuitBreaker, ClientConfig, HttpClient, RateLimiter
from sources.clients.parsing import Fields
from sources.graph import GraphDocument, graph_document
from sources.interface import Capability, DataSourceInterface


class McpClient(DataSourceInterface):
    capabilities = frozenset({Capability.GRAPH})

    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        name: str = "mcp",
        timeout_s: float = 30.0,
        rate_per_minute: int = 100,
        transport: httpx.BaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
        limiter: RateLimiter | None = None,
    ):
        self.name = name
        config = ClientConfig(name=name, base_url=url, timeout_s=timeout_s, rate_per_minute=rate_per_minute)
        self.http = HttpClient(
            config,
            headers={"Authorization": f"Api-Key {api_key}"},
            transport=transport,
            breaker=breaker,
            limiter=limiter,
        )

    def close(self) -> None:
        self.http.close()

    def ping(self) -> float:
        started = time.perf_counter()
        Fields(self.http.request_json("GET", "/api/v1/me"), "", self.name).string("username")
        return (time.perf_counter() - started) * 1000

    def describe_graph(self) -> GraphDocument:
        return graph_document(self._graph_bytes(), source=self.name)

    def _graph_bytes(self) -> bytes:
        response = self.http.request("GET", "/api/v1/graph")
        self.http.refuse_html(response)
        return response.content
