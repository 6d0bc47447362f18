"""Logins must not starve reads: a password check costs about a second of CPU, so they are bounded per process and
refused at once beyond the bound (429 with Retry-After), and the web server serves reads on other threads meanwhile."""

import statistics
import threading
import time

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework_simplejwt.tokens import AccessToken

from auth_vault.models import AccessCount, AccessEvent
from daznode.api import LOGIN_BUSY_DETAIL, LOGIN_BUSY_RETRY_AFTER_S, password_check_slots
from daznode.roles import Role, user_set_role
from tests.conftest import child_env, free_port, running, test_database_url, wait_until

PASSWORD = "a-long-test-password-1"
CONCURRENT_LOGINS = 8
READ_LATENCY_LIMIT_S = 1.0


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()


@pytest.fixture
def viewer(db):
    user = get_user_model().objects.create_user("vera", password=PASSWORD)
    user_set_role(user, Role.VIEWER)
    return user


def login(client, **extra):
    credentials = {"username": "vera", "password": PASSWORD}
    return client.post("/api/v1/auth/token", credentials, content_type="application/json", **extra)


def test_it_refuses_a_login_beyond_the_bound_at_once_with_retry_after(client, viewer):
    with password_check_slots.claim() as granted:  # another login is being checked in this process
        assert granted
        busy = login(client, REMOTE_ADDR="192.0.2.10")
    assert busy.status_code == 429
    assert busy["Retry-After"] == str(LOGIN_BUSY_RETRY_AFTER_S)
    assert busy.json() == {"detail": LOGIN_BUSY_DETAIL}
    assert not AccessEvent.objects.filter(operation=AccessEvent.Operation.LOGIN_FAILED).exists(), "nothing checked"
    refused = AccessCount.objects.get(operation=AccessEvent.Operation.RATE_LIMITED)
    assert (refused.ip, refused.detail) == ("192.0.2.10", "API token busy")
    assert login(client, REMOTE_ADDR="192.0.2.10").status_code == 200, "the slot was given back"


def test_a_refused_or_failed_login_gives_its_slot_back(client, viewer):
    wrong = {"username": "vera", "password": "not-the-password-1"}
    assert client.post("/api/v1/auth/token", wrong, content_type="application/json").status_code == 401
    assert client.post("/api/v1/auth/token", "{not json", content_type="application/json").status_code == 400
    assert login(client).status_code == 200


def test_the_admin_login_form_is_bounded_too(client, viewer):
    form = {"username": "vera", "password": PASSWORD, "next": "/admin/"}
    with password_check_slots.claim():
        busy = client.post("/admin/login/", form)
    assert busy.status_code == 429
    assert busy["Retry-After"] == str(LOGIN_BUSY_RETRY_AFTER_S)
    assert client.get("/admin/login/").status_code == 200, "showing the form checks no password"


def test_the_rate_limit_is_checked_before_any_password_is(client, viewer, settings):
    settings.DAZNODE_RATE_LOGIN = "1/d"
    assert login(client, REMOTE_ADDR="192.0.2.11").status_code == 200
    with password_check_slots.claim():
        # Over its limit, a client is refused by the rate limit, before it could wait for or use a slot.
        limited = login(client, REMOTE_ADDR="192.0.2.11")
    assert limited.status_code == 429
    assert limited.json() != {"detail": LOGIN_BUSY_DETAIL}, "refused by the rate limit, not by the bound"


def timed_get(url: str, token: str) -> float:
    started = time.monotonic()
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return time.monotonic() - started


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_reads_stay_fast_while_logins_are_checked_on_a_real_gunicorn(tmp_path, viewer, settings):
    port = free_port()
    env = child_env(
        DAZNODE_DATA_DIR=str(tmp_path),
        DATABASE_URL=test_database_url(),
        SECRET_KEY=settings.SECRET_KEY,
        DAZNODE_RATE_LOGIN="1000/m",  # this test is about CPU, not about the per-address limit
    )
    command = ["gunicorn", "daznode.wsgi", "-c", "python:daznode.gunicorn_conf", "--bind", f"127.0.0.1:{port}"]
    log = tmp_path / "gunicorn.log"
    base = f"http://127.0.0.1:{port}"
    token = str(AccessToken.for_user(viewer))
    with running(command, env=env, log=log):

        def answered():
            try:
                return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answered, timeout=30, what="gunicorn to answer", log=log)
        for _ in range(6):  # load the URL configuration and views in every worker before measuring
            timed_get(f"{base}/api/v1/me", token)

        answers: list[httpx.Response] = []

        def log_in():
            credentials = {"username": "vera", "password": PASSWORD}
            answers.append(httpx.post(f"{base}/api/v1/auth/token", json=credentials, timeout=60))

        logins = [threading.Thread(target=log_in) for _ in range(CONCURRENT_LOGINS)]
        for thread in logins:
            thread.start()
        time.sleep(0.2)  # the logins have reached the server and are hashing
        latencies = [timed_get(f"{base}/api/v1/me", token) for _ in range(5)]
        for thread in logins:
            thread.join(timeout=60)

    statuses = sorted(answer.status_code for answer in answers)
    assert len(statuses) == CONCURRENT_LOGINS and set(statuses) <= {200, 429}, log.read_text()[-3000:]
    assert 200 in statuses, "the bound lets logins through, one per process at a time"
    assert all(answer.headers["Retry-After"] for answer in answers if answer.status_code == 429)
    assert max(latencies) < READ_LATENCY_LIMIT_S, f"reads took {latencies} (median {statistics.median(latencies):.3f}s)"
