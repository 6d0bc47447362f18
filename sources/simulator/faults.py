"""Faults the simulator injects on purpose, so that a client's error handling can be tested against them.

Each fault is something a real node or the proxy in front of it does: a slow answer, a 503 while LND is
starting, no answer at all, no answer after the request was carried out (the client times out, yet LND applied
the change), a closed connection, a body cut short, a proxy's HTML error page, broken JSON, a policy update
that LND refuses for some channels, or one that LND acknowledges for some channels but that does not take.
They are set from Python (`RunningSimulator.faults`) or over HTTP (POST /_simulator/faults, admin macaroon),
and cleared the same way.
"""

import re
import threading
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

CHAN_POINT = re.compile(r"[0-9a-f]{64}:\d+")
DEFAULT_HANG_S = 60.0  # longer than any sane client timeout; a stopping server ends the hang at once
DEFAULT_HTML_STATUS = 502
DEFAULT_POLICY_FAILURE = "UPDATE_FAILURE_INTERNAL_ERR"
POLICY_FAILURE_REASONS = (
    "UPDATE_FAILURE_UNKNOWN",
    "UPDATE_FAILURE_PENDING",
    "UPDATE_FAILURE_NOT_FOUND",
    "UPDATE_FAILURE_INTERNAL_ERR",
    "UPDATE_FAILURE_INVALID_PARAMETER",
)


class FaultKind(StrEnum):
    UNAVAILABLE = "unavailable"  # 503 with rpcStatus code 14, as LND answers while it starts or shuts down
    HANG = "hang"  # no answer for hang_s, then the connection is closed
    HANG_AFTER_APPLY = "hang_after_apply"  # handled (a policy update is applied), then as HANG: no answer
    DROP = "drop"  # the connection is closed with no response at all
    TRUNCATE = "truncate"  # Content-Length promises the whole body, half of it comes, the connection closes
    HTML = "html"  # an HTML error page, as nginx or a tunnel in front of LND gives
    MALFORMED_JSON = "malformed_json"  # a 200 whose body is not valid JSON


@dataclass
class Fault:
    kind: FaultKind
    remaining: int
    path: str | None = None  # only requests to this path (no query string); None: any request
    hang_s: float = DEFAULT_HANG_S
    status: int = DEFAULT_HTML_STATUS
    skip: int = 0  # this many matching requests pass untouched first (a read after a write, not the one before)


class Faults:
    """Thread-safe: the server's request threads take faults while a test adds or clears them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._latency_ms = 0
        self._queue: list[Fault] = []
        self._policy_failures: dict[str, str] = {}
        self._ignored_updates: dict[str, None] = {}  # an ordered set of chan points
        self.released = threading.Event()  # set when the server stops, so that hanging requests end

    def set_latency(self, latency_ms: int) -> None:
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        with self._lock:
            self._latency_ms = latency_ms

    def inject(
        self,
        kind: FaultKind | str,
        *,
        count: int = 1,
        path: str | None = None,
        hang_s: float = DEFAULT_HANG_S,
        status: int = DEFAULT_HTML_STATUS,
        skip: int = 0,
    ) -> None:
        """The next `count` requests (to `path` if given), after `skip` that pass untouched, suffer `kind`."""
        if count < 1 or skip < 0:
            raise ValueError("count must be >= 1 and skip >= 0")
        if hang_s < 0 or not 400 <= status <= 599:
            raise ValueError("hang_s must be >= 0 and status an HTTP error status")
        fault = Fault(kind=FaultKind(kind), remaining=count, path=path, hang_s=hang_s, status=status, skip=skip)
        with self._lock:
            self._queue.append(fault)

    def fail_next(self, count: int = 1, *, path: str | None = None) -> None:
        self.inject(FaultKind.UNAVAILABLE, count=count, path=path)

    def fail_policy_updates(self, chan_points: list[str], *, reason: str = DEFAULT_POLICY_FAILURE) -> None:
        """Policy updates of these channels ("txid:index") fail, listed in failed_updates, until cleared."""
        if reason not in POLICY_FAILURE_REASONS:
            raise ValueError(f"reason must be one of {', '.join(POLICY_FAILURE_REASONS)}")
        _check_chan_points(chan_points)
        with self._lock:
            self._policy_failures.update(dict.fromkeys(chan_points, reason))

    def ignore_policy_updates(self, chan_points: list[str]) -> None:
        """Policy updates of these channels ("txid:index") succeed, with no failed_updates, but change nothing."""
        _check_chan_points(chan_points)
        with self._lock:
            self._ignored_updates.update(dict.fromkeys(chan_points))

    def clear(self) -> None:
        with self._lock:
            self._latency_ms = 0
            self._queue.clear()
            self._policy_failures.clear()
            self._ignored_updates.clear()

    @property
    def latency_ms(self) -> int:
        return self._latency_ms

    def take(self, path: str) -> Fault | None:
        """The fault this request suffers, if any; it counts as one of the fault's `count`."""
        with self._lock:
            for fault in self._queue:
                if fault.path is None or fault.path == path:
                    if fault.skip:
                        fault.skip -= 1
                        continue
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._queue.remove(fault)
                    return fault
        return None

    def policy_failures(self) -> dict[str, str]:
        with self._lock:
            return dict(self._policy_failures)

    def ignored_updates(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._ignored_updates)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latency_ms": self._latency_ms,
                "inject": [asdict(fault) for fault in self._queue],
                "failed_updates": [
                    {"chan_point": point, "reason": reason} for point, reason in self._policy_failures.items()
                ],
                "ignored_updates": [{"chan_point": point} for point in self._ignored_updates],
            }

    def configure(self, body: dict[str, Any]) -> None:
        """Apply an HTTP request body: {"clear", "latency_ms", "inject", "failed_updates", "ignored_updates"}.

        Raises ValueError (or KeyError, TypeError) on a malformed body; "clear" is applied first.
        """
        if body.get("clear"):
            self.clear()
        if "latency_ms" in body:
            self.set_latency(_integer(body["latency_ms"], "latency_ms"))
        for item in body.get("inject", []):
            self.inject(
                item["kind"],
                count=_integer(item.get("count", 1), "count"),
                path=item.get("path"),
                hang_s=float(item.get("hang_s", DEFAULT_HANG_S)),
                status=_integer(item.get("status", DEFAULT_HTML_STATUS), "status"),
                skip=_integer(item.get("skip", 0), "skip"),
            )
        for item in body.get("failed_updates", []):
            self.fail_policy_updates([item["chan_point"]], reason=item.get("reason", DEFAULT_POLICY_FAILURE))
        for item in body.get("ignored_updates", []):
            self.ignore_policy_updates([item["chan_point"]])


def _check_chan_points(chan_points: list[str]) -> None:
    for point in chan_points:
        if not isinstance(point, str) or not CHAN_POINT.fullmatch(point):
            raise ValueError(f'a chan point is "txid:index", got {point!r}')


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value
