"""The LND REST simulator: the contract (checked against lnd's own swagger), macaroons, policy updates,
forwarding history, faults, TLS, the synthetic graph and the simulate_lnd command. Real HTTP on loopback."""

import base64
import copy
import gzip
import io
import json
import re
import socket
import ssl
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import CommandError, call_command

from auth_vault.macaroons import parse_macaroon
from daznode.lightning import DEFAULT_MAX_FEE_RATE_PPM, Policy
from sources.clients.errors import SourceTimeout
from sources.clients.lnd import LndClient
from sources.simulator import (
    READONLY_PERMISSIONS,
    GraphError,
    Role,
    RunningSimulator,
    SimulatedNode,
    create_simulator,
    mint_macaroon,
    start_simulator,
    synthetic_graph,
)
from sources.simulator.macaroon import MacaroonError, verify_macaroon
from sources.simulator.roles import DEAREST_FEE_RATE_PPM, ROLE_ORDER
from tests.auth_vault.fixtures import ADMIN_MACAROON, INFO_READ_CAVEATS_MACAROON
from tests.conftest import SHARED, child_env, free_port, require_shared, run_manage, running, wait_until

SWAGGER = SHARED / "lnd" / "lightning.swagger.json"
MAINNET_GRAPH = SHARED / "graph" / "mainnet-2026-02-03.describegraph.json.gz"
MACAROON_HEADER = "Grpc-Metadata-macaroon"
INT64_STRING = re.compile(r"^-?\d+$")
PPM = 1_000_000
DAY_S = 86_400
NO_FAULTS = {"latency_ms": 0, "inject": [], "failed_updates": [], "ignored_updates": []}


def lnd(sim: RunningSimulator, macaroon: bytes | None = None, **kwargs) -> httpx.Client:
    headers = {MACAROON_HEADER: (sim.admin_macaroon if macaroon is None else macaroon).hex()}
    return httpx.Client(base_url=sim.url, headers=headers, timeout=kwargs.pop("timeout", 10), **kwargs)


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    """Shared by the tests that only read; tests that write or inject faults start their own."""
    with start_simulator(seed=7, node_count=600) as running_simulator:
        yield running_simulator


@pytest.fixture
def fresh_sim() -> Iterator[RunningSimulator]:
    with start_simulator(seed=11, node_count=400) as running_simulator:
        yield running_simulator


@pytest.fixture(scope="module")
def swagger() -> dict:
    return json.loads(require_shared(SWAGGER).read_text())


# -- the contract ---------------------------------------------------------------------------------------------


def assert_conforms(value, schema: dict, definitions: dict, where: str = "$", *, nullable: bool = False) -> None:
    """Keys exactly as the swagger definition, JSON types as LND's REST proxy writes them."""
    if "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[-1]]
        if value is None and nullable and "properties" in schema:
            return  # an unset sub-message is null
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} is not one of {schema['enum']}"
        return
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        assert isinstance(value, dict), f"{where}: expected an object, got {value!r}"
        assert set(value) == set(schema["properties"]), (
            f"{where}: missing {set(schema['properties']) - set(value)}, extra {set(value) - set(schema['properties'])}"
        )
        for key, item in value.items():
            assert_conforms(item, schema["properties"][key], definitions, f"{where}.{key}", nullable=True)
    elif kind == "object":
        assert isinstance(value, dict), f"{where}: expected a map, got {value!r}"
        for key, item in value.items():
            assert_conforms(item, schema.get("additionalProperties", {}), definitions, f"{where}[{key}]")
    elif kind == "array":
        assert isinstance(value, list), f"{where}: expected an array, got {value!r}"
        for index, item in enumerate(value):
            assert_conforms(item, schema["items"], definitions, f"{where}[{index}]")
    else:
        assert_scalar(value, schema, where)


def assert_scalar(value, schema: dict, where: str) -> None:
    kind, format_ = schema.get("type"), schema.get("format")
    if kind == "string":
        assert isinstance(value, str), f"{where}: expected a string, got {value!r}"
        if format_ in ("int64", "uint64"):
            assert INT64_STRING.match(value), f"{where}: {value!r} is not an integer string"
        if format_ == "byte":
            base64.b64decode(value, validate=True)
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: expected a number, got {value!r}"
    elif kind == "number":
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{where}: expected a number"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{where}: expected a boolean, got {value!r}"


def response_schema(swagger: dict, path: str, method: str) -> dict:
    return swagger["paths"][path][method]["responses"]["200"]["schema"]


def test_it_answers_every_read_endpoint_with_exactly_the_swagger_fields(sim, swagger):
    node = sim.node
    chan_id = node.channels[0].chan_id
    calls = [
        ("/v1/getinfo", "get", "/v1/getinfo"),
        ("/v1/graph", "get", "/v1/graph?include_unannounced=true&include_auth_proof=false"),
        ("/v1/graph/node/{pub_key}", "get", f"/v1/graph/node/{node.pubkey}?include_channels=true"),
        ("/v1/graph/edge/{chan_id}", "get", f"/v1/graph/edge/{chan_id}"),
        ("/v1/channels", "get", "/v1/channels"),
        ("/v1/fees", "get", "/v1/fees"),
        ("/v1/balance/channels", "get", "/v1/balance/channels"),
        ("/v1/peers", "get", "/v1/peers"),
    ]
    with lnd(sim) as client:
        for swagger_path, method, url in calls:
            response = client.get(url)
            assert response.status_code == 200, f"{url}: {response.text}"
            assert_conforms(
                response.json(), response_schema(swagger, swagger_path, method), swagger["definitions"], url
            )
        history = client.post("/v1/switch", json={"num_max_events": 50, "peer_alias_lookup": True})
    assert_conforms(history.json(), response_schema(swagger, "/v1/switch", "post"), swagger["definitions"])
    assert history.json()["forwarding_events"], "the history must not be empty, or its events go unchecked"


def test_it_fills_the_nested_messages_the_contract_describes(sim):
    """So that the swagger check above really covers HTLCs, constraints, peers' features and null policies."""
    with lnd(sim) as client:
        channels = client.get("/v1/channels").json()["channels"]
        graph = client.get("/v1/graph").json()
    assert any(channel["pending_htlcs"] for channel in channels)
    assert all(channel["local_constraints"] is not None for channel in channels)
    assert any(edge["node1_policy"] is None or edge["node2_policy"] is None for edge in graph["edges"])
    assert all(edge["auth_proof"] is None for edge in graph["edges"])


def test_it_answers_errors_and_policy_updates_with_exactly_the_swagger_fields(fresh_sim, swagger):
    body = {
        "chan_point": {"funding_txid_str": "ab" * 32, "output_index": 3},
        "base_fee_msat": "1",
        "time_lock_delta": 80,
    }
    with lnd(fresh_sim) as client:
        update = client.post("/v1/chanpolicy", json=body).json()
        error = client.get("/v1/graph/edge/1").json()
    assert update["failed_updates"], "a failed update, so that lnrpcFailedUpdate is checked too"
    assert_conforms(update, response_schema(swagger, "/v1/chanpolicy", "post"), swagger["definitions"])
    assert_conforms(error, swagger["definitions"]["rpcStatus"], swagger["definitions"])


