"""What every source client shares: explicit timeouts, retries with backoff and jitter on network errors and
5xx only, a client-side rate limit, a circuit breaker, one error hierarchy, and logs without secrets."""

import json
import logging
import math
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from daznode.bounded_json import JSON_MAX_DEPTH, JsonTooDeep, json_loads_bounded
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


class SharedState(Protocol):
    """Where circuit breakers and rate limits keep their state. Every method is one atomic step, so that
    processes sharing a store (sources.shared_state: Redis, or the database) can never both win a race.
    Times are seconds since the epoch, from the caller's clock."""

    def breaker_acquire(self, key: str, *, now: float, cooldown_s: float, lease_s: float) -> str:
        """CLOSED: go ahead. TRIAL: the circuit is half-open and this caller holds its one trial. OPEN: refused."""

    def breaker_peek(self, key: str) -> tuple[int, float | None, float | None]:
        """(consecutive failures, opened at, trial running until)."""

    def breaker_failure(self, key: str, *, now: float, threshold: int) -> None:
        """Count a failure; open at `threshold`, and re-open (ending the trial) when it was already open."""

    def breaker_success(self, key: str) -> None:
        """Close the circuit."""

    def bucket_take(self, key: str, *, now: float, capacity: float, per_second: float, max_wait_s: float) -> float:
        """Take a token: 0 when one was there, else the wait until it is; a wait over `max_wait_s` takes none."""


