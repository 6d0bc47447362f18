import io

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from auth_vault import services
from auth_vault.models import AccessEvent, Secret
from tests.auth_vault.fixtures import ADMIN_MACAROON, ADMIN_MACAROON_HEX, LNBITS_ADMIN_KEY
from tests.conftest import assert_not_leaked

Op = AccessEvent.Operation


@pytest.fixture
def admin_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "", "a-long-test-password-1"))
    return client


ADD = "admin:auth_vault_secret_add"


def test_an_admin_imports_a_macaroon_by_pasting_its_hex(admin_client):
    response = admin_client.post(
        reverse(ADD),
        {
            "name": "umbrel-admin",
            "kind": "macaroon",
            "secret_type": "custom",
            "value": ADMIN_MACAROON_HEX,
            "encoding": "hex",
        },
        follow=True,
    )
    assert response.status_code == 200
    secret = Secret.objects.get(name="umbrel-admin")
    assert secret.secret_type == Secret.Type.ADMIN
    page = response.content.decode()
    assert "grants more than fee management needs" in page
    assert_not_leaked(page, ADMIN_MACAROON)


def test_an_admin_imports_a_macaroon_file(admin_client):
    upload = io.BytesIO(ADMIN_MACAROON)
    upload.name = "admin.macaroon"
    admin_client.post(
        reverse(ADD),
        {"name": "umbrel-admin", "kind": "macaroon", "secret_type": "custom", "encoding": "hex", "upload": upload},
    )
    assert services.secret_get(Secret.objects.get(name="umbrel-admin"), actor="t") == ADMIN_MACAROON


def test_a_rejected_import_never_shows_the_value_back(admin_client):
    response = admin_client.post(
        reverse(ADD),
        {"name": "lnbits", "kind": "macaroon", "secret_type": "custom", "value": LNBITS_ADMIN_KEY, "encoding": "text"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "not a valid macaroon" in page
    assert_not_leaked(page, LNBITS_ADMIN_KEY)
    assert not Secret.objects.exists()


def test_paste_or_upload_exactly_one(admin_client):
    response = admin_client.post(
        reverse(ADD), {"name": "k", "kind": "api_key", "secret_type": "custom", "encoding": "text"}
    )
    assert "Paste a value or upload a file" in response.content.decode()
    assert not Secret.objects.exists()


def test_the_change_page_shows_metadata_and_offers_rotation_not_editing(admin_client):
    secret = services.secret_create(
        name="lnbits", kind=Secret.Kind.LNBITS_KEY, value=LNBITS_ADMIN_KEY.encode(), actor="t"
    )
    page = admin_client.get(reverse("admin:auth_vault_secret_change", args=[secret.pk])).content.decode()
    assert secret.fingerprint in page
    assert reverse("admin:auth_vault_secret_rotate", args=[secret.pk]) in page
    assert 'name="_save"' not in page
    assert_not_leaked(page, LNBITS_ADMIN_KEY)


def test_rotation_from_the_admin(admin_client):
    secret = services.secret_create(
        name="lnbits", kind=Secret.Kind.LNBITS_KEY, value=LNBITS_ADMIN_KEY.encode(), actor="t"
    )
    url = reverse("admin:auth_vault_secret_rotate", args=[secret.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"value": "new-lnbits-key-5555", "encoding": "text", "grace_minutes": 0})
    new = Secret.objects.get(name="lnbits", version=2)
    assert response["Location"] == reverse("admin:auth_vault_secret_change", args=[new.pk])
    assert services.secret_get(new, actor="t") == b"new-lnbits-key-5555"
    refused = admin_client.post(url, {"value": "another-key-5555", "encoding": "text", "grace_minutes": 0})
    assert "already rotated" in refused.content.decode()


def test_revocation_from_the_admin_list(admin_client):
    secret = services.secret_create(name="k", kind=Secret.Kind.API_KEY, value=b"an-api-key-1234", actor="t")
    admin_client.post(
        reverse("admin:auth_vault_secret_changelist"), {"action": "revoke_selected", "_selected_action": [secret.pk]}
    )
    secret.refresh_from_db()
    assert secret.status() == Secret.Status.REVOKED


def test_the_admin_cannot_delete_secrets_or_access_events(admin_client):
    secret = services.secret_create(name="k", kind=Secret.Kind.API_KEY, value=b"an-api-key-1234", actor="t")
    assert (
        admin_client.post(reverse("admin:auth_vault_secret_delete", args=[secret.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert Secret.objects.filter(pk=secret.pk).exists()
    assert admin_client.get(reverse("admin:auth_vault_accessevent_changelist")).status_code == 200


def test_every_change_from_the_admin_records_the_user_as_user_colon_name(admin_client):
    form = {"name": "k", "kind": "api_key", "secret_type": "custom", "value": "k-1234567890", "encoding": "text"}
    admin_client.post(reverse(ADD), form)
    secret = Secret.objects.get(name="k")
    rotate = reverse("admin:auth_vault_secret_rotate", args=[secret.pk])
    admin_client.post(rotate, {"value": "k-0987654321", "encoding": "text", "grace_minutes": 0})
    new = Secret.objects.get(name="k", version=2)
    changelist = reverse("admin:auth_vault_secret_changelist")
    admin_client.post(changelist, {"action": "revoke_selected", "_selected_action": [new.pk]})
    events = AccessEvent.objects.order_by("id").values_list("operation", "actor")
    assert list(events) == [(Op.CREATE, "user:root"), (Op.ROTATE, "user:root"), (Op.REVOKE, "user:root")]