def test_it_answers_errors_as_rpc_status_with_the_grpc_gateway_status_codes(sim):
    with lnd(sim) as client:
        not_found = client.get("/v1/nothing-here")
        wrong_method = client.post("/v1/getinfo")
        bad_body = client.post("/v1/switch", content=b"{not json")
        bad_chan_id = client.get("/v1/graph/edge/not-a-number")
        unknown_edge = client.get("/v1/graph/edge/1")
        unknown_node = client.get("/v1/graph/node/02" + "ab" * 32)
    assert (not_found.status_code, not_found.json()) == (404, {"code": 5, "message": "Not Found", "details": []})
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (501, 12)
    assert (bad_body.status_code, bad_body.json()["code"]) == (400, 3)
    assert (bad_chan_id.status_code, bad_chan_id.json()["code"]) == (400, 3)
    assert (unknown_edge.status_code, unknown_edge.json()["message"]) == (500, "edge not found")
    assert (unknown_node.status_code, unknown_node.json()["code"]) == (404, 5)


def test_it_keeps_channel_balances_consistent_with_capacity(sim):
    with lnd(sim) as client:
        channels = client.get("/v1/channels").json()["channels"]
        balance = client.get("/v1/balance/channels").json()
        info = client.get("/v1/getinfo").json()
    for channel in channels:
        htlcs_sat = sum(int(htlc["amount"]) for htlc in channel["pending_htlcs"])
        total_sat = int(channel["local_balance"]) + int(channel["remote_balance"]) + int(channel["commit_fee"])
        assert total_sat + htlcs_sat == int(channel["capacity"])
        assert int(channel["unsettled_balance"]) == htlcs_sat
    ratios = [int(channel["local_balance"]) / int(channel["capacity"]) for channel in channels]
    assert min(ratios) < 0.1 and max(ratios) > 0.6, "some channels drained, some mostly ours"
    assert int(balance["local_balance"]["sat"]) == sum(int(channel["local_balance"]) for channel in channels)
    assert info["num_active_channels"] == sum(channel["active"] for channel in channels)
    assert info["num_inactive_channels"] == sum(not channel["active"] for channel in channels)


def test_it_filters_channels_like_listchannels(sim):
    peer = sim.node.channels[0].remote_pubkey
    peer_b64 = base64.urlsafe_b64encode(bytes.fromhex(peer)).decode()
    with lnd(sim) as client:
        active = client.get("/v1/channels", params={"active_only": "true"}).json()["channels"]
        inactive = client.get("/v1/channels", params={"inactive_only": "true"}).json()["channels"]
        of_peer = client.get("/v1/channels", params={"peer": peer_b64, "peer_alias_lookup": "true"}).json()["channels"]
        both = client.get("/v1/channels", params={"active_only": "true", "inactive_only": "true"})
        bad_bool = client.get("/v1/channels", params={"active_only": "maybe"})
    assert all(channel["active"] for channel in active) and not any(channel["active"] for channel in inactive)
    assert len(active) + len(inactive) == len(sim.node.channels)
    assert of_peer and {channel["remote_pubkey"] for channel in of_peer} == {peer}
    assert of_peer[0]["peer_alias"] == sim.node.alias_of(peer)
    assert both.status_code == 500
    assert (bad_bool.status_code, bad_bool.json()["code"]) == (400, 3)


def test_it_lists_the_peers_of_active_channels_and_knows_our_node(sim):
    with lnd(sim) as client:
        peers = client.get("/v1/peers").json()["peers"]
        ours = client.get(f"/v1/graph/node/{sim.node.pubkey}", params={"include_channels": "true"}).json()
        without = client.get(f"/v1/graph/node/{sim.node.pubkey}").json()
    assert {peer["pub_key"] for peer in peers} == {c.remote_pubkey for c in sim.node.channels if c.active}
    assert ours["num_channels"] == len(ours["channels"]) == len(sim.node.channels)
    assert int(ours["total_capacity"]) == sum(channel.capacity_sat for channel in sim.node.channels)
    assert without["channels"] == [] and without["num_channels"] == len(sim.node.channels)


# -- macaroons ------------------------------------------------------------------------------------------------


def test_it_mints_a_macaroon_with_the_layout_of_a_real_lnd_admin_macaroon():
    real = parse_macaroon(ADMIN_MACAROON)
    minted = mint_macaroon(
        root_key=b"\x01" * 32,
        permissions=sorted(real.permissions),
        nonce=bytes.fromhex("f65286e21207df41cc77be0175cbb287"),
    )
    assert minted[:-32] == ADMIN_MACAROON[:-32]
    assert len(minted) == len(ADMIN_MACAROON)


def test_it_mints_caveats_as_lnd_bakes_them():
    real = parse_macaroon(INFO_READ_CAVEATS_MACAROON)
    minted = mint_macaroon(
        root_key=b"\x01" * 32,
        permissions=["info:read"],
        caveats=real.caveats,
        nonce=bytes.fromhex("f1c3ac8f073a46b6474e24b780a96c3f"),
    )
    assert minted[:-32] == INFO_READ_CAVEATS_MACAROON[:-32]


def test_the_project_decoder_reads_what_the_simulator_mints():
    caveats = ["time-before 2030-01-01T00:00:00Z", "ipaddr 127.0.0.1"]
    permissions = ["info:read", "offchain:read", "offchain:write", "peers:read"]
    decoded = parse_macaroon(
        mint_macaroon(root_key=b"k" * 32, permissions=permissions, caveats=caveats, nonce=b"n" * 16)
    )
    assert decoded.permissions == set(permissions)
    assert decoded.caveats == caveats
    assert decoded.location == "lnd"


def test_it_verifies_the_signature_chain_against_its_root_key():
    now = datetime.now(UTC)
    minted = mint_macaroon(root_key=b"a" * 32, permissions=["info:read"], caveats=["ipaddr 10.0.0.1"], nonce=b"n" * 16)
    verify_macaroon(minted, root_key=b"a" * 32, required=["info:read"], now=now, client_ip="10.0.0.1")
    with pytest.raises(MacaroonError, match="signature mismatch"):
        verify_macaroon(minted, root_key=b"b" * 32, required=["info:read"], now=now, client_ip="10.0.0.1")
    with pytest.raises(MacaroonError, match="different IP address"):
        verify_macaroon(minted, root_key=b"a" * 32, required=["info:read"], now=now, client_ip="10.0.0.2")
    stripped = minted.replace(b"ipaddr 10.0.0.1", b"ipaddr 10.0.0.2")  # a caveat changed: the chain breaks
    with pytest.raises(MacaroonError, match="signature mismatch"):
        verify_macaroon(stripped, root_key=b"a" * 32, required=["info:read"], now=now, client_ip="10.0.0.2")


def test_it_requires_a_macaroon_and_answers_as_lnd_when_it_is_missing(sim):
    response = httpx.get(f"{sim.url}/v1/getinfo")
    assert response.status_code == 500
    assert response.json() == {"code": 2, "message": "expected 1 macaroon, got 0", "details": []}


