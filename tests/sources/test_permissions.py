"""LND permissions: one table, checked against the simulator (which enforces LND's permission map) over real HTTP."""

import dataclasses
import re
from datetime import timedelta

import httpx
import pytest
from django.core.cache import cache
from django.utils import timezone

from auth_vault.macaroons import parse_macaroon
from channels.models import Channel
from channels.sync import read_node, sync_node
from daznode.lnd_permissions import (
    LND_CALLS,
    LND_READ_PERMISSIONS,
    LND_WRITE_PERMISSIONS,
    lnd_bake_command,
    lnd_call_for,
)
from sources.clients.errors import AuthenticationError
from sources.clients.lnd import LndClient
from sources.connect import client_for
from sources.demo import simulated_node_register
from sources.factory import AllSourcesFailed
from sources.models import Source
from sources.simulator import start_simulator
from sources.simulator.rest import ROUTES

SAMPLE_PATH_PARAMETER = "123"


@pytest.fixture(scope="module")
def sim():
    with start_simulator(seed=5, node_count=80) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_circuits(sim):
    cache.clear()
    sim.faults.clear()


def register(sim, permissions) -> None:
    simulated_node_register(name="sim", url=sim.url, macaroon=sim.mint(sorted(permissions)), cert_pem=None)


class RecordingTransport(httpx.HTTPTransport):
    def __init__(self):
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


def test_it_needs_peers_read_to_read_the_node_and_offchain_write_only_to_change_fees():
    assert sorted(LND_READ_PERMISSIONS) == ["info:read", "offchain:read", "peers:read"]
    assert sorted(LND_WRITE_PERMISSIONS - LND_READ_PERMISSIONS) == ["offchain:write"]


def test_it_asks_for_what_the_simulated_lnd_enforces_for_each_call():
    for call in LND_CALLS:
        path = re.sub(r"\{\w+\}", SAMPLE_PATH_PARAMETER, call.path)
        route = next(r for r in ROUTES if r.method == call.method and r.pattern.match(path))
        assert route.permission == call.permission, call.rpc


def test_it_knows_the_permission_of_every_call_the_client_makes(sim):
    transport = RecordingTransport()
    now = timezone.now()
    with LndClient(url=sim.url, macaroon=sim.admin_macaroon, transport=transport) as client:
        readout = read_node(client, now=now)
        client.describe_graph()
        client.channel_balance()
        channel = readout.channels[0]
        policy = client.get_chan_info(channel.chan_id).policy_of(readout.info.identity_pubkey)
        client.update_channel_policy(chan_point=channel.channel_point, policy=policy)
    used = {lnd_call_for(method=r.method, path=r.url.path) for r in transport.requests}
    assert None not in used, "a call the permission table does not know"
    assert used == set(LND_CALLS), "the table lists a call the client never makes"


def test_it_renders_the_bakemacaroon_line_from_the_table():
    assert lnd_bake_command(write=False) == "lncli bakemacaroon info:read offchain:read peers:read"
    assert lnd_bake_command(write=True) == "lncli bakemacaroon info:read offchain:read offchain:write peers:read"


def test_the_vault_warns_from_the_same_table(sim):
    # One table for the vault and the clients: what the vault calls enough is what the simulated LND accepts.
    assert parse_macaroon(sim.mint(sorted(LND_WRITE_PERMISSIONS))).warnings() == []
    [warning] = parse_macaroon(sim.admin_macaroon).warnings()
    assert warning.endswith(f"a narrower one: {lnd_bake_command(write=True)}")
    [missing] = parse_macaroon(sim.mint(sorted(LND_READ_PERMISSIONS))).warnings()
    assert missing == "lacks what fee management needs: offchain:write"


def test_it_syncs_with_a_macaroon_baked_with_exactly_the_read_permissions(sim, db):
    register(sim, LND_READ_PERMISSIONS)
    report = sync_node()
    assert report.channels == Channel.objects.filter(closed_at__isnull=True).count() == len(sim.node.channels)


@pytest.mark.parametrize("missing", sorted(LND_READ_PERMISSIONS))
def test_it_refuses_to_sync_naming_the_missing_read_permission(sim, db, missing):
    register(sim, LND_READ_PERMISSIONS - {missing})
    with pytest.raises(AllSourcesFailed, match=f"lacks the permission\\(s\\): {missing}"):
        sync_node()
    assert not Channel.objects.exists()


@pytest.mark.parametrize("missing", sorted(LND_READ_PERMISSIONS))
def test_the_node_refusing_a_read_names_the_missing_permission(sim, missing):
    # What the operator sees when the vault cannot tell (a macaroon whose permissions it could not read).
    macaroon = sim.mint(sorted(LND_READ_PERMISSIONS - {missing}))
    with LndClient(url=sim.url, macaroon=macaroon) as client:
        with pytest.raises(AuthenticationError, match=f"permission denied \\(\\w+ needs {missing}\\)"):
            read_node(client, now=timezone.now())


def _raise_our_fee(client):
    """Our pubkey, the channel and the policy sent to it: ours with 7 ppm more."""
    pubkey = client.get_info().identity_pubkey
    channel = client.list_channels()[0]
    policy = client.get_chan_info(channel.chan_id).policy_of(pubkey)
    wanted = dataclasses.replace(policy, fee_rate_ppm=policy.fee_rate_ppm + 7)
    client.update_channel_policy(chan_point=channel.channel_point, policy=wanted)
    return pubkey, channel.chan_id, wanted


def test_it_changes_fees_with_a_macaroon_baked_with_exactly_the_write_permissions(sim, db):
    register(sim, LND_WRITE_PERMISSIONS)
    sync_node()
    with client_for(Source.objects.get(name="sim"), actor="test", write=True) as client:
        pubkey, chan_id, wanted = _raise_our_fee(client)
        assert client.get_chan_info(chan_id).policy_of(pubkey).fee_rate_ppm == wanted.fee_rate_ppm


def test_it_refuses_to_change_fees_without_offchain_write_and_says_so(sim, db):
    register(sim, LND_READ_PERMISSIONS)
    with pytest.raises(AuthenticationError, match="lacks the permission\\(s\\): offchain:write"):
        client_for(Source.objects.get(name="sim"), actor="test", write=True)
    with LndClient(url=sim.url, macaroon=sim.mint(sorted(LND_READ_PERMISSIONS))) as client:
        before = client.fee_report()
        with pytest.raises(AuthenticationError, match="UpdateChannelPolicy needs offchain:write"):
            _raise_our_fee(client)
        assert client.fee_report() == before


def test_a_failure_other_than_a_missing_permission_names_none(sim):
    an_hour_ago = (timezone.now() - timedelta(hours=1)).isoformat()
    expired = sim.mint(sorted(LND_READ_PERMISSIONS), [f"time-before {an_hour_ago}"])
    with LndClient(url=sim.url, macaroon=expired) as client:
        with pytest.raises(AuthenticationError) as refused:
            client.get_info()
    assert "expired" in str(refused.value) and "needs" not in str(refused.value)
