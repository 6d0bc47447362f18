import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from auth_vault.api_keys import api_key_check, api_key_create, api_key_revoke
from auth_vault.models import ApiKey
from daznode.roles import Role, user_set_role
from tests.conftest import assert_not_leaked


@pytest.fixture
def viewer(db):
    cache.clear()
    user = get_user_model().objects.create_user("remote-daznode")
    user_set_role(user, Role.VIEWER)
    return user


def test_a_key_authenticates_as_its_user_with_its_role(client, viewer):
    _, key = api_key_create(user=viewer, name="home", actor="t")
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert me.status_code == 200
    assert me.json() == {"username": "remote-daznode", "role": "viewer"}
    assert client.get("/api/v1/users", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 403


def test_keys_with_underscores_in_their_random_part_work(viewer):
    keys = [api_key_create(user=viewer, name=f"k{i}", actor="t")[1] for i in range(40)]
    assert any(key.count("_") > 2 for key in keys), "token_urlsafe output often contains _"
    assert all(api_key_check(key) is not None for key in keys)


def test_only_a_hash_and_a_prefix_are_stored(viewer):
    api_key, key = api_key_create(user=viewer, name="home", actor="t")
    row = ApiKey.objects.values().get(pk=api_key.pk)
    assert_not_leaked(str(row), key)
    assert key.startswith(f"dzk_{api_key.prefix}_")


@pytest.mark.parametrize("header", ["Api-Key dzk_nope_nope", "Api-Key garbage", "Api-Key "])
def test_a_wrong_key_is_refused_with_401(client, viewer, header):
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid, expired or revoked API key."


def test_revoked_expired_and_inactive_keys_stop_working_at_once(client, viewer):
    revoked, revoked_key = api_key_create(user=viewer, name="a", actor="t")
    api_key_revoke(revoked, actor="t")
    _, expired_key = api_key_create(user=viewer, name="b", actor="t", expires_at=timezone.now() - timedelta(seconds=1))
    assert api_key_check(revoked_key) is None
    assert api_key_check(expired_key) is None
    _, key = api_key_create(user=viewer, name="c", actor="t")
    assert api_key_check(key) is not None
    viewer.is_active = False
    viewer.save()
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 401


def test_the_admin_shows_a_new_key_once_then_only_its_prefix(client, viewer):
    client.force_login(get_user_model().objects.create_superuser("root", "", "a-long-test-password-1"))
    response = client.post(reverse("admin:auth_vault_apikey_add"), {"name": "home", "user": viewer.pk})
    page = response.content.decode()
    api_key = ApiKey.objects.get()
    assert f'value="dzk_{api_key.prefix}_' in page
    key = page.split('value="dzk_', 1)[1].split('"', 1)[0]
    key = f"dzk_{key}"
    assert api_key_check(key) == api_key
    listing = client.get(reverse("admin:auth_vault_apikey_changelist")).content.decode()
    assert api_key.prefix in listing
    assert_not_leaked(listing, key)


def test_create_api_key_command(viewer):
    out = io.StringIO()
    call_command("create_api_key", "remote-daznode", "home", "--expires-in", "90d", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    assert api_key_check(key).expires_at > timezone.now() + timedelta(days=89)
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        call_command("create_api_key", "ghost", "x")
    with pytest.raises(CommandError, match="--expires-in must be a duration"):
        call_command("create_api_key", "remote-daznode", "x", "--expires-in", "soon")