def test_it_refuses_a_macaroon_with_a_wrong_signature(sim):
    tampered = sim.admin_macaroon[:-1] + bytes([sim.admin_macaroon[-1] ^ 1])
    for macaroon in (tampered, ADMIN_MACAROON):  # flipped bit; a real admin macaroon from another node
        with lnd(sim, macaroon) as client:
            response = client.get("/v1/getinfo")
        assert response.status_code == 500
        assert response.json() == {
            "code": 2,
            "message": "verification failed: signature mismatch after caveat verification",
            "details": [],
        }


def test_it_lets_the_readonly_macaroon_read_but_not_update_policies(sim):
    assert parse_macaroon(sim.readonly_macaroon).permissions == set(READONLY_PERMISSIONS)
    body = {"global": True, "base_fee_msat": "1000", "fee_rate_ppm": 100, "time_lock_delta": 80}
    with lnd(sim, sim.readonly_macaroon) as client:
        assert client.get("/v1/fees").status_code == 200
        refused = client.post("/v1/chanpolicy", json=body)
    assert refused.status_code == 500
    assert refused.json() == {"code": 2, "message": "permission denied", "details": []}


def test_it_checks_time_before_caveats(sim):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    with lnd(sim, sim.mint(["info:read"], [f"time-before {future}"])) as client:
        assert client.get("/v1/getinfo").status_code == 200
    with lnd(sim, sim.mint(["info:read"], [f"time-before {past}"])) as client:
        expired = client.get("/v1/getinfo")
    assert expired.status_code == 500
    assert expired.json()["message"].endswith("not satisfied: macaroon has expired")


# -- policy updates -------------------------------------------------------------------------------------------


def our_side(edge: dict, pubkey: str) -> dict:
    return edge["node1_policy"] if edge["node1_pub"] == pubkey else edge["node2_policy"]


def test_it_shows_a_policy_update_in_the_graph_getchaninfo_and_feereport(fresh_sim):
    channel = fresh_sim.node.channels[0]
    txid, index = channel.chan_point.split(":")
    body = {
        "chan_point": {"funding_txid_str": txid, "output_index": int(index)},
        "base_fee_msat": "1234",
        "fee_rate_ppm": 567,
        "time_lock_delta": 144,
        "max_htlc_msat": str(channel.capacity_sat * 500),
        "min_htlc_msat": "2000",
        "min_htlc_msat_specified": True,
        "inbound_fee": {"base_fee_msat": -10, "fee_rate_ppm": -25},
    }
    with lnd(fresh_sim) as client:
        before_graph = client.get("/v1/graph").content
        assert client.post("/v1/chanpolicy", json=body).json() == {"failed_updates": []}
        graph = client.get("/v1/graph").json()
        edge = client.get(f"/v1/graph/edge/{channel.chan_id}").json()
        report = client.get("/v1/fees").json()
        listed = client.get("/v1/channels").json()["channels"]
    assert graph != json.loads(before_graph), "the cached graph must be refreshed after an update"
    [graph_edge] = [candidate for candidate in graph["edges"] if candidate["channel_id"] == channel.chan_id]
    for policy in (our_side(graph_edge, fresh_sim.node.pubkey), our_side(edge, fresh_sim.node.pubkey)):
        assert (policy["fee_base_msat"], policy["fee_rate_milli_msat"], policy["time_lock_delta"]) == (
            "1234",
            "567",
            144,
        )
        assert (policy["min_htlc"], policy["max_htlc_msat"]) == ("2000", str(channel.capacity_sat * 500))
        assert (policy["inbound_fee_base_msat"], policy["inbound_fee_rate_milli_msat"]) == (-10, -25)
        assert policy["last_update"] >= int(time.time()) - 5
    [fees] = [entry for entry in report["channel_fees"] if entry["chan_id"] == channel.chan_id]
    assert (fees["base_fee_msat"], fees["fee_per_mil"], fees["fee_rate"]) == ("1234", "567", 0.000567)
    assert (fees["inbound_base_fee_msat"], fees["inbound_fee_per_mil"]) == (-10, -25)
    # lnrpc.Channel carries no policy field: listchannels still lists the channel, unchanged otherwise.
    assert channel.chan_point in {entry["channel_point"] for entry in listed}


def test_it_reads_funding_txid_bytes_in_reversed_byte_order_as_lnd(fresh_sim):
    channel = fresh_sim.node.channels[1]
    txid, index = channel.chan_point.split(":")
    txid_bytes = base64.b64encode(bytes.fromhex(txid)[::-1]).decode()
    body = {
        "chan_point": {"funding_txid_bytes": txid_bytes, "output_index": int(index)},
        "base_fee_msat": "0",
        "fee_rate": 0.00025,
        "time_lock_delta": 40,
    }
    with lnd(fresh_sim) as client:
        assert client.post("/v1/chanpolicy", json=body).json() == {"failed_updates": []}
        edge = client.get(f"/v1/graph/edge/{channel.chan_id}").json()
    assert our_side(edge, fresh_sim.node.pubkey)["fee_rate_milli_msat"] == "250"


def test_it_applies_a_global_update_to_every_channel_and_keeps_unspecified_htlc_limits(fresh_sim):
    before = {c.chan_id: dict(fresh_sim.node.our_policy(c.chan_id)) for c in fresh_sim.node.channels}
    body = {"global": True, "base_fee_msat": "1", "fee_rate_ppm": 42, "time_lock_delta": 80, "min_htlc_msat": "9"}
    with lnd(fresh_sim) as client:
        assert client.post("/v1/chanpolicy", json=body).json() == {"failed_updates": []}
        report = client.get("/v1/fees").json()
    assert {(entry["base_fee_msat"], entry["fee_per_mil"]) for entry in report["channel_fees"]} == {("1", "42")}
    for chan_id, old in before.items():
        policy = fresh_sim.node.our_policy(chan_id)
        assert (policy["min_htlc"], policy["max_htlc_msat"]) == (old["min_htlc"], old["max_htlc_msat"])


def test_it_lists_an_unknown_chan_point_in_failed_updates(fresh_sim):
    txid = "ab" * 32
    body = {"chan_point": {"funding_txid_str": txid, "output_index": 3}, "base_fee_msat": "1", "time_lock_delta": 80}
    with lnd(fresh_sim) as client:
        response = client.post("/v1/chanpolicy", json=body)
    assert response.status_code == 200
    [failure] = response.json()["failed_updates"]
    assert failure["reason"] == "UPDATE_FAILURE_NOT_FOUND"
    assert failure["outpoint"] == {
        "txid_bytes": base64.b64encode(bytes.fromhex(txid)[::-1]).decode(),
        "txid_str": txid,
        "output_index": 3,
    }


def test_it_fails_a_max_htlc_above_the_in_flight_limit_for_that_channel_only(fresh_sim):
    channel = fresh_sim.node.channels[0]
    txid, index = channel.chan_point.split(":")
    body = {
        "chan_point": {"funding_txid_str": txid, "output_index": int(index)},
        "base_fee_msat": "1",
        "fee_rate_ppm": 1,
        "time_lock_delta": 80,
        "max_htlc_msat": str(channel.capacity_sat * 1000),  # LND caps it at the max in-flight amount, 99%
    }
    before = dict(fresh_sim.node.our_policy(channel.chan_id))
    with lnd(fresh_sim) as client:
        response = client.post("/v1/chanpolicy", json=body)
    [failure] = response.json()["failed_updates"]
    assert (response.status_code, failure["reason"]) == (200, "UPDATE_FAILURE_INVALID_PARAMETER")
    assert "is above max pending amount" in failure["update_error"]
    assert fresh_sim.node.our_policy(channel.chan_id) == before, "a failed channel keeps its whole policy"


