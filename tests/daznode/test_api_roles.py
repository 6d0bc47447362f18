"""Each role against each endpoint: allowed at or above the declared role, refused below, 401 when anonymous."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework_simplejwt.tokens import AccessToken

from auth_vault import services
from auth_vault.models import Secret
from daznode.roles import RANK, Role, user_set_role
from sources.models import Source

WHO = ["anonymous", "no role", Role.VIEWER, Role.OPERATOR, Role.ADMIN]


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()


@pytest.fixture
def objects(db):
    source = Source.objects.create(name="lnd", kind=Source.Kind.LND, url="https://127.0.0.1:8080")
    secret = services.secret_create(name="api-key", kind=Secret.Kind.API_KEY, value=b"an-api-key-0123", actor="t")
    target = get_user_model().objects.create_user("target")
    return {"source": source.pk, "secret": secret.pk, "user": target.pk}


ENDPOINTS = [
    ("get", "/api/v1/me", None, Role.VIEWER),
    ("get", "/api/v1/sources", None, Role.VIEWER),
    ("get", "/api/v1/sources/{source}", None, Role.VIEWER),
    ("post", "/api/v1/sources", {"name": "file", "kind": "file", "url": "/srv/g.json"}, Role.OPERATOR),
    ("patch", "/api/v1/sources/{source}", {"priority": 5}, Role.OPERATOR),
    ("delete", "/api/v1/sources/{source}", None, Role.OPERATOR),
    ("get", "/api/v1/users", None, Role.ADMIN),
    ("put", "/api/v1/users/{user}/role", {"role": "viewer"}, Role.ADMIN),
    ("get", "/api/v1/vault/secrets", None, Role.ADMIN),
    ("post", "/api/v1/vault/secrets", {"name": "new", "kind": "api_key", "value": "another-key-123"}, Role.ADMIN),
    ("post", "/api/v1/vault/secrets/{secret}/rotate", {"value": "rotated-key-123"}, Role.ADMIN),
    ("post", "/api/v1/vault/secrets/{secret}/revoke", {}, Role.ADMIN),
    ("get", "/api/v1/decisions", None, Role.VIEWER),
    ("get", "/api/v1/audit", None, Role.VIEWER),
    ("get", "/api/v1/system/kill-switch", None, Role.VIEWER),
    ("post", "/api/v1/system/kill-switch", {"engaged": True, "reason": "test"}, Role.OPERATOR),
]


def headers_for(who) -> dict:
    if who == "anonymous":
        return {}
    user = get_user_model().objects.create_user(f"user-{who}")
    if who != "no role":
        user_set_role(user, who)
    return {"HTTP_AUTHORIZATION": f"Bearer {AccessToken.for_user(user)}"}


@pytest.mark.parametrize("who", WHO, ids=str)
@pytest.mark.parametrize(("method", "url", "body", "needed"), ENDPOINTS, ids=[f"{m} {u}" for m, u, _, _ in ENDPOINTS])
def test_each_role_against_each_endpoint(client, objects, who, method, url, body, needed):
    response = getattr(client, method)(url.format(**objects), body, content_type="application/json", **headers_for(who))
    if who == "anonymous":
        assert response.status_code == 401
    elif who == "no role" or RANK[who] < RANK[needed]:
        assert response.status_code == 403
        assert response.json() == {"detail": "Your role does not allow this."}
    else:
        assert 200 <= response.status_code < 300, response.content


def test_a_superuser_is_an_admin(client, objects):
    root = get_user_model().objects.create_superuser("root", "", "a-long-test-password-1")
    response = client.get("/api/v1/vault/secrets", HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(root)}")
    assert response.status_code == 200


def api_views(patterns=None, prefix=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from api_views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and prefix.startswith("api/"):
            yield prefix + str(pattern.pattern), pattern.callback.cls


def offered_methods(route: str) -> set[str]:
    callback = get_resolver().resolve("/" + route_url(route)).func
    actions = getattr(callback, "actions", None)  # viewsets map methods to actions
    return (
        set(actions) if actions else {m for m in ("get", "post", "put", "patch", "delete") if hasattr(callback.cls, m)}
    )


def route_url(route: str) -> str:
    return route.replace("<int:pk>", "1").replace("(?P<pk>[^/.]+)", "1").replace("^", "").replace("$", "")


def test_every_api_endpoint_declares_its_role_or_is_a_token_endpoint():
    views = list(api_views())
    assert len(views) >= 10
    for route, view in views:
        if getattr(view, "public", False):
            assert route.startswith("api/v1/auth/"), f"{route} is public but is not a token endpoint"
        else:
            assert getattr(view, "required_roles", None), f"{route} ({view.__name__}) declares no role"


@pytest.mark.django_db
def test_nothing_under_the_api_answers_anonymously_but_the_token_endpoints(client):
    for route, view in api_views():
        url = "/" + route_url(route)
        for method in ("get", "post", "put", "patch", "delete"):
            cache.clear()
            status = getattr(client, method)(url, {}, content_type="application/json").status_code
            if method not in offered_methods(route):
                assert status == 405, f"{method} {url}"
            elif not getattr(view, "public", False):
                assert status == 401, f"{method} {url}"


def test_a_view_that_declares_no_role_refuses_everyone(rf, db):
    from rest_framework.views import APIView

    from daznode.roles import HasRole

    class Forgotten(APIView):
        def get(self, request):
            raise AssertionError("never reached")

    request = rf.get("/")
    request.user = get_user_model().objects.create_superuser("root", "", "a-long-test-password-1")
    assert HasRole().has_permission(request, Forgotten()) is False
