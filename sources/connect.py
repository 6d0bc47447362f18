"""From a configured Source row to a ready client: credentials from the vault, circuit breakers and rate
limits shared by every process (sources.shared_state)."""

import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from auth_vault.services import VaultError, secret_get
from daznode.lnd_permissions import LND_READ_PERMISSIONS, LND_WRITE_PERMISSIONS
from sources.clients.errors import AuthenticationError
from sources.clients.http import CircuitBreaker, RateLimiter
from sources.clients.lnbits import LnbitsClient
from sources.clients.lnd import LndClient
from sources.clients.mcp import McpClient
from sources.clients.public_graph import FileGraphSource, PublicGraphClient
from sources.interface import Capability, DataSourceInterface
from sources.models import Source
from sources.shared_state import shared_state


def state_key(source: Source) -> str:
    """The source's key in the shared store. Its creation time is part of it: SQLite reuses the id of a deleted
    row, and a new source must not inherit a deleted one's open circuit or spent rate limit."""
    return f"source:{source.pk}:{source.created_at.timestamp():.6f}"


def breaker_for(source: Source, *, clock: Callable[[], float] = time.time) -> CircuitBreaker:
    timeout_s = settings.DAZNODE_SOURCE_TIMEOUT.total_seconds()
    return CircuitBreaker(
        state_key(source),
        threshold=settings.DAZNODE_SOURCE_BREAKER_THRESHOLD,
        cooldown_s=settings.DAZNODE_SOURCE_BREAKER_COOLDOWN.total_seconds(),
        lease_s=2 * timeout_s,  # a trial that has not reported back by then will not: its process is gone
        state=shared_state(),
        clock=clock,
    )


def limiter_for(source: Source, *, clock: Callable[[], float] = time.time) -> RateLimiter:
    return RateLimiter(
        settings.DAZNODE_SOURCE_RATE_PER_MINUTE, key=state_key(source), state=shared_state(), clock=clock
    )


def kind_capabilities(kind: str) -> frozenset[Capability]:
    return {
        Source.Kind.LND: LndClient.capabilities,
        Source.Kind.LNBITS: LnbitsClient.capabilities,
        Source.Kind.MCP: McpClient.capabilities,
        Source.Kind.PUBLIC_GRAPH: PublicGraphClient.capabilities,
        Source.Kind.FILE: FileGraphSource.capabilities,
    }[kind]


def _credential(source: Source, *, actor: str, required: frozenset[str] = frozenset()) -> bytes:
    if source.credential is None:
        raise AuthenticationError("no credential configured", source=source.name)
    expected = Source.CREDENTIAL_KINDS.get(source.kind)
    if source.credential.kind != expected:  # a key never travels to a source of another kind
        raise AuthenticationError(
            f"the credential is of kind {source.credential.kind}, this source takes {expected}", source=source.name
        )
    try:
        return secret_get(source.credential, actor=actor, required=set(required))
    except VaultError as exc:
        raise AuthenticationError(f"credential unusable: {exc}", source=source.name) from None


def _text_credential(source: Source, *, actor: str) -> str:
    try:
        return _credential(source, actor=actor).decode()
    except UnicodeDecodeError:
        raise AuthenticationError("the credential is not a text key", source=source.name) from None


def _certificate(source: Source, *, actor: str) -> bytes | None:
    if source.tls_certificate is None:
        return None
    try:
        return secret_get(source.tls_certificate, actor=actor)
    except VaultError as exc:
        raise AuthenticationError(f"TLS certificate unusable: {exc}", source=source.name) from None


def client_for(
    source: Source, *, actor: str = "system", write: bool = False, clock: Callable[[], float] = time.time
) -> DataSourceInterface:
    """A client for the source; `write` (LND only) also requires the macaroon to allow policy updates."""
    common = {
        "name": source.name,
        "timeout_s": settings.DAZNODE_SOURCE_TIMEOUT.total_seconds(),
        "rate_per_minute": settings.DAZNODE_SOURCE_RATE_PER_MINUTE,
        "breaker": breaker_for(source, clock=clock),
        "limiter": limiter_for(source, clock=clock),
    }
    if source.kind == Source.Kind.LND:
        required = LND_WRITE_PERMISSIONS if write else LND_READ_PERMISSIONS
        macaroon = _credential(source, actor=actor, required=required)
        return LndClient(url=source.url, macaroon=macaroon, tls_cert_pem=_certificate(source, actor=actor), **common)
    if source.kind == Source.Kind.LNBITS:
        api_key = _text_credential(source, actor=actor)
        return LnbitsClient(url=source.url, api_key=api_key, **common)
    if source.kind == Source.Kind.MCP:
        return McpClient(url=source.url, api_key=_text_credential(source, actor=actor), **common)
    if source.kind == Source.Kind.PUBLIC_GRAPH:
        return PublicGraphClient(url=source.url, **common)
    return FileGraphSource(path=Path(source.url), name=source.name)