@pytest.mark.parametrize(
    ("change", "status", "code", "message"),
    [
        ({"time_lock_delta": 17}, 500, 2, "time lock delta of 17 is too small, minimum supported is 18"),
        ({"time_lock_delta": None}, 500, 2, "time lock delta of 0 is too small, minimum supported is 18"),
        ({"fee_rate": 0.0001}, 400, 3, "cannot set both FeeRate and FeeRatePpm at the same time"),
        ({"chan_point": {"funding_txid_str": "ab" * 32}}, 400, 3, "oneof lnrpc.PolicyUpdateRequest.scope"),
        ({"global": None}, 500, 2, "unknown scope: <nil>"),
        ({"fee_rate_ppm": "lots"}, 400, 3, "invalid value"),
        ({"inbound_fee": {"base_fee_msat": 5}}, 500, 2, "positive values for inbound base fee msat are not supported"),
    ],
)
def test_it_refuses_invalid_policy_updates_like_lnd_and_changes_nothing(fresh_sim, change, status, code, message):
    before = fresh_sim.node.fee_report()
    body = {"global": True, "base_fee_msat": "1", "fee_rate_ppm": 100, "time_lock_delta": 80, **change}
    with lnd(fresh_sim) as client:
        response = client.post("/v1/chanpolicy", json={key: value for key, value in body.items() if value is not None})
    assert response.status_code == status
    assert response.json()["code"] == code
    assert message in response.json()["message"]
    assert fresh_sim.node.fee_report() == before


# -- forwarding history ---------------------------------------------------------------------------------------


def fetch_all_forwards(client: httpx.Client, **request) -> list[dict]:
    events, offset = [], 0
    while True:
        page = client.post("/v1/switch", json={**request, "index_offset": offset, "num_max_events": 100}).json()
        if not page["forwarding_events"]:
            return events
        assert page["last_offset_index"] == offset + len(page["forwarding_events"])
        events += page["forwarding_events"]
        offset = page["last_offset_index"]


def test_it_pages_the_forwarding_history_until_an_empty_page(sim):
    month_ago = str(int(time.time()) - 30 * DAY_S - 60)
    with lnd(sim) as client:
        paged = fetch_all_forwards(client, start_time=month_ago)
        whole = client.post("/v1/switch", json={"start_time": month_ago, "num_max_events": 50_000}).json()
        default = client.post("/v1/switch", json={}).json()
    assert len(paged) > 200
    assert paged == whole["forwarding_events"]
    assert len(default["forwarding_events"]) == 100, "100 events when num_max_events is not set"
    timestamps_ns = [int(event["timestamp_ns"]) for event in paged]
    assert timestamps_ns == sorted(timestamps_ns)


