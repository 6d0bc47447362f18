import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework_simplejwt.tokens import AccessToken

from auth_vault import services
from auth_vault.models import Secret
from daznode.roles import Role, user_set_role
from sources.models import Source
from sources.simulator.tls import ensure_certificate
from tests.auth_vault.fixtures import ADMIN_MACAROON


@pytest.fixture
def api(client, db):
    cache.clear()
    operator = get_user_model().objects.create_user("otto")
    user_set_role(operator, Role.OPERATOR)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {AccessToken.for_user(operator)}"
    return client


def as_admin(client):
    root = get_user_model().objects.create_superuser("root", "", "a-long-test-password-1")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {AccessToken.for_user(root)}"
    return client


def test_an_admin_adds_an_lnd_source_with_its_vault_credential(api):
    api = as_admin(api)
    secret = services.secret_create(name="mac", kind=Secret.Kind.MACAROON, value=ADMIN_MACAROON, actor="t")
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


@pytest.fixture
def credentialed(db, tmp_path):
    secret = services.secret_create(name="mac", kind=Secret.Kind.MACAROON, value=ADMIN_MACAROON, actor="t")
    cert_path, _ = ensure_certificate(tmp_path)
    cert = services.secret_create(name="tls", kind=Secret.Kind.TLS_CERT, value=cert_path.read_bytes(), actor="t")
    return Source.objects.create(
        name="umbrel", kind=Source.Kind.LND, url="https://umbrel.local:8080", credential=secret, tls_certificate=cert
    )


@pytest.mark.parametrize(
    "change", [{"url": "http://attacker.example:9999"}, {"tls_certificate": None}, {"credential": None}]
)
def test_an_operator_cannot_move_a_sources_secret_or_where_it_goes(api, credentialed, change):
    response = api.patch(f"/api/v1/sources/{credentialed.pk}", change, content_type="application/json")
    assert response.status_code == 403
    assert "needs the admin role" in response.json()["detail"]
    stored = Source.objects.get(pk=credentialed.pk)
    assert (stored.url, stored.credential_id, stored.tls_certificate_id) == (
        "https://umbrel.local:8080",
        credentialed.credential_id,
        credentialed.tls_certificate_id,
    )


def test_an_operator_cannot_give_a_new_source_a_secret_but_may_tune_one(api, credentialed):
    response = api.post(
        "/api/v1/sources",
        {"name": "x", "kind": "lnd", "url": "https://x.example", "credential": credentialed.credential_id},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert (
        api.patch(
            f"/api/v1/sources/{credentialed.pk}", {"priority": 3, "enabled": False}, content_type="application/json"
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("mcp", "https://other.example"),
        ("lnbits", "https://lnbits.example"),
        ("public_graph", "https://graph.example/g.json"),
    ],
)
def test_a_credential_only_goes_to_a_source_of_its_kind(api, credentialed, kind, url):
    api = as_admin(api)
    response = api.post(
        "/api/v1/sources",
        {"name": "other", "kind": kind, "url": url, "credential": credentialed.credential_id},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "credential" in response.json()


def test_an_operator_may_send_back_a_sources_values_unchanged(api, credentialed):
    # A full PUT repeats url, credential and certificate: only a change to them needs the admin role.
    body = {
        "name": "umbrel",
        "kind": "lnd",
        "url": "https://umbrel.local:8080",
        "credential": credentialed.credential_id,
        "tls_certificate": credentialed.tls_certificate_id,
        "priority": 4,
        "enabled": True,
    }
    response = api.put(f"/api/v1/sources/{credentialed.pk}", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["priority"] == 4
    assert Source.objects.get(pk=credentialed.pk).priority == 4


def test_an_operator_may_repoint_a_source_that_holds_no_secret(api, db):
    source = Source.objects.create(name="graph", kind=Source.Kind.PUBLIC_GRAPH, url="https://graph.example/g.json")
    response = api.patch(
        f"/api/v1/sources/{source.pk}", {"url": "https://mirror.example/g.json"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert Source.objects.get(pk=source.pk).url == "https://mirror.example/g.json"
