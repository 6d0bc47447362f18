import logging
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from auth_vault.models import AccessCount, AccessEvent
from daznode.roles import Role, user_set_role
from tests.conftest import assert_not_leaked

PASSWORD = "a-long-test-password-1"


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()


@pytest.fixture
def viewer(db):
    user = get_user_model().objects.create_user("vera", password=PASSWORD)
    user_set_role(user, Role.VIEWER)
    return user


def post(client, url, data, **extra):
    return client.post(url, data, content_type="application/json", **extra)


def bearer(token) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_user_gets_tokens_and_the_access_token_opens_the_api(client, viewer):
    response = post(client, "/api/v1/auth/token", {"username": "vera", "password": PASSWORD})
    assert response.status_code == 200
    tokens = response.json()
    me = client.get("/api/v1/me", **bearer(tokens["access"]))
    assert me.status_code == 200
    assert me.json() == {"username": "vera", "role": "viewer"}
    assert AccessEvent.objects.filter(operation=AccessEvent.Operation.LOGIN, actor="user:vera").exists()


def test_a_refresh_rotates_the_refresh_token_and_the_old_one_is_refused(client, viewer):
    refresh = str(RefreshToken.for_user(viewer))
    rotated = post(client, "/api/v1/auth/token/refresh", {"refresh": refresh})
    assert rotated.status_code == 200
    assert set(rotated.json()) == {"access", "refresh"}
    again = post(client, "/api/v1/auth/token/refresh", {"refresh": refresh})
    assert again.status_code == 401
    assert "blacklisted" in again.json()["detail"]


def test_logout_blacklists_the_refresh_token(client, viewer):
    refresh = str(RefreshToken.for_user(viewer))
    assert post(client, "/api/v1/auth/logout", {"refresh": refresh}).status_code == 200
    assert post(client, "/api/v1/auth/token/refresh", {"refresh": refresh}).status_code == 401


def test_an_expired_access_token_is_refused(client, viewer):
    token = AccessToken.for_user(viewer)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=5))
    response = client.get("/api/v1/me", **bearer(token))
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_a_forged_token_is_refused(client, viewer):
    token = str(AccessToken.for_user(viewer))
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert client.get("/api/v1/me", **bearer(forged)).status_code == 401


def test_a_failed_login_is_refused_and_audited_without_the_password(client, viewer, caplog):
    caplog.set_level(logging.DEBUG)
    response = post(
        client, "/api/v1/auth/token", {"username": "vera", "password": "guessed-password-42"}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 401
    event = AccessEvent.objects.get(operation=AccessEvent.Operation.LOGIN_FAILED)
    assert (event.actor, event.ip, event.success) == ("user:vera", "203.0.113.9", False)
    assert "login failed for 'vera'" in caplog.text
    assert_not_leaked(caplog.text, "guessed-password-42")


def test_an_inactive_user_gets_no_token(client, viewer):
    viewer.is_active = False
    viewer.save()
    assert post(client, "/api/v1/auth/token", {"username": "vera", "password": PASSWORD}).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["{not json", "[]", '{"username": "vera"}'])
def test_malformed_login_requests_get_400(client, body):
    response = client.post("/api/v1/auth/token", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()


# django-ratelimit counts in fixed windows: day-long ones keep a test from straddling a window's end.


def test_the_token_endpoint_is_rate_limited_per_ip_with_retry_after(client, viewer, settings, caplog):
    settings.DAZNODE_RATE_LOGIN = "5/d"
    wrong = {"username": "vera", "password": "wrong-password-000"}
    statuses = [post(client, "/api/v1/auth/token", wrong, REMOTE_ADDR="198.51.100.7").status_code for _ in range(5)]
    assert statuses == [401] * 5
    limited = post(client, "/api/v1/auth/token", {"username": "vera", "password": PASSWORD}, REMOTE_ADDR="198.51.100.7")
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 86400
    assert "rate limited: POST /api/v1/auth/token" in caplog.text
    assert AccessCount.objects.get(operation=AccessEvent.Operation.RATE_LIMITED, ip="198.51.100.7").count == 1
    other_ip = post(
        client, "/api/v1/auth/token", {"username": "vera", "password": PASSWORD}, REMOTE_ADDR="198.51.100.8"
    )
    assert other_ip.status_code == 200


def test_reads_and_writes_are_limited_per_user_and_separately(client, settings, db):
    settings.DAZNODE_RATE_READ, settings.DAZNODE_RATE_WRITE = "3/d", "2/d"
    operator = get_user_model().objects.create_user("otto", password=PASSWORD)
    user_set_role(operator, Role.OPERATOR)
    auth = bearer(AccessToken.for_user(operator))
    reads = [client.get("/api/v1/sources", **auth).status_code for _ in range(4)]
    assert reads == [200, 200, 200, 429]
    source = {"name": "graph", "kind": "file", "url": "/srv/graph.json"}
    writes = [post(client, "/api/v1/sources", {**source, "name": f"g{i}"}, **auth).status_code for i in range(3)]
    assert writes == [201, 201, 429]

    other = get_user_model().objects.create_user("olga", password=PASSWORD)
    user_set_role(other, Role.VIEWER)
    assert client.get("/api/v1/sources", **bearer(AccessToken.for_user(other))).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/auth/token", "/api/v1/auth/token/refresh", "/api/v1/auth/logout"])
def test_deeply_nested_json_to_an_anonymous_endpoint_gets_400_not_500(client, url):
    response = client.post(url, "[" * 1000 + "]" * 1000, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested deeper than 64 levels."}


@pytest.mark.django_db
def test_json_nested_up_to_the_limit_reaches_the_endpoint(client):
    def login(levels: int):
        username = "[" * (levels - 1) + "]" * (levels - 1)  # inside the body's own object
        body = f'{{"username": {username}, "password": "x"}}'
        return client.post("/api/v1/auth/token", body, content_type="application/json").json()

    assert "username" in login(64), "refused by the serializer, not by the parser"
    assert login(65) == {"detail": "JSON parse error - nested deeper than 64 levels."}


def test_brackets_and_quotes_in_a_password_are_not_nesting(client, db):
    password = '[{"' * 100 + "\\"
    get_user_model().objects.create_user("brackets", password=password)
    response = post(client, "/api/v1/auth/token", {"username": "brackets", "password": password})
    assert response.status_code == 200


@pytest.mark.django_db
def test_an_oversized_login_request_gets_413(client, settings):
    body = '{"username": "vera", "password": "' + "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + '"}'
    response = client.post("/api/v1/auth/token", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["detail"] == f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