def test_it_records_forwards_whose_fees_match_our_policy(sim):
    """The shared simulator never receives a policy update, so today's policy is the one the forwards paid."""
    ours = {channel.chan_id for channel in sim.node.channels}
    now_s = int(time.time())
    with lnd(sim) as client:
        events = fetch_all_forwards(client)
        report = client.get("/v1/fees").json()
    policies = {entry["chan_id"]: entry for entry in report["channel_fees"]}
    for event in events:
        policy = policies[event["chan_id_out"]]
        amt_out_msat, fee_msat = int(event["amt_out_msat"]), int(event["fee_msat"])
        assert fee_msat == int(policy["base_fee_msat"]) + amt_out_msat * int(policy["fee_per_mil"]) // PPM
        assert int(event["amt_in_msat"]) - amt_out_msat == fee_msat
        assert (int(event["fee"]), int(event["amt_out"])) == (fee_msat // 1000, amt_out_msat // 1000)
        assert int(event["timestamp"]) == int(event["timestamp_ns"]) // 10**9
        assert now_s - 31 * DAY_S <= int(event["timestamp"]) <= now_s
        assert {event["chan_id_in"], event["chan_id_out"]} <= ours and event["chan_id_in"] != event["chan_id_out"]
    assert int(report["month_fee_sum"]) == sum(int(event["fee_msat"]) for event in events) // 1000
    assert int(report["day_fee_sum"]) <= int(report["week_fee_sum"]) <= int(report["month_fee_sum"])


def test_it_filters_the_history_by_time_and_channel(sim):
    start_s, end_s = int(time.time()) - 7 * DAY_S, int(time.time()) - 2 * DAY_S
    some_channel = sim.node.forwards[0].chan_id_out
    with lnd(sim) as client:
        window = fetch_all_forwards(client, start_time=str(start_s), end_time=str(end_s))
        outgoing = fetch_all_forwards(client, outgoing_chan_ids=[some_channel])
    assert window and all(start_s <= int(event["timestamp"]) <= end_s for event in window)
    assert outgoing and {event["chan_id_out"] for event in outgoing} == {some_channel}


# -- our channels: a mix of the kinds a fee manager meets ------------------------------------------------------


def roles_of(sim: RunningSimulator) -> dict[str, Role]:
    return {channel.chan_id: channel.role for channel in sim.node.channels}


def listed_by_role(sim: RunningSimulator) -> dict[Role, list[dict]]:
    """/v1/channels, grouped by the role the simulator gave each channel."""
    roles, grouped = roles_of(sim), {}
    with lnd(sim) as client:
        for channel in client.get("/v1/channels").json()["channels"]:
            grouped.setdefault(roles[channel["chan_id"]], []).append(channel)
    return grouped


def local_share(channel: dict) -> float:
    outgoing_sat = sum(int(htlc["amount"]) for htlc in channel["pending_htlcs"] if not htlc["incoming"])
    return (int(channel["local_balance"]) + outgoing_sat) / int(channel["capacity"])


def test_it_gives_our_node_one_channel_of_each_kind_and_leaves_the_rest_ordinary(sim):
    grouped = listed_by_role(sim)
    assert {role: len(channels) for role, channels in grouped.items() if role != Role.ORDINARY} == Counter(ROLE_ORDER)
    assert grouped[Role.ORDINARY], "the others are left to chance"
    assert all(local_share(channel) < 0.05 for channel in grouped[Role.DRAINED])
    assert all(0.05 <= local_share(channel) < 0.2 for channel in grouped[Role.DRAINING])
    assert all(local_share(channel) > 0.85 for channel in grouped[Role.IDLE_FULL])
    assert all(0.35 <= local_share(channel) <= 0.65 for channel in grouped[Role.EARNER])
    assert [channel["active"] for channel in grouped[Role.DEAD]] == [False]
    [abandoned] = grouped[Role.ABANDONED]
    assert abandoned["active"] and abandoned["initiator"] and abandoned["remote_balance"] == "0"
    assert (abandoned["total_satoshis_sent"], abandoned["total_satoshis_received"]) == ("0", "0")
    assert int(abandoned["uptime"]) < 0.25 * int(abandoned["lifetime"]), "its peer is mostly offline"


def test_it_gives_each_kind_of_channel_a_forwarding_history_that_fits(sim):
    roles, now_s = roles_of(sim), int(time.time())
    with lnd(sim) as client:
        events = fetch_all_forwards(client, start_time=str(now_s - 31 * DAY_S))
    out_by, in_by, recent_out_by, recent_by = Counter(), Counter(), Counter(), Counter()
    for event in events:
        out_by[roles[event["chan_id_out"]]] += 1
        in_by[roles[event["chan_id_in"]]] += 1
        if int(event["timestamp"]) >= now_s - 7 * DAY_S:
            recent_out_by[roles[event["chan_id_out"]]] += 1
        if int(event["timestamp"]) >= now_s - 15 * DAY_S:
            recent_by.update({roles[event["chan_id_out"]], roles[event["chan_id_in"]]})
    assert recent_out_by[Role.DRAINED] > 20 and recent_out_by[Role.DRAINING] > 20, "still sending out"
    assert in_by[Role.DRAINED] == in_by[Role.DRAINING] == 0, "nothing comes back"
    assert in_by[Role.IDLE_FULL] > 0 and out_by[Role.IDLE_FULL] == recent_by[Role.IDLE_FULL] == 0, "filled, then idle"
    assert 0 < out_by[Role.OVERPRICED] < 30 and in_by[Role.OVERPRICED] == 0, "a trickle"
    assert out_by[Role.EARNER] > 300 and in_by[Role.EARNER] > 300
    for silent in (Role.DEAD, Role.ABANDONED):
        assert out_by[silent] == in_by[silent] == 0


def competition(graph: dict, peer: str, ours: str) -> list[int]:
    """What the peer's other partners charge to route into it (their enabled policies toward it)."""
    rates = []
    for edge in graph["edges"]:
        if peer in (edge["node1_pub"], edge["node2_pub"]) and ours not in (edge["node1_pub"], edge["node2_pub"]):
            partner_policy = edge["node2_policy"] if edge["node1_pub"] == peer else edge["node1_policy"]
            if partner_policy and not partner_policy["disabled"]:
                rates.append(int(partner_policy["fee_rate_milli_msat"]))
    return rates


def test_it_prices_each_kind_of_channel_against_its_competition(sim):
    with lnd(sim) as client:
        graph = client.get("/v1/graph").json()
        fees = {entry["chan_id"]: int(entry["fee_per_mil"]) for entry in client.get("/v1/fees").json()["channel_fees"]}
    enabled = [p for e in graph["edges"] for p in (e["node1_policy"], e["node2_policy"]) if p and not p["disabled"]]
    network_median_ppm = statistics.median(int(policy["fee_rate_milli_msat"]) for policy in enabled)
    assert max(fees.values()) <= DEFAULT_MAX_FEE_RATE_PPM, "within Daznode's default bounds"
    for channel in sim.node.channels:
        rivals = competition(graph, channel.remote_pubkey, sim.node.pubkey)
        reference = statistics.median(rivals) if rivals else network_median_ppm
        fee = fees[channel.chan_id]
        if channel.role == Role.EARNER:
            assert 0.85 * reference - 1 <= fee <= 1.15 * reference + 1
        elif channel.role == Role.DRAINING:
            assert fee <= 0.4 * reference + 1, "cheaper than the competition: that is why it drains"
        elif channel.role in (Role.IDLE_FULL, Role.OVERPRICED, Role.ABANDONED):
            assert fee >= min(4 * network_median_ppm, DEAREST_FEE_RATE_PPM)
            assert fee >= min(max(rivals, default=0), DEAREST_FEE_RATE_PPM), "dearer than every competitor"


def test_it_dates_the_abandoned_channel_weeks_back_with_a_consistent_channel_id(sim):
    [abandoned] = [channel for channel in sim.node.channels if channel.role == Role.ABANDONED]
    age_days = (sim.node.block_height - (int(abandoned.chan_id) >> 40)) * 600 / DAY_S
    with lnd(sim) as client:
        edge = client.get(f"/v1/graph/edge/{abandoned.chan_id}")
        peers = {peer["pub_key"]: peer for peer in client.get("/v1/peers").json()["peers"]}
    assert 35 <= age_days <= 50, "old enough to judge (30 days), young enough to regret"
    assert edge.status_code == 200 and edge.json()["chan_point"] == abandoned.chan_point
    assert int(abandoned.chan_id) & 0xFFFF == int(abandoned.chan_point.split(":")[1])
    assert peers[abandoned.remote_pubkey]["flap_count"] == 30


def test_it_names_every_peer_readably_keeping_the_aliases_the_graph_has(tmp_path):
    graph = synthetic_graph(seed=5, node_count=300)
    ours = SimulatedNode(copy.deepcopy(graph), seed=5)
    peers = sorted({channel.remote_pubkey for channel in ours.channels})
    kept, blanked, missing = peers[0], peers[1], peers[2]
    for node in graph["nodes"]:
        if node["pub_key"] == blanked:
            node["alias"] = ""
    graph["nodes"] = [node for node in graph["nodes"] if node["pub_key"] != missing]
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(graph))
    with start_simulator(graph_path=path, seed=5) as named, lnd(named) as client:
        listed = client.get("/v1/channels", params={"peer_alias_lookup": "true"}).json()["channels"]
        served = {node["pub_key"]: node["alias"] for node in client.get("/v1/graph").json()["nodes"]}
    aliases = {channel["remote_pubkey"]: channel["peer_alias"] for channel in listed}
    assert named.node.pubkey == ours.pubkey and set(aliases) == set(peers)
    assert aliases[kept] == ours.alias_of(kept), "the graph's own alias is kept"
    assert re.fullmatch(r"[a-z]+-[a-z]+-[0-9a-f]{4}", aliases[blanked]) and served[blanked] == aliases[blanked]
    assert re.fullmatch(r"[a-z]+-[a-z]+-[0-9a-f]{4}", aliases[missing]) and missing not in served
    assert all(aliases.values())


def test_it_builds_the_same_node_from_the_same_seed():
    first, second = SimulatedNode.synthetic(seed=5, node_count=300), SimulatedNode.synthetic(seed=5, node_count=300)
    assert first.channels == second.channels and first.roles == second.roles
    assert first.describe_graph_json() == second.describe_graph_json()
    # The history is laid out back from the moment each node is built: the two may straddle a second.
    assert [replace(event, timestamp_ns=0) for event in first.forwards] == [
        replace(event, timestamp_ns=0) for event in second.forwards
    ]
    offsets = {b.timestamp_ns - a.timestamp_ns for a, b in zip(first.forwards, second.forwards, strict=True)}
    assert len(offsets) == 1 and abs(offsets.pop()) <= 5 * 10**9
    assert SimulatedNode.synthetic(seed=6, node_count=300).forwards != first.forwards


# -- faults ---------------------------------------------------------------------------------------------------


def test_it_adds_latency(fresh_sim):
    fresh_sim.faults.set_latency(300)
    with lnd(fresh_sim) as client:
        started = time.monotonic()
        assert client.get("/v1/getinfo").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_it_answers_the_next_requests_to_a_path_with_503_then_recovers(fresh_sim):
    fresh_sim.faults.fail_next(2, path="/v1/getinfo")
    with lnd(fresh_sim) as client:
        first = client.get("/v1/getinfo")
        other_path = client.get("/v1/fees")
        second = client.get("/v1/getinfo")
        third = client.get("/v1/getinfo")
    assert (first.status_code, first.json()) == (503, {"code": 14, "message": "unavailable", "details": []})
    assert (other_path.status_code, second.status_code, third.status_code) == (200, 503, 200)