class MemoryState:
    """SharedState for one process (a client used on its own, and tests)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.breakers: dict[str, list] = {}
        self.buckets: dict[str, tuple[float, float]] = {}

    def breaker_acquire(self, key: str, *, now: float, cooldown_s: float, lease_s: float) -> str:
        with self.lock:
            record = self.breakers.setdefault(key, [0, None, None])
            return breaker_decision(record, now=now, cooldown_s=cooldown_s, lease_s=lease_s)

    def breaker_peek(self, key: str) -> tuple[int, float | None, float | None]:
        with self.lock:
            return tuple(self.breakers.get(key, (0, None, None)))

    def breaker_failure(self, key: str, *, now: float, threshold: int) -> None:
        with self.lock:
            record = self.breakers.setdefault(key, [0, None, None])
            record[0] += 1
            if record[0] >= threshold or record[1] is not None:
                record[1], record[2] = now, None

    def breaker_success(self, key: str) -> None:
        with self.lock:
            self.breakers.pop(key, None)

    def bucket_take(self, key: str, *, now: float, capacity: float, per_second: float, max_wait_s: float) -> float:
        with self.lock:
            tokens, updated = self.buckets.get(key, (capacity, now))
            tokens, wait_s = bucket_decision(tokens, updated, now=now, capacity=capacity, per_second=per_second)
            if wait_s <= max_wait_s:
                tokens -= 1
            self.buckets[key] = (tokens, max(now, updated))
            return wait_s


def breaker_decision(record: list, *, now: float, cooldown_s: float, lease_s: float) -> str:
    """The half-open rule, on a [failures, opened_at, trial_until] record the caller holds locked."""
    _, opened_at, trial_until = record
    if opened_at is None:
        return CircuitBreaker.CLOSED
    if now - opened_at < cooldown_s or (trial_until is not None and trial_until > now):
        return CircuitBreaker.OPEN
    record[2] = now + lease_s
    return CircuitBreaker.TRIAL


def bucket_decision(tokens: float, updated: float, *, now: float, capacity: float, per_second: float):
    """(tokens after refilling, seconds until one is available). A taker that waits reserves its token: the
    bucket goes below zero, so the next taker waits longer, and no two are promised the same token."""
    tokens = min(capacity, tokens + max(0.0, now - updated) * per_second)
    return tokens, 0.0 if tokens >= 1 else (1 - tokens) / per_second


class RateLimiter:
    """A token bucket: `rate_per_minute` requests a minute on average, bursts up to that many.

    The bucket lives in `state` under `key`: clients of one source built in different calls or processes
    share it when they share a store (the factory gives them one), which is the only way it limits anything.
    """

    def __init__(
        self,
        rate_per_minute: int,
        *,
        key: str = "",
        state: SharedState | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.capacity = float(rate_per_minute)
        self.per_second = rate_per_minute / 60.0
        self.key, self.clock = key, clock
        self.state = state if state is not None else MemoryState()

    def wait_time(self, max_wait_s: float = math.inf) -> float:
        """Take a token (0 when there was one, else the wait for it); a wait over `max_wait_s` takes nothing."""
        return self.state.bucket_take(
            self.key, now=self.clock(), capacity=self.capacity, per_second=self.per_second, max_wait_s=max_wait_s
        )


class CircuitBreaker:
    """Closed, then open after `threshold` consecutive failures, then half-open after `cooldown_s`: exactly one
    caller (the trial) goes through, the others are refused until it succeeds (closed) or fails (open again).
    A trial that never reports back (its process died) is given up after `lease_s`.

    The state lives in `state`, shared by the factory, the health checks and every process (sources.connect
    gives each source's breaker the shared store). Keep `cooldown_s` under the health-check interval, so that
    the first check after a source recovers is its trial.
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
    TRIAL = "trial"

    def __init__(
        self,
        key: str,
        *,
        threshold: int,
        cooldown_s: float,
        lease_s: float = 2 * DEFAULT_TIMEOUT_S,
        state: SharedState | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.key, self.threshold, self.cooldown_s, self.lease_s, self.clock = key, threshold, cooldown_s, lease_s, clock
        self.state_store = state if state is not None else MemoryState()

    def state(self) -> str:
        """As a caller would find it now: open while a trial is running, half-open when one may start."""
        _, opened_at, trial_until = self.state_store.breaker_peek(self.key)
        now = self.clock()
        if opened_at is None:
            return self.CLOSED
        if now - opened_at < self.cooldown_s or (trial_until is not None and trial_until > now):
            return self.OPEN
        return self.HALF_OPEN

    def before_call(self, source: str) -> None:
        decision = self.state_store.breaker_acquire(
            self.key, now=self.clock(), cooldown_s=self.cooldown_s, lease_s=self.lease_s
        )
        if decision == self.OPEN:
            raise CircuitOpenError("circuit open after repeated failures; not calling", source=source)

    def record_success(self) -> None:
        self.state_store.breaker_success(self.key)

    def record_failure(self) -> None:
        self.state_store.breaker_failure(self.key, now=self.clock(), threshold=self.threshold)


class HttpClient:
    """JSON over HTTP with Daznode's rules. `headers` carry credentials and are never logged."""

    def __init__(
        self,
        config: ClientConfig,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config, self.transport, self.sleep = config, transport, sleep
        self.limiter = RateLimiter(config.rate_per_minute, key=config.name) if limiter is None else limiter
        self.breaker = (
            CircuitBreaker(config.name, threshold=config.breaker_threshold, cooldown_s=config.breaker_cooldown_s)
            if breaker is None
            else breaker
        )
        self.http = httpx.Client(
            base_url=self.config.base_url,
            headers=headers or {},
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
            # Throttled first: a call our own limit refuses must not take the half-open trial, which would then
            # report neither success nor failure and keep every other caller out until its lease ran out.
            self._throttle()
            self.breaker.before_call(self.config.name)
            try:
                response = self._send(method, path, params, json_body, attempt)
                self.raise_for_status(response)
            except SourceError as exc:
                if exc.retryable:
                    self.breaker.record_failure()
                else:  # the source answered (a 4xx): it is reachable, which is all the breaker judges
                    self.breaker.record_success()
                # Once the circuit is open a retry would only be refused: report the failure that opened it.
                if not exc.retryable or attempt == attempts or self.breaker.state() != CircuitBreaker.CLOSED:
                    raise
                self.sleep(self._backoff(attempt))
                continue
            self.breaker.record_success()
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _throttle(self) -> None:
        wait_s = self.limiter.wait_time(max_wait_s=self.config.timeout_s)
        if wait_s > self.config.timeout_s:
            raise RateLimitedError(
                f"client-side limit of {self.config.rate_per_minute}/min used up", source=self.config.name
            )
        if wait_s:
            self.sleep(wait_s)  # the token is reserved: no second take after the wait

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
            return json_loads_bounded(response.content)
        except UnicodeDecodeError:
            raise ContractViolation("the body is not UTF-8 JSON", source=name) from None
        except JsonTooDeep:
            message = f"JSON body ({len(response.content)} bytes) nested deeper than {JSON_MAX_DEPTH} levels"
            raise ContractViolation(message, source=name) from None
        except json.JSONDecodeError as exc:
            # A parse that fails at the very end of the body means the body was cut short.
            truncated = bool(exc.doc.strip()) and exc.pos >= len(exc.doc.rstrip())
            detail = "truncated" if truncated else "malformed"
            message = f"{detail} JSON body ({len(response.content)} bytes): {exc.msg}"
            raise ContractViolation(message, source=name) from None


def error_message(response: httpx.Response) -> str:
    """A short, safe description of an error response: rpcStatus / DRF / LNbits messages, or the status."""
    try:
        body = json_loads_bounded(response.content)
    except ValueError:  # malformed, too deep, or not UTF-8 (UnicodeDecodeError is a ValueError too)
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
