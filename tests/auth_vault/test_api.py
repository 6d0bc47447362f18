import base64
import logging

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework_simplejwt.tokens import AccessToken

from auth_vault.models import AccessEvent, Secret
from tests.auth_vault.fixtures import ADMIN_MACAROON, ADMIN_MACAROON_HEX, LNBITS_ADMIN_KEY
from tests.conftest import assert_not_leaked

URL = "/api/v1/vault/secrets"


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()


@pytest.fixture
def api(client, db, caplog):
    """A client logged in as an admin; every log line of the test is checked for the secrets afterwards."""
    caplog.set_level(logging.DEBUG)
    admin = get_user_model().objects.create_superuser("root", "", "a-long-test-password-1")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {AccessToken.for_user(admin)}"
    yield client
    assert_not_leaked(caplog.text, ADMIN_MACAROON, LNBITS_ADMIN_KEY, "rotated-lnbits-key-9876")


def create(api, **body):
    payload = {"name": "umbrel-admin", "kind": "macaroon", "value": ADMIN_MACAROON_HEX, "encoding": "hex", **body}
    return api.post(URL, payload, content_type="application/json")


def test_it_stores_a_macaroon_and_answers_with_metadata_only(api):
    response = create(api)
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["version"], body["type"], body["status"]) == ("umbrel-admin", 1, "admin", "active")
    assert body["warnings"][0].startswith("grants more than fee management needs")
    assert "value" not in body and "ciphertext" not in body
    assert_not_leaked(response.content.decode(), ADMIN_MACAROON)
    listing = api.get(URL)
    assert listing.json()["results"][0]["fingerprint"] == body["fingerprint"]
    assert_not_leaked(listing.content.decode(), ADMIN_MACAROON)


def test_it_accepts_base64_and_text(api):
    assert create(api, value=base64.b64encode(ADMIN_MACAROON).decode(), encoding="base64").status_code == 201
    lnbits = create(api, name="lnbits", kind="lnbits_key", value=LNBITS_ADMIN_KEY, encoding="text", type="admin")
    assert lnbits.status_code == 201
    assert lnbits.json()["type"] == "admin"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"value": "zz-not-hex"}, "value", "not valid hex"),
        ({"value": "00ff"}, "value", "not a valid macaroon"),
        ({"kind": "password"}, "kind", "is not a valid choice"),
        ({"name": "has spaces"}, "name", "letters, numbers, underscores or hyphens"),
        ({"permissions": ["sudo"]}, "permissions", "is not a valid choice"),
        ({"expires_at": "next tuesday"}, "expires_at", "Datetime has wrong format"),
    ],
)
def test_bad_input_gets_400_naming_the_field_and_stores_nothing(api, body, field, message):
    response = create(api, **body)
    assert response.status_code == 400
    assert message in str(response.json()[field])
    assert not Secret.objects.exists()


def test_a_missing_value_or_malformed_json_gets_400(api):
    assert (
        "This field is required."
        in api.post(URL, {"name": "x", "kind": "api_key"}, content_type="application/json").json()["value"]
    )
    assert api.post(URL, "{oops", content_type="application/json").status_code == 400


def test_a_second_secret_of_the_same_name_gets_409(api):
    create(api)
    response = create(api)
    assert response.status_code == 409
    assert "rotate it" in response.json()["detail"]
    assert Secret.objects.count() == 1


def test_rotate_and_revoke(api):
    secret_id = create(api, name="lnbits", kind="lnbits_key", value=LNBITS_ADMIN_KEY, encoding="text").json()["id"]
    rotated = api.post(
        f"{URL}/{secret_id}/rotate",
        {"value": "rotated-lnbits-key-9876", "grace_seconds": 60},
        content_type="application/json",
    )
    assert rotated.status_code == 201
    assert (rotated.json()["version"], rotated.json()["rotation_count"]) == (2, 1)
    assert Secret.objects.get(pk=secret_id).revoked_at is not None

    again = api.post(f"{URL}/{secret_id}/rotate", {"value": "x-1234567890"}, content_type="application/json")
    assert again.status_code == 409

    revoked = api.post(f"{URL}/{rotated.json()['id']}/revoke", {"reason": "leaked"}, content_type="application/json")
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    assert AccessEvent.objects.filter(operation="revoke", detail="leaked", actor="user:root").exists()


@pytest.mark.parametrize(
    "body", [{"value": "x" * 12, "grace_seconds": -1}, {"value": "x" * 12, "grace_seconds": "a"}, {}]
)
def test_bad_rotation_input_gets_400(api, body):
    secret_id = create(api, name="k", kind="api_key", value="an-api-key-1234", encoding="text").json()["id"]
    assert api.post(f"{URL}/{secret_id}/rotate", body, content_type="application/json").status_code == 400
    assert Secret.objects.count() == 1


def test_unknown_secrets_get_404(api):
    assert api.post(f"{URL}/999/rotate", {"value": "x" * 12}, content_type="application/json").status_code == 404
    assert api.post(f"{URL}/999/revoke", {}, content_type="application/json").status_code == 404