def test_it_hangs_longer_than_the_client_timeout(fresh_sim):
    fresh_sim.faults.inject("hang", hang_s=30)
    with lnd(fresh_sim, timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.get("/v1/getinfo")
        assert time.monotonic() - started < 5
        assert client.get("/v1/getinfo").status_code == 200


def test_it_drops_the_connection_without_a_response(fresh_sim):
    fresh_sim.faults.inject("drop")
    with lnd(fresh_sim) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v1/getinfo")
        assert client.get("/v1/getinfo").status_code == 200


def test_it_truncates_a_body(fresh_sim):
    fresh_sim.faults.inject("truncate", path="/v1/channels")
    with lnd(fresh_sim) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v1/channels")
        assert client.get("/v1/channels").status_code == 200


def test_it_answers_with_a_proxy_html_page(fresh_sim):
    fresh_sim.faults.inject("html", status=502)
    with lnd(fresh_sim) as client:
        response = client.get("/v1/getinfo")
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html"
    assert response.text.startswith("<html>")


def test_it_answers_with_malformed_json(fresh_sim):
    fresh_sim.faults.inject("malformed_json", path="/v1/fees")
    with lnd(fresh_sim) as client:
        response = client.get("/v1/fees")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_it_fails_policy_updates_for_chosen_channels_and_applies_the_rest(fresh_sim):
    failing, healthy = fresh_sim.node.channels[0], fresh_sim.node.channels[1]
    old_rate = fresh_sim.node.our_policy(failing.chan_id)["fee_rate_milli_msat"]
    fresh_sim.faults.fail_policy_updates([failing.chan_point], reason="UPDATE_FAILURE_PENDING")
    body = {"global": True, "base_fee_msat": "0", "fee_rate_ppm": 321, "time_lock_delta": 80}
    with lnd(fresh_sim) as client:
        response = client.post("/v1/chanpolicy", json=body)
    assert response.status_code == 200
    [failure] = response.json()["failed_updates"]
    assert (failure["outpoint"]["txid_str"], failure["reason"]) == (failing.chan_point[:64], "UPDATE_FAILURE_PENDING")
    assert fresh_sim.node.our_policy(failing.chan_id)["fee_rate_milli_msat"] == old_rate != "321"
    assert fresh_sim.node.our_policy(healthy.chan_id)["fee_rate_milli_msat"] == "321"


def test_it_clears_faults(fresh_sim):
    fresh_sim.faults.set_latency(5000)
    fresh_sim.faults.fail_next(5)
    fresh_sim.faults.fail_policy_updates([fresh_sim.node.channels[0].chan_point])
    fresh_sim.faults.clear()
    with lnd(fresh_sim, timeout=2) as client:
        assert client.get("/v1/getinfo").status_code == 200
    assert fresh_sim.faults.snapshot() == NO_FAULTS


def test_it_takes_faults_over_http_with_the_admin_macaroon_only(fresh_sim):
    config = {"inject": [{"kind": "unavailable", "count": 1, "path": "/v1/peers"}], "latency_ms": 10}
    with lnd(fresh_sim, fresh_sim.readonly_macaroon) as readonly:
        assert readonly.post("/_simulator/faults", json=config).json()["message"] == "permission denied"
    with lnd(fresh_sim) as client:
        assert client.post("/_simulator/faults", json={"inject": [{"kind": "no-such-fault"}]}).status_code == 400
        state = client.post("/_simulator/faults", json=config).json()
        assert state["latency_ms"] == 10 and state["inject"][0]["path"] == "/v1/peers"
        assert client.get("/v1/peers").status_code == 503
        assert client.get("/v1/peers").status_code == 200
        client.post("/_simulator/faults", json={"inject": [{"kind": "drop", "count": 3}]})
        assert client.get("/_simulator/faults").json()["inject"][0]["remaining"] == 3, "not subject to faults"
        assert client.delete("/_simulator/faults").json() == NO_FAULTS
        assert client.get("/v1/peers").status_code == 200


def lnd_client(sim: RunningSimulator, *, timeout_s: float = 10) -> LndClient:
    client = LndClient(url=sim.url, macaroon=sim.admin_macaroon, timeout_s=timeout_s)
    client.http.sleep = lambda seconds: None  # retries go at once: the tests wait for timeouts, not backoff
    return client


def policy_of(client: LndClient, sim: RunningSimulator, chan_id: str) -> Policy:
    return client.get_chan_info(int(chan_id)).policy_of(sim.node.pubkey)


def with_new_fee_rate(policy: Policy) -> Policy:
    """The policy as read, max_htlc and all (so that LND's checks pass), with only the fee rate changed."""
    return replace(policy, fee_rate_ppm=policy.fee_rate_ppm + 111)


def test_it_applies_a_policy_update_then_hangs_until_the_client_times_out(fresh_sim):
    channel = fresh_sim.node.channels[0]
    with lnd_client(fresh_sim, timeout_s=0.5) as client:
        wanted = with_new_fee_rate(policy_of(client, fresh_sim, channel.chan_id))
        every_try = 1 + client.http.config.max_retries  # the update is idempotent: the client tries it again
        fresh_sim.faults.inject("hang_after_apply", count=every_try, path="/v1/chanpolicy", hang_s=30)
        started = time.monotonic()
        with pytest.raises(SourceTimeout, match=r"timed out after 0\.5s"):
            client.update_channel_policy(chan_point=channel.chan_point, policy=wanted)
        assert time.monotonic() - started < every_try * 0.5 + 3, "each try ends at the client's timeout"
        assert policy_of(client, fresh_sim, channel.chan_id) == wanted, "LND applied it; only the answer was lost"


def test_it_acknowledges_an_ignored_policy_update_but_changes_nothing(fresh_sim):
    ignored, other = fresh_sim.node.channels[0], fresh_sim.node.channels[1]
    fresh_sim.faults.ignore_policy_updates([ignored.chan_point])
    with lnd_client(fresh_sim) as client:
        before = policy_of(client, fresh_sim, ignored.chan_id)
        other_wanted = with_new_fee_rate(policy_of(client, fresh_sim, other.chan_id))
        client.update_channel_policy(chan_point=ignored.chan_point, policy=with_new_fee_rate(before))
        client.update_channel_policy(chan_point=other.chan_point, policy=other_wanted)
        assert policy_of(client, fresh_sim, ignored.chan_id) == before
        assert policy_of(client, fresh_sim, other.chan_id) == other_wanted


def test_it_answers_an_ignored_policy_update_with_an_empty_failed_updates(fresh_sim):
    channel = fresh_sim.node.channels[0]
    before = dict(fresh_sim.node.our_policy(channel.chan_id))
    fresh_sim.faults.ignore_policy_updates([channel.chan_point])
    body = {"global": True, "base_fee_msat": "0", "fee_rate_ppm": 321, "time_lock_delta": 80}
    with lnd(fresh_sim) as client:
        response = client.post("/v1/chanpolicy", json=body)
    assert (response.status_code, response.json()) == (200, {"failed_updates": []})
    assert fresh_sim.node.our_policy(channel.chan_id) == before
    assert fresh_sim.node.our_policy(fresh_sim.node.channels[1].chan_id)["fee_rate_milli_msat"] == "321"


def test_it_takes_hang_after_apply_and_ignored_updates_over_http_until_cleared(fresh_sim):
    hanging, ignored = fresh_sim.node.channels[0], fresh_sim.node.channels[1]
    with lnd_client(fresh_sim, timeout_s=0.5) as client, lnd(fresh_sim) as control:
        every_try = 1  # a policy update is sent once, never retried by the client: LND gossips each one it takes
        config = {
            "inject": [{"kind": "hang_after_apply", "path": "/v1/chanpolicy", "hang_s": 30, "count": every_try}],
            "ignored_updates": [{"chan_point": ignored.chan_point}],
        }
        state = control.post("/_simulator/faults", json=config).json()
        assert (state["inject"][0]["kind"], state["inject"][0]["remaining"]) == ("hang_after_apply", every_try)
        assert state["ignored_updates"] == [{"chan_point": ignored.chan_point}]
        hanging_wanted = with_new_fee_rate(policy_of(client, fresh_sim, hanging.chan_id))
        ignored_before = policy_of(client, fresh_sim, ignored.chan_id)
        with pytest.raises(SourceTimeout):
            client.update_channel_policy(chan_point=hanging.chan_point, policy=hanging_wanted)
        client.update_channel_policy(chan_point=ignored.chan_point, policy=with_new_fee_rate(ignored_before))
        assert policy_of(client, fresh_sim, hanging.chan_id) == hanging_wanted
        assert policy_of(client, fresh_sim, ignored.chan_id) == ignored_before
        fresh_sim.faults.clear()
        assert control.get("/_simulator/faults").json() == NO_FAULTS
        client.update_channel_policy(chan_point=ignored.chan_point, policy=with_new_fee_rate(ignored_before))
        assert policy_of(client, fresh_sim, ignored.chan_id) == with_new_fee_rate(ignored_before)


@pytest.mark.parametrize(
    "config",
    [
        {"ignored_updates": [{}]},
        {"ignored_updates": [{"chan_point": 5}]},
        {"ignored_updates": [{"chan_point": "not-a-chan-point"}]},
        {"ignored_updates": "abc"},
        {"inject": [{"kind": "hang_after_apply", "hang_s": -1}]},
    ],
)
def test_it_refuses_a_bad_fault_configuration_and_keeps_the_faults_it_had(fresh_sim, config):
    with lnd(fresh_sim) as client:
        response = client.post("/_simulator/faults", json=config)
    assert (response.status_code, response.json()["code"]) == (400, 3)
    assert "bad fault configuration" in response.json()["message"]
    assert fresh_sim.faults.snapshot() == NO_FAULTS


# -- TLS ------------------------------------------------------------------------------------------------------


def test_it_serves_https_with_a_self_signed_certificate_a_client_can_pin(tmp_path):
    with start_simulator(seed=3, node_count=200, tls_dir=tmp_path) as tls_sim:
        assert tls_sim.url.startswith("https://127.0.0.1:")
        assert tls_sim.cert_pem == (tmp_path / "tls.cert").read_bytes()
        pinned = ssl.create_default_context(cafile=str(tmp_path / "tls.cert"))
        with lnd(tls_sim, verify=pinned) as client:
            assert client.get("/v1/getinfo").json()["identity_pubkey"] == tls_sim.node.pubkey
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{tls_sim.url}/v1/getinfo")  # the system's CAs do not know a self-signed cert
    cert = x509.load_pem_x509_certificate(tls_sim.cert_pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert (tmp_path / "tls.key").stat().st_mode & 0o077 == 0


def test_it_keeps_a_valid_certificate_across_restarts_as_lnd_does(tmp_path):
    with start_simulator(seed=3, node_count=200, tls_dir=tmp_path) as first:
        cert = first.cert_pem
    with start_simulator(seed=3, node_count=200, tls_dir=tmp_path) as second:
        assert second.cert_pem == cert


def test_it_can_serve_an_expired_certificate(tmp_path):
    with start_simulator(seed=3, node_count=200, tls_dir=tmp_path, expired_cert=True) as tls_sim:
        cert = x509.load_pem_x509_certificate(tls_sim.cert_pem)
        assert cert.not_valid_after_utc < datetime.now(UTC)
        pinned = ssl.create_default_context(cafile=str(tmp_path / "tls.cert"))
        with lnd(tls_sim, verify=pinned) as client, pytest.raises(httpx.ConnectError, match="certificate has expired"):
            client.get("/v1/getinfo")


# -- the synthetic graph --------------------------------------------------------------------------------------

NODE_FIELDS = {"last_update", "pub_key", "alias", "addresses", "color", "features", "custom_records"}
EDGE_FIELDS = {
    "channel_id", "chan_point", "last_update", "node1_pub", "node2_pub", "capacity", "node1_policy", "node2_policy",
    "custom_records", "auth_proof",
}  # fmt: skip
POLICY_FIELDS = {
    "time_lock_delta", "min_htlc", "fee_base_msat", "fee_rate_milli_msat", "disabled", "max_htlc_msat",
    "last_update", "custom_records", "inbound_fee_base_msat", "inbound_fee_rate_milli_msat",
}  # fmt: skip


@pytest.fixture(scope="module")
def graph() -> dict:
    return synthetic_graph(seed=1)


def test_it_generates_the_same_graph_for_the_same_seed():
    assert synthetic_graph(seed=5, node_count=300) == synthetic_graph(seed=5, node_count=300)
    assert synthetic_graph(seed=5, node_count=300) != synthetic_graph(seed=6, node_count=300)


def test_it_generates_exactly_lnds_fields_and_types(graph):
    for node in graph["nodes"]:
        assert set(node) == NODE_FIELDS and isinstance(node["last_update"], int)
    for edge in graph["edges"]:
        assert set(edge) == EDGE_FIELDS
        assert INT64_STRING.match(edge["channel_id"]) and INT64_STRING.match(edge["capacity"])
        for policy in (edge["node1_policy"], edge["node2_policy"]):
            if policy is not None:
                assert set(policy) == POLICY_FIELDS
                assert all(INT64_STRING.match(policy[key]) for key in ("min_htlc", "fee_base_msat", "max_htlc_msat"))
                assert isinstance(policy["time_lock_delta"], int) and isinstance(policy["disabled"], bool)


def test_its_graph_conforms_to_the_swagger(graph, swagger):
    assert_conforms(graph, swagger["definitions"]["lnrpcChannelGraph"], swagger["definitions"])


def test_it_generates_valid_pubkeys_and_realistic_channel_ids(graph):
    pubkeys = [node["pub_key"] for node in graph["nodes"]]
    assert len(set(pubkeys)) == len(pubkeys) == 2000
    for pubkey in pubkeys[:200]:
        assert re.fullmatch(r"0[23][0-9a-f]{64}", pubkey)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), bytes.fromhex(pubkey))  # on the curve
    chan_ids = [edge["channel_id"] for edge in graph["edges"]]
    assert len(set(chan_ids)) == len(chan_ids)
    for edge in graph["edges"]:
        scid = int(edge["channel_id"])
        txid, output_index = edge["chan_point"].split(":")
        assert 500_000 <= scid >> 40 <= 950_000 and scid & 0xFFFF == int(output_index)
        assert re.fullmatch(r"[0-9a-f]{64}", txid)
        assert edge["node1_pub"] < edge["node2_pub"]


