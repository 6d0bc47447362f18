"""From a configured Source row to a ready client: credentials from the vault, shared circuit breakers."""

from collections.abc import Iterator, MutableMapping
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from auth_vault.services import VaultError, secret_get
from sources.clients.errors import AuthenticationError
from sources.clients.http import CircuitBreaker
from sources.clients.lnd import LndClient
from sources.clients.public_graph import FileGraphSource, PublicGraphClient
from sources.interface import Capability, DataSourceInterface
from sources.models import Source

BREAKER_TTL_S = 7 * 86400
# What LND must allow for Daznode to read it; writing policies needs offchain:write as well.
LND_READ_PERMISSIONS = frozenset({"info:read", "offchain:read"})
LND_WRITE_PERMISSIONS = LND_READ_PERMISSIONS | {"offchain:write"}


class CacheMapping(MutableMapping):
    """Circuit-breaker state in the Django cache, so web, worker and beat see the same circuits."""

    prefix = "daznode:breaker:"

    def __getitem__(self, key: str):
        value = cache.get(self.prefix + key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value) -> None:
        cache.set(self.prefix + key, value, BREAKER_TTL_S)

    def __delitem__(self, key: str) -> None:
        cache.delete(self.prefix + key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def breaker_for(source: Source) -> CircuitBreaker:
    return CircuitBreaker(
        f"source:{source.pk}",
        threshold=settings.DAZNODE_SOURCE_BREAKER_THRESHOLD,
        cooldown_s=settings.DAZNODE_SOURCE_BREAKER_COOLDOWN.total_seconds(),
        store=CacheMapping(),
    )


def kind_capabilities(kind: str) -> frozenset[Capability]:
    from sources.clients.lnbits import LnbitsClient
    from sources.clients.mcp import McpClient

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
        raise AuthenticationError(f"the credential is a {source.credential.kind}, not a {expected}", source=source.name)
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


def client_for(source: Source, *, actor: str = "system", write: bool = False) -> DataSourceInterface:
    """A client for the source; `write` (LND only) also requires the macaroon to allow policy updates."""
    common = {
        "name": source.name,
        "timeout_s": settings.DAZNODE_SOURCE_TIMEOUT.total_seconds(),
        "rate_per_minute": settings.DAZNODE_SOURCE_RATE_PER_MINUTE,
        "breaker": breaker_for(source),
    }
    if source.kind == Source.Kind.LND:
        required = LND_WRITE_PERMISSIONS if write else LND_READ_PERMISSIONS
        macaroon = _credential(source, actor=actor, required=required)
        return LndClient(url=source.url, macaroon=macaroon, tls_cert_pem=_certificate(source, actor=actor), **common)
    if source.kind == Source.Kind.LNBITS:
        from sources.clients.lnbits import LnbitsClient

        api_key = _text_credential(source, actor=actor)
        return LnbitsClient(url=source.url, api_key=api_key, **common)
    if source.kind == Source.Kind.MCP:
        from sources.clients.mcp import McpClient

        return McpClient(url=source.url, api_key=_text_credential(source, actor=actor), **common)
    if source.kind == Source.Kind.PUBLIC_GRAPH:
        return PublicGraphClient(url=source.url, **common)
    return FileGraphSource(path=Path(source.url), name=source.name)
