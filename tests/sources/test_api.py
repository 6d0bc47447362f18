import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework_simplejwt.tokens import AccessToken

from auth_vault import services
from auth_vault.models import Secret
from daznode.roles import Role, user_set_role
from sources.models import Source


@pytest.fixture
def api(client, db):
    cache.clear()
    operator = get_user_model().objects.create_user("otto")
    user_set_role(operator, Role.OPERATOR)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {AccessToken.for_user(operator)}"
    return client


def test_an_operator_adds_an_lnd_source_with_its_vault_credential(api):
    secret = services.secret_create(name="mac", kind=Secret.Kind.API_KEY, value=b"an-api-key-1234", actor="t")
    response = api.post(
        "/api/v1/sources",
        {"name": "umbrel", "kind": "lnd", "url": "https://umbrel.local:8080", "credential": secret.pk, "priority": 10},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert Source.objects.get(name="umbrel").credential == secret


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "lnd", "kind": "lnd", "url": "ftp://umbrel.local"}, "url"),
        ({"name": "lnd", "kind": "lnd", "url": "https://x", "credential": 999}, "credential"),
        ({"name": "bad name!", "kind": "lnd", "url": "https://x"}, "name"),
        ({"name": "lnd", "kind": "smtp", "url": "https://x"}, "kind"),
        ({"name": "file", "kind": "file", "url": ""}, "url"),
        ({"name": "lnd", "kind": "lnd", "url": "https://x", "priority": -1}, "priority"),
    ],
)
def test_invalid_sources_get_400_naming_the_field(api, body, field):
    response = api.post("/api/v1/sources", body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Source.objects.exists()


def test_a_change_is_validated_against_the_whole_source(api):
    source = Source.objects.create(name="lnd", kind=Source.Kind.LND, url="https://umbrel.local:8080")
    response = api.patch(
        f"/api/v1/sources/{source.pk}", {"kind": "lnbits", "url": "umbrel.local"}, content_type="application/json"
    )
    assert response.status_code == 400
    source.refresh_from_db()
    assert (source.kind, source.url) == ("lnd", "https://umbrel.local:8080")


def test_a_tls_certificate_must_be_a_certificate(api):
    key = services.secret_create(name="k", kind=Secret.Kind.API_KEY, value=b"an-api-key-1234", actor="t")
    response = api.post(
        "/api/v1/sources",
        {"name": "lnd", "kind": "lnd", "url": "https://x", "tls_certificate": key.pk},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "tls_certificate" in response.json()