def test_it_generates_an_ln_like_topology(graph):
    degrees = Counter(pub for edge in graph["edges"] for pub in (edge["node1_pub"], edge["node2_pub"]))
    share_of_leaves = sum(1 for degree in degrees.values() if degree == 1) / len(graph["nodes"])
    pairs = {(edge["node1_pub"], edge["node2_pub"]) for edge in graph["edges"]}
    assert 0.40 <= share_of_leaves <= 0.65
    assert max(degrees.values()) >= 20 * statistics.median(degrees.values()), "a few hubs"
    assert len(pairs) < len(graph["edges"]), "some peers share several channels"
    assert len(degrees) == len(graph["nodes"]), "no isolated node"


def test_it_generates_ln_like_capacities_and_policies(graph):
    capacities_sat = [int(edge["capacity"]) for edge in graph["edges"]]
    policies = [policy for edge in graph["edges"] for policy in (edge["node1_policy"], edge["node2_policy"])]
    enabled = [policy for policy in policies if policy and not policy["disabled"]]
    disabled = [policy for policy in policies if policy and policy["disabled"]]
    assert 2_000_000 <= statistics.median(capacities_sat) <= 5_000_000
    assert min(capacities_sat) >= 20_000 and max(capacities_sat) <= 1_000_000_000
    assert 0.25 <= len(disabled) / len(policies) <= 0.40
    assert 0 < policies.count(None) < 0.05 * len(policies)
    assert all(policy["fee_rate_milli_msat"] == "0" and policy["time_lock_delta"] == 0 for policy in disabled)
    base_fees_msat = Counter(int(policy["fee_base_msat"]) for policy in enabled)
    rates_ppm = [int(policy["fee_rate_milli_msat"]) for policy in enabled]
    assert 5 <= statistics.median(base_fees_msat.elements()) <= 150
    assert {0, 1, 1000} <= {value for value, _ in base_fees_msat.most_common(4)}
    assert 50 <= statistics.median(rates_ppm) <= 200 and min(rates_ppm) >= 0 and max(rates_ppm) <= 5000
    assert statistics.median(policy["time_lock_delta"] for policy in enabled) == 80
    assert {policy["time_lock_delta"] for policy in enabled} == {18, 34, 40, 80, 144}


