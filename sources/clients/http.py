"""What every source client shares: explicit timeouts, retries with backoff and jitter on network errors and
5xx only, a client-side rate limit, a circuit breaker, one error hierarchy, and logs without secrets."""

import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from sources.clients.errors import (
    AuthenticationError,
    CircuitOpenError,
    ContractViolation,
    RateLimitedError,
    RequestRejected,
    SourceError,
    SourceTimeout,
    SourceUnavailable,
)

logger = logging.getLogger("sources.clients")

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RATE_PER_MINUTE = 100


@dataclass(frozen=True)
class ClientConfig:
    name: str
    base_url: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_retries: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0
    verify: ssl.SSLContext | bool = True


class RateLimiter:
    """A token bucket: `rate_per_minute` requests a minute on average, bursts up to that many."""

    def __init__(self, rate_per_minute: int, *, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(rate_per_minute)
        self.tokens = self.capacity
        self.per_second = rate_per_minute / 60.0
        self.clock = clock
        self.updated = clock()
        self.lock = threading.Lock()

    def wait_time(self) -> float:
        """Take a token if there is one (returns 0), otherwise how long until there will be."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.per_second


class CircuitBreaker:
    """Closed, then open after `threshold` consecutive failures, then half-open (one trial) after `cooldown_s`.

    The state lives in `store`, a mapping, so that the factory and the health endpoint can share it across
    processes (the Django cache) or tests can use a plain dict.
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(
        self,
        key: str,
        *,
        threshold: int,
        cooldown_s: float,
        store: MutableMapping | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.key, self.threshold, self.cooldown_s, self.clock = key, threshold, cooldown_s, clock
        self.store = store if store is not None else {}

    def _load(self) -> dict:
        return self.store.get(self.key) or {"failures": 0, "opened_at": None}

    def state(self) -> str:
        data = self._load()
        if data["opened_at"] is None:
            return self.CLOSED
        return self.HALF_OPEN if self.clock() - data["opened_at"] >= self.cooldown_s else self.OPEN

    def before_call(self, source: str) -> None:
        if self.state() == self.OPEN:
            raise CircuitOpenError("circuit open after repeated failures; not calling", source=source)

    def record_success(self) -> None:
        self.store[self.key] = {"failures": 0, "opened_at": None}

    def record_failure(self) -> None:
        data = self._load()
        failures = data["failures"] + 1
        opened_at = self.clock() if failures >= self.threshold or data["opened_at"] is not None else None
        self.store[self.key] = {"failures": failures, "opened_at": opened_at}


@dataclass
class HttpClient:
    """JSON over HTTP with Daznode's rules. `headers` carry credentials and are never logged."""

    config: ClientConfig
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    transport: httpx.BaseTransport | None = None
    breaker: CircuitBreaker | None = None
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.config.rate_per_minute)
        if self.breaker is None:
            self.breaker = CircuitBreaker(
                self.config.name, threshold=self.config.breaker_threshold, cooldown_s=self.config.breaker_cooldown_s
            )
        self.http = httpx.Client(
            base_url=self.config.base_url,
            headers=self.headers,
            verify=self.config.verify,
            timeout=httpx.Timeout(self.config.timeout_s),
            transport=self.transport,
        )

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        response = self.request(method, path, params=params, json_body=json_body, idempotent=idempotent)
        return self.parse_json(response)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send, retrying network errors and 5xx (idempotent requests only), and map failures to SourceErrors."""
        idempotent = method == "GET" if idempotent is None else idempotent
        attempts = 1 + (self.config.max_retries if idempotent else 0)
        for attempt in range(1, attempts + 1):
            self.breaker.before_call(self.config.name)
            self._throttle()
            try:
                response = self._send(method, path, params, json_body, attempt)
                self.raise_for_status(response)
            except SourceError as exc:
                if exc.retryable:
                    self.breaker.record_failure()
                if not exc.retryable or attempt == attempts:
                    raise
                self.sleep(self._backoff(attempt))
                continue
            self.breaker.record_success()
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _throttle(self) -> None:
        wait_s = self.limiter.wait_time()
        if wait_s > self.config.timeout_s:
            raise RateLimitedError(
                f"client-side limit of {self.config.rate_per_minute}/min used up", source=self.config.name
            )
        if wait_s:
            self.sleep(wait_s)
            self.limiter.wait_time()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography

    def _send(self, method: str, path: str, params: dict | None, json_body: Any, attempt: int) -> httpx.Response:
        started = time.perf_counter()
        name = self.config.name
        try:
            response = self.http.request(method, path, params=params, json=json_body)
        except httpx.TimeoutException:
            self._log(method, path, None, started, attempt, "timeout")
            raise SourceTimeout(f"{method} {path} timed out after {self.config.timeout_s:g}s", source=name) from None
        except httpx.TransportError as exc:
            reason = _transport_reason(exc)
            self._log(method, path, None, started, attempt, reason)
            raise SourceUnavailable(f"{method} {path} failed: {reason}", source=name) from None
        self._log(method, path, response.status_code, started, attempt, "")
        return response

    def _log(self, method: str, path: str, status: int | None, started: float, attempt: int, error: str) -> None:
        logger.info(
            "source=%s method=%s path=%s status=%s elapsed_ms=%.1f attempt=%d error=%s",
            self.config.name,
            method,
            path,
            status,
            (time.perf_counter() - started) * 1000,
            attempt,
            error or "-",
        )

    def raise_for_status(self, response: httpx.Response) -> None:
        """Map an HTTP error to the hierarchy. Subclasses refine (LND sends auth failures as 500)."""
        status, name = response.status_code, self.config.name
        if status < 400:
            return
        message = error_message(response)
        if status in (401, 403):
            raise AuthenticationError(f"credential refused ({status}): {message}", source=name)
        if status == 429:
            raise RateLimitedError(f"the source asks to slow down: {message}", source=name)
        if status >= 500:
            raise SourceUnavailable(f"HTTP {status}: {message}", source=name)
        raise RequestRejected(f"HTTP {status}: {message}", source=name)

    def refuse_html(self, response: httpx.Response) -> None:
        """A proxy's error page arriving with 200 is not the answer the contract promises."""
        if "html" in response.headers.get("content-type", "") or response.content[:64].lstrip()[:1] == b"<":
            raise ContractViolation(
                f"expected JSON, got an HTML page (HTTP {response.status_code})", source=self.config.name
            )

    def parse_json(self, response: httpx.Response) -> Any:
        name = self.config.name
        self.refuse_html(response)
        try:
            return response.json()
        except UnicodeDecodeError:
            raise ContractViolation("the body is not UTF-8 JSON", source=name) from None
        except json.JSONDecodeError as exc:
            # A parse that fails at the very end of the body means the body was cut short.
            truncated = bool(exc.doc.strip()) and exc.pos >= len(exc.doc.rstrip())
            detail = "truncated" if truncated else "malformed"
            message = f"{detail} JSON body ({len(response.content)} bytes): {exc.msg}"
            raise ContractViolation(message, source=name) from None


def error_message(response: httpx.Response) -> str:
    """A short, safe description of an error response: rpcStatus / DRF / LNbits messages, or the status."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "HTML error page" if b"<html" in response.content[:500].lower() else response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            if isinstance(body.get(key), str):
                return body[key][:300]
    return response.reason_phrase


def _transport_reason(exc: httpx.TransportError) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS certificate not trusted (expired, or not the pinned tls.cert)"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or unreachable"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection dropped without a response"
    return type(exc).__name__


def pinned_tls_context(cert_pem: bytes) -> ssl.SSLContext:
    """Trust exactly this certificate (LND's self-signed tls.cert), nothing else."""
    context = ssl.create_default_context(cadata=cert_pem.decode())
    context.check_hostname = True
    return context
