"""Bounded request parsing: deep nesting and oversized bodies are refused with a message, never a 500."""

import io
import json
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, reverse
from rest_framework_simplejwt.tokens import AccessToken

from daznode.parsers import BodyTooLarge, BoundedJSONParser, json_depth_exceeds
from daznode.urls import api_v1

DEEP = "[" * 1000 + "]" * 1000
WRITE_METHODS = ("post", "put", "patch")
SAMPLE_URL_ARGUMENTS = {"pk": 1, "chan_id": "1", "pubkey": "02" + "11" * 32}
# Endpoints that look up their object before reading the body answer 404 for an object that does not exist.
LOOKS_UP_FIRST = 404


@pytest.fixture(autouse=True)
def unlimited(settings):
    settings.RATELIMIT_ENABLE = False
    cache.clear()


@pytest.fixture
def admin_auth(db) -> dict:
    root = get_user_model().objects.create_superuser("root", "", "a-long-test-password-1")
    return {"HTTP_AUTHORIZATION": f"Bearer {AccessToken.for_user(root)}"}


def named_routes(patterns) -> list[URLPattern]:
    """Every route under /api/v1/, through the apps' included urls modules."""
    routes = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            routes.extend(named_routes(pattern.url_patterns))
        else:
            routes.append(pattern)
    return routes


def api_urls() -> list[str]:
    urls = []
    for pattern in named_routes(api_v1):
        arguments = {name: SAMPLE_URL_ARGUMENTS[name] for name in pattern.pattern.regex.groupindex}
        urls.append(reverse(f"api:{pattern.name}", kwargs=arguments))
    return urls


def test_it_reaches_every_app_s_routes():
    urls = api_urls()
    assert {"/api/v1/auth/token", "/api/v1/vault/secrets", "/api/v1/sources", "/api/v1/graph"} <= set(urls)
    assert {"/api/v1/channels", "/api/v1/decisions/preview", "/api/v1/system/kill-switch"} <= set(urls)


def test_it_counts_nesting_without_being_fooled_by_strings():
    assert json_depth_exceeds(DEEP, 64)
    assert json_depth_exceeds('{"a":' * 65 + "1" + "}" * 65, 64)
    assert not json_depth_exceeds('{"a":' * 64 + "1" + "}" * 64, 64)
    assert not json_depth_exceeds(json.dumps({"password": "[" * 500, "quote": '"{{{{' * 100}), 64)


def test_no_write_endpoint_answers_deep_json_with_a_500(client, admin_auth):
    answered = {}
    for url in api_urls():
        for method in WRITE_METHODS:
            response = getattr(client, method)(url, DEEP, content_type="application/json", **admin_auth)
            if response.status_code == 405:
                continue
            answered[f"{method.upper()} {url}"] = response.status_code
            assert response.status_code in (400, LOOKS_UP_FIRST), (method, url, response.content)
            if response.status_code == 400:
                assert "nested deeper than 64 levels" in response.json()["detail"], (method, url)
    refused = {endpoint for endpoint, status in answered.items() if status == 400}
    assert {
        "POST /api/v1/auth/token",
        "POST /api/v1/auth/token/refresh",
        "POST /api/v1/auth/logout",
        "POST /api/v1/sources",
        "POST /api/v1/vault/secrets",
        "POST /api/v1/decisions/preview",
        "POST /api/v1/system/kill-switch",
    } <= refused


def test_an_oversized_json_body_is_refused_with_413(client, admin_auth, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "graph", "kind": "file", "url": "/srv/" + "g" * 1000})
    response = client.post("/api/v1/sources", body, content_type="application/json", **admin_auth)
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body is larger than 1000 bytes."


def test_an_oversized_form_or_multipart_body_is_refused_with_413(client, admin_auth, settings, db):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    created = client.post("/api/v1/sources", {"name": "graph", "kind": "file", "url": "/srv/g.json"}, **admin_auth)
    assert created.status_code == 201, "a multipart body under the limit is parsed"
    url = f"/api/v1/sources/{created.json()['id']}"
    form = f"url=/srv/{'g' * 1000}"
    patched = client.patch(url, form, content_type="application/x-www-form-urlencoded", **admin_auth)
    assert patched.status_code == 413
    assert "larger than 1000 bytes" in patched.json()["detail"]
    multipart = client.post("/api/v1/sources", {"name": "big", "kind": "file", "url": "/" + "g" * 1000}, **admin_auth)
    assert multipart.status_code == 413
    assert client.get(url, **admin_auth).json()["url"] == "/srv/g.json"


def test_ordinary_bodies_still_work(client, admin_auth):
    body = {"name": "graph", "kind": "file", "url": "/srv/[[[graph]]].json"}
    response = client.post("/api/v1/sources", body, content_type="application/json", **admin_auth)
    assert response.status_code == 201
    assert response.json()["url"] == "/srv/[[[graph]]].json"


def test_the_json_parser_is_bounded_whatever_stream_it_is_given(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    with pytest.raises(BodyTooLarge):
        BoundedJSONParser().parse(io.BytesIO(b'"' + b"x" * 1000 + b'"'), parser_context={})
    assert BoundedJSONParser().parse(io.BytesIO(b'"' + b"x" * 998 + b'"'), parser_context={}) == "x" * 998


def test_a_body_of_quotes_is_refused_in_about_a_second_not_minutes(client, db):
    # A depth counter that scans strings with a backtracking pattern took 32 s on 80 KB of quotes: on the
    # anonymous login endpoint, that would hold a worker for as long as anyone likes.
    body = '"' + '\\"' * 300_000 + '"'
    started = time.monotonic()
    response = client.post("/api/v1/auth/token", body, content_type="application/json")
    assert response.status_code == 400
    assert time.monotonic() - started < 2
