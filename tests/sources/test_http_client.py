import logging

import pytest

from sources.clients.errors import (
    AuthenticationError,
    CircuitOpenError,
    ContractViolation,
    RateLimitedError,
    RequestRejected,
    SourceTimeout,
    SourceUnavailable,
)
from sources.clients.http import CircuitBreaker, ClientConfig, HttpClient, RateLimiter
from sources.clients.lnd import LndClient
from tests.auth_vault.fixtures import ADMIN_MACAROON
from tests.conftest import free_port
from tests.sources.servers import Reply, scripted_server

SECRET_HEADER = "a1b2c3d4e5f6a7b8c9d0e1f2"


def client(url: str, **config) -> HttpClient:
    options = {"timeout_s": 2.0, "backoff_base_s": 0.01, "backoff_max_s": 0.02, **config}
    return HttpClient(ClientConfig(name="test-source", base_url=url, **options), headers={"X-Key": SECRET_HEADER})


def test_it_retries_a_5xx_with_backoff_then_succeeds():
    replies = iter([Reply(status=503), Reply(status=502), Reply(body=b'{"ok": true}')])
    with scripted_server(lambda request: next(replies)) as server, client(server.url) as http:
        assert http.request_json("GET", "/v1/getinfo") == {"ok": True}
    assert len(server.requests) == 3


def test_it_gives_up_after_its_retries_with_the_last_error():
    with scripted_server(lambda request: Reply(status=503, body=b'{"message": "busy"}')) as server:
        with client(server.url, max_retries=2) as http, pytest.raises(SourceUnavailable, match="HTTP 503: busy"):
            http.request_json("GET", "/x")
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (429, RateLimitedError),
        (400, RequestRejected),
        (404, RequestRejected),
    ],
)
def test_it_never_retries_a_4xx(status, error):
    with scripted_server(lambda request: Reply(status=status)) as server, client(server.url) as http:
        with pytest.raises(error):
            http.request_json("GET", "/x")
    assert len(server.requests) == 1


def test_a_non_idempotent_post_is_never_retried():
    with scripted_server(lambda request: Reply(status=503)) as server, client(server.url) as http:
        with pytest.raises(SourceUnavailable):
            http.request_json("POST", "/pay", json_body={"bolt11": "lnbc1"})
    assert len(server.requests) == 1


def test_a_slow_answer_is_a_timeout():
    with scripted_server(lambda request: Reply(delay_s=1.0)) as server:
        with client(server.url, timeout_s=0.2, max_retries=0) as http, pytest.raises(SourceTimeout, match=r"0\.2s"):
            http.request_json("GET", "/slow")


def test_a_dropped_connection_and_a_refused_one_are_unavailable():
    with scripted_server(lambda request: Reply(drop=True)) as server, client(server.url, max_retries=0) as http:
        with pytest.raises(SourceUnavailable, match="dropped"):
            http.request_json("GET", "/x")
    with client(f"http://127.0.0.1:{free_port()}", max_retries=0) as http:
        with pytest.raises(SourceUnavailable, match="connection refused"):
            http.request_json("GET", "/x")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(body=b"<html><body>502 Bad Gateway</body></html>", headers={"Content-Type": "text/html"}), "HTML page"),
        (Reply(body=b'{"channels": [{"chan_id": "1"'), "truncated JSON"),
        (Reply(body=b"{channels: nope}"), "malformed JSON"),
        (Reply(body=b"\xff\xfe\x00"), "not UTF-8 JSON|malformed JSON"),
    ],
)
def test_a_body_that_is_not_json_is_a_contract_violation(reply, message):
    with scripted_server(lambda request: reply) as server, client(server.url) as http:
        with pytest.raises(ContractViolation, match=message):
            http.request_json("GET", "/x")


def test_credentials_travel_in_headers_and_never_reach_the_logs(caplog):
    caplog.set_level(logging.DEBUG)
    with scripted_server(lambda request: Reply()) as server, client(server.url) as http:
        http.request_json("GET", "/v1/getinfo")
    assert server.requests[0].headers["X-Key"] == SECRET_HEADER
    assert "source=test-source method=GET path=/v1/getinfo status=200" in caplog.text
    assert SECRET_HEADER not in caplog.text


def test_the_rate_limiter_allows_a_burst_then_spaces_requests():
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert [limiter.wait_time() for _ in range(60)] == [0.0] * 60
    assert limiter.wait_time() == pytest.approx(1.0), "the 61st waits a second, its token reserved"
    assert limiter.wait_time() == pytest.approx(2.0), "so the 62nd waits for the next one"
    assert limiter.wait_time(max_wait_s=1.0) == pytest.approx(3.0), "a wait it will not take reserves nothing"
    now[0] += 3.0
    assert limiter.wait_time() == 0.0


def test_a_client_waits_for_its_rate_limit_and_refuses_a_wait_longer_than_its_timeout():
    slept = []
    with scripted_server(lambda request: Reply()) as server:
        http = client(server.url, rate_per_minute=2, timeout_s=60.0)
        http.sleep = slept.append
        http.request_json("GET", "/a")
        http.request_json("GET", "/b")
        http.request_json("GET", "/c")
        assert slept and 25 < slept[0] <= 30, "the third request in a minute waits for a token"
        tight = client(server.url, rate_per_minute=1, timeout_s=1.0)
        tight.request_json("GET", "/a")
        with pytest.raises(RateLimitedError, match="client-side limit of 1/min"):
            tight.request_json("GET", "/b")


