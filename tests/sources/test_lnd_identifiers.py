"""LND's answers carry identifiers (public keys, channel points, int64 strings): each is checked whole, so a
trailing newline or another script's digits is a contract violation naming the field, never half-used."""

import json

import pytest

from sources.clients.errors import ContractViolation
from sources.clients.lnd import LndClient
from tests.sources.servers import Reply, scripted_server

PUBKEY = "02" + "ab" * 32
GETINFO = {
    "identity_pubkey": PUBKEY,
    "alias": "ours",
    "version": "0.18.0-beta",
    "block_height": 850000,
    "synced_to_chain": True,
    "synced_to_graph": True,
    "num_active_channels": 1,
    "num_peers": 1,
}


def answering(body: dict):
    return scripted_server(lambda request: Reply(body=json.dumps(body).encode()))


def client(url: str) -> LndClient:
    return LndClient(url=url, macaroon=b"\x01\x02", timeout_s=5.0)


def test_a_well_formed_getinfo_is_read():
    with answering(GETINFO) as server, client(server.url) as lnd:
        assert lnd.get_info().identity_pubkey == PUBKEY


@pytest.mark.parametrize("pubkey", [PUBKEY + "\n", PUBKEY + " ", PUBKEY[:-1] + "\u0663", PUBKEY.upper()])
def test_a_public_key_that_is_not_exactly_one_is_a_contract_violation(pubkey):
    with answering({**GETINFO, "identity_pubkey": pubkey}) as server, client(server.url) as lnd:
        with pytest.raises(ContractViolation, match="identity_pubkey") as caught:
            lnd.get_info()
    assert "a node public key" in str(caught.value)


@pytest.mark.parametrize("height", ["850000\n", "\u0668\u0665\u0660", "\u00b2", "--5", "+5", ""])
def test_an_integer_string_that_is_not_ascii_digits_is_a_contract_violation(height):
    with answering({**GETINFO, "block_height": height}) as server, client(server.url) as lnd:
        with pytest.raises(ContractViolation, match="block_height"):
            lnd.get_info()


def test_a_negative_integer_string_is_still_read():
    with answering({**GETINFO, "block_height": "-5"}) as server, client(server.url) as lnd:
        assert lnd.get_info().block_height == -5


@pytest.mark.parametrize("pubkey", [PUBKEY + "\n", "../getinfo", PUBKEY + "?x=1"])
def test_a_node_lookup_refuses_a_key_that_would_change_the_url(pubkey):
    with answering({}) as server, client(server.url) as lnd:
        with pytest.raises(ValueError, match="66 lowercase hex"):
            lnd.get_node_info(pubkey)
    assert server.requests == []
