"""Identifiers in the channel endpoints' URLs are checked whole: anything but exactly one is a 400 with a message,
never a 404 or an empty answer."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from daznode.roles import Role, user_set_role

PUBKEY = "02" + "ab" * 32


@pytest.fixture
def viewer(db) -> Client:
    user = get_user_model().objects.create_user("victor")
    user_set_role(user, Role.VIEWER)
    return Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")


@pytest.mark.parametrize(
    "pubkey",
    [
        pytest.param(f"{PUBKEY}%0A", id="trailing-newline"),
        pytest.param(f"{PUBKEY}%20", id="trailing-space"),
        pytest.param(f"%20{PUBKEY}", id="leading-space"),
        pytest.param(f"{PUBKEY[:-1]}%D9%A3", id="arabic-indic-digit"),
        pytest.param(f"{PUBKEY[:-1]}%EF%BC%93", id="fullwidth-digit"),
        pytest.param(PUBKEY.upper(), id="upper-case"),
    ],
)
def test_a_node_that_is_not_exactly_a_public_key_gets_400(viewer, pubkey):
    response = viewer.get(f"/api/v1/nodes/{pubkey}/metrics")
    assert response.status_code == 400, response.content
    assert response.json() == {"pubkey": ["A node public key is 66 lowercase hex characters (33 bytes)."]}


def test_a_well_formed_public_key_gets_past_validation(viewer):
    response = viewer.get(f"/api/v1/nodes/{PUBKEY}/metrics")
    assert response.status_code == 404  # no analysed graph yet: the key itself was fine
    assert "no analysed graph" in response.json()["detail"]


@pytest.mark.parametrize("chan_id", ["820000000000000001%0A", "%20820000000000000001", "%D9%A1%D9%A2"])
def test_a_channel_that_is_not_exactly_a_channel_id_gets_400(viewer, chan_id):
    response = viewer.get(f"/api/v1/channels/{chan_id}/scores")
    assert response.status_code == 400, response.content
    assert "a channel id is a string of digits" in response.json()["chan_id"][0]