def test_the_circuit_opens_after_repeated_failures_and_half_opens_after_the_cooldown():
    now = [1000.0]
    breaker = CircuitBreaker("s", threshold=3, cooldown_s=30, clock=lambda: now[0])
    for _ in range(3):
        breaker.record_failure()
    assert breaker.state() == CircuitBreaker.OPEN
    with pytest.raises(CircuitOpenError):
        breaker.before_call("s")
    now[0] += 30
    assert breaker.state() == CircuitBreaker.HALF_OPEN
    breaker.before_call("s")  # the trial
    assert breaker.state() == CircuitBreaker.OPEN, "open to everyone else while the trial runs"
    breaker.record_failure()
    assert breaker.state() == CircuitBreaker.OPEN, "a failed trial opens it again"
    now[0] += 30
    breaker.before_call("s")
    breaker.record_success()
    assert breaker.state() == CircuitBreaker.CLOSED


def test_an_open_circuit_refuses_without_calling_the_source():
    with scripted_server(lambda request: Reply(status=503)) as server:
        http = client(server.url, max_retries=0, breaker_threshold=2)
        for _ in range(2):
            with pytest.raises(SourceUnavailable):
                http.request_json("GET", "/x")
        with pytest.raises(CircuitOpenError):
            http.request_json("GET", "/x")
    assert len(server.requests) == 2


def test_half_open_lets_exactly_one_caller_through_and_gives_up_a_trial_that_never_reports():
    now = [1000.0]
    breaker = CircuitBreaker("s", threshold=1, cooldown_s=30, lease_s=60, clock=lambda: now[0])
    breaker.record_failure()
    now[0] += 30
    breaker.before_call("s")
    for _ in range(3):
        with pytest.raises(CircuitOpenError):
            breaker.before_call("s")
    now[0] += 60
    breaker.before_call("s")  # the first trial's process died: after its lease, another may try


def test_a_call_our_own_rate_limit_refuses_leaves_the_half_open_trial_to_another_caller():
    with scripted_server(lambda request: Reply(status=503)) as server:
        limited = client(server.url, max_retries=0, breaker_threshold=1, breaker_cooldown_s=0.0, rate_per_minute=1)
        with pytest.raises(SourceUnavailable):
            limited.request_json("GET", "/x")  # opens the circuit, and uses the only token of the minute
        with pytest.raises(RateLimitedError):
            limited.request_json("GET", "/x")  # refused by our own limit before the breaker is asked
        assert len(server.requests) == 1
        limited.breaker.before_call("test-source")  # the trial is still there to take


def test_a_4xx_answer_closes_the_circuit_the_source_is_reachable():
    replies = iter([Reply(status=503), Reply(status=404)])
    with scripted_server(lambda request: next(replies)) as server:
        http = client(server.url, max_retries=0, breaker_threshold=1, breaker_cooldown_s=0.0)
        with pytest.raises(SourceUnavailable):
            http.request_json("GET", "/x")
        with pytest.raises(RequestRejected):
            http.request_json("GET", "/x")  # the trial: answered, so the circuit closes
        assert http.breaker.state() == CircuitBreaker.CLOSED


# Python's json module recurses once per level: this raised RecursionError, outside the source error hierarchy.
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000


def test_an_answer_nested_too_deep_is_a_contract_violation_not_a_recursion_error():
    with scripted_server(lambda request: Reply(body=DEEP_JSON)) as server, client(server.url) as http:
        with pytest.raises(ContractViolation, match="nested deeper than 64 levels"):
            http.request_json("GET", "/x")
    assert len(server.requests) == 1, "a broken contract is not retried"


@pytest.mark.parametrize(("status", "error"), [(503, SourceUnavailable), (400, RequestRejected)])
def test_an_error_answer_nested_too_deep_is_reported_by_its_status(status, error):
    with scripted_server(lambda request: Reply(status=status, body=DEEP_JSON)) as server:
        with client(server.url, max_retries=0) as http, pytest.raises(error, match=f"HTTP {status}: "):
            http.request_json("GET", "/x")


def test_an_lnd_error_answer_nested_too_deep_is_a_source_error():
    # LND's error bodies are read for their gRPC code first (sources.clients.lnd._rpc_status).
    with scripted_server(lambda request: Reply(status=404, body=DEEP_JSON)) as server:
        with LndClient(url=server.url, macaroon=ADMIN_MACAROON) as lnd, pytest.raises(RequestRejected, match="404"):
            lnd.get_info()


def test_json_as_sources_send_it_still_parses():
    replies = iter([Reply(body=b'{"alias": "[[[{\\"\\\\"}'), Reply(body=b'\xef\xbb\xbf{"ok": true}')])
    with scripted_server(lambda request: next(replies)) as server, client(server.url) as http:
        assert http.request_json("GET", "/x") == {"alias": '[[[{"\\'}
        assert http.request_json("GET", "/x") == {"ok": True}, "a UTF-8 byte order mark is allowed"
