from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from auth_vault.models import Secret

CIPHERTEXT = b"\x8f\x11ciphertext-bytes-that-must-not-show"


@pytest.fixture
def secret(db):
    return Secret.objects.create(
        name="umbrel-readonly",
        kind=Secret.Kind.MACAROON,
        secret_type=Secret.Type.READONLY,
        permissions=["info", "offchain", "read"],
        ciphertext=CIPHERTEXT,
        nonce=b"\x00" * 12,
        key_id="k1",
        fingerprint="f" * 64,
    )


def test_a_secret_is_active_until_it_expires_or_is_revoked(secret):
    now = timezone.now()
    assert secret.status(now) == Secret.Status.ACTIVE
    secret.expires_at = now + timedelta(minutes=1)
    assert secret.status(now) == Secret.Status.ACTIVE
    assert secret.status(now + timedelta(minutes=1)) == Secret.Status.EXPIRED
    secret.revoked_at = now
    assert secret.status(now) == Secret.Status.REVOKED


def test_the_admin_shows_metadata_and_never_the_ciphertext(client, secret):
    client.force_login(get_user_model().objects.create_superuser("root", "", "a-long-test-password-1"))
    for url in (
        reverse("admin:auth_vault_secret_changelist"),
        reverse("admin:auth_vault_secret_change", args=[secret.pk]),
    ):
        page = client.get(url).content.decode()
        assert "umbrel-readonly" in page
        assert "ffffffffffffffff" in page
        assert "ciphertext-bytes" not in page
        assert "Ciphertext" not in page and "Nonce" not in page