def test_it_picks_a_mid_size_routing_node_as_ours(sim):
    degree = len(sim.node.node_info(sim.node.pubkey, include_channels=True)["channels"])
    assert 10 <= degree <= 60
    assert sum(channel.active for channel in sim.node.channels) > degree / 2


def test_it_loads_the_mainnet_graph_and_picks_a_mid_size_node():
    started = time.monotonic()
    node = SimulatedNode.from_path(require_shared(MAINNET_GRAPH))
    assert time.monotonic() - started < 20
    graph_json = node.describe_graph_json()
    info = node.get_info()
    assert 10 <= len(node.channels) <= 60 and info["identity_pubkey"] == node.pubkey
    assert graph_json.count(b'"pub_key"') == 17_324 and graph_json.count(b'"channel_id"') == 50_808
    started = time.monotonic()
    assert node.describe_graph_json() is graph_json and time.monotonic() - started < 0.1, "served from the cache"


# -- the simulate_lnd command ---------------------------------------------------------------------------------


def call(*args: str) -> str:
    out = io.StringIO()
    call_command("simulate_lnd", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (None, "absent.json", "cannot read"),
        (b"{not json", "broken.json", "is not describegraph JSON"),
        (b'{"nodes": 3}', "shape.json", "is not describegraph JSON"),
        (b"not gzip at all", "broken.json.gz", "is not describegraph JSON"),
        # mtime=0: the header's time is part of the test's id, which parallel workers must collect alike
        (gzip.compress(b'{"nodes": [], "edges": []}', mtime=0), "empty.json.gz", "no channel"),
        (b'{"nodes": [], "edges": [{"channel_id": "1"}]}', "edge.json", "not a describegraph dict"),
    ],
)
def test_simulate_lnd_refuses_a_bad_graph_cleanly(tmp_path, content, name, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        call("--graph", str(path), "--port", "0")


def test_simulate_lnd_refuses_a_port_in_use_without_a_traceback(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_manage(
            "simulate_lnd", "--nodes", "100", "--port", str(port), env=child_env(DAZNODE_DATA_DIR=str(tmp_path))
        )
    assert result.returncode != 0
    assert f"CommandError: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_simulate_lnd_refuses_a_missing_graph_without_a_traceback(tmp_path):
    result = run_manage(
        "simulate_lnd", "--graph", str(tmp_path / "nope.json.gz"), env=child_env(DAZNODE_DATA_DIR=str(tmp_path))
    )
    assert result.returncode != 0
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr


def test_simulate_lnd_serves_https_and_writes_the_admin_macaroon(tmp_path):
    port, macaroon_path, log = free_port(), tmp_path / "out" / "admin.macaroon", tmp_path / "simulator.log"
    command = [
        *(sys.executable, "manage.py", "simulate_lnd", "--nodes", "300", "--seed", "4", "--port", str(port)),
        *("--tls-dir", str(tmp_path / "tls"), "--macaroon-out", str(macaroon_path)),
    ]
    with running(command, env=child_env(DAZNODE_DATA_DIR=str(tmp_path)), log=log):
        wait_until(lambda: "Ctrl-C to stop" in log.read_text(), timeout=60, what="the simulator's banner", log=log)
        pinned = ssl.create_default_context(cafile=str(tmp_path / "tls" / "tls.cert"))
        headers = {MACAROON_HEADER: macaroon_path.read_bytes().hex()}
        info = httpx.get(f"https://127.0.0.1:{port}/v1/getinfo", headers=headers, verify=pinned).json()
    banner = log.read_text()
    assert f"https://127.0.0.1:{port}" in banner
    assert info["identity_pubkey"] in banner and info["alias"] in banner
    assert re.search(r"Mix: +\d+ earner, \d+ draining, .*\d+ dead, \d+ ordinary", banner)
    assert str(macaroon_path.resolve()) in banner and str((tmp_path / "tls" / "tls.cert").resolve()) in banner
    assert macaroon_path.stat().st_mode & 0o077 == 0


def test_it_can_be_told_which_node_of_the_graph_we_are():
    graph = synthetic_graph(seed=5, node_count=200)
    busiest = max(
        (edge[end] for edge in graph["edges"] for end in ("node1_pub", "node2_pub")),
        key=lambda pub: sum(pub in (e["node1_pub"], e["node2_pub"]) for e in graph["edges"]),
    )
    simulator = create_simulator(seed=5, node_count=200, our_pubkey=busiest)
    try:
        assert simulator.node.pubkey == busiest
        assert len(simulator.node.channels) == sum(busiest in (e["node1_pub"], e["node2_pub"]) for e in graph["edges"])
    finally:
        simulator.stop()
    with pytest.raises(GraphError, match="has no channel in this graph"):
        create_simulator(seed=5, node_count=200, our_pubkey="02" + "00" * 32)
