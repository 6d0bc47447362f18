"""The LND client against the simulator over loopback: real HTTP, LND's JSON, LND's failures."""

import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.core.cache import cache

from auth_vault import services
from auth_vault.models import Secret
from daznode.lightning import Policy
from sources.clients.errors import (
    AuthenticationError,
    ContractViolation,
    PolicyUpdateFailed,
    RequestRejected,
    SourceTimeout,
    SourceUnavailable,
)
from sources.clients.lnd import LndClient
from sources.connect import client_for
from sources.models import GraphSnapshot, Source
from sources.simulator import start_simulator
from sources.snapshots import latest_graph, refresh_graph
from tests.conftest import SHARED, require_shared

SWAGGER = SHARED / "lnd" / "lightning.swagger.json"


@pytest.fixture(scope="module")
def sim():
    with start_simulator(seed=7, node_count=400) as running:
        yield running


@pytest.fixture(autouse=True)
def clear_faults(sim):
    sim.faults.clear()
    yield
    sim.faults.clear()


def lnd(sim, *, macaroon: bytes | None = None, transport=None, **options) -> LndClient:
    return LndClient(
        url=sim.url,
        macaroon=macaroon or sim.admin_macaroon,
        transport=transport,
        timeout_s=options.pop("timeout_s", 5.0),
        **options,
    )


def test_it_reads_the_node_and_the_graph(sim):
    with lnd(sim) as client:
        info = client.get_info()
        graph = client.describe_graph()
    assert info.identity_pubkey == sim.node.pubkey
    assert info.synced_to_graph is True
    assert graph.summary.node_count == len(graph.document["nodes"]) >= 300
    assert len(graph.content_hash) == 64 and graph.size_bytes > 1000


def test_it_reads_our_channels_fees_balance_and_peers(sim):
    with lnd(sim) as client:
        channels = client.list_channels()
        fees = client.fee_report()
        balance = client.channel_balance()
        peers = client.list_peers()
    assert channels and {c.chan_id for c in channels} == {f.chan_id for f in fees.channel_fees}
    assert all(c.local_balance_sat + c.remote_balance_sat <= c.capacity_sat for c in channels)
    assert balance.local_balance_msat == sum(c.local_balance_sat for c in channels) * 1000
    assert {p.pub_key for p in peers} >= {c.remote_pubkey for c in channels if c.active}
    pending = [c for c in channels if c.pending_htlcs]
    assert all(c.pending_outgoing_sat + c.pending_incoming_sat > 0 for c in pending)


def test_it_pages_through_the_whole_forwarding_history(sim):
    end = datetime.now(UTC)
    with lnd(sim, rate_per_minute=10_000) as client:
        everything = client.forwarding_history(start=end - timedelta(days=31), end=end, page_size=50_000)
        page_size = len(everything) // 4 + 1
        paged = client.forwarding_history(start=end - timedelta(days=31), end=end, page_size=page_size)
    assert len(everything) > 20
    assert paged == everything, "four pages and one empty page give the same events as one big page"
    assert all(f.amt_in_msat - f.amt_out_msat == f.fee_msat for f in everything)


def test_a_policy_update_is_complete_and_reads_back(sim):
    with lnd(sim) as client:
        channel = client.list_channels()[0]
        new = Policy(
            base_fee_msat=1500,
            fee_rate_ppm=321,
            time_lock_delta=144,
            min_htlc_msat=2000,
            max_htlc_msat=channel.capacity_sat * 500,
            inbound_fee_rate_ppm=-20,
        )
        client.update_channel_policy(chan_point=channel.channel_point, policy=new)
        fee = next(f for f in client.fee_report().channel_fees if f.chan_id == channel.chan_id)
        edge = client.get_chan_info(channel.chan_id)
    assert (fee.base_fee_msat, fee.fee_rate_ppm, fee.inbound_fee_rate_ppm) == (1500, 321, -20)
    ours = edge.policy_of(sim.node.pubkey)
    assert (ours.time_lock_delta, ours.min_htlc_msat, ours.max_htlc_msat) == (144, 2000, channel.capacity_sat * 500)


def test_failed_updates_are_an_error_for_that_channel(sim):
    with lnd(sim) as client:
        channel = client.list_channels()[0]
        sim.faults.fail_policy_updates([channel.channel_point])
        with pytest.raises(PolicyUpdateFailed, match=f"policy update for {channel.channel_point} failed") as e:
            client.update_channel_policy(
                chan_point=channel.channel_point,
                policy=Policy(base_fee_msat=0, fee_rate_ppm=1, time_lock_delta=40, min_htlc_msat=1, max_htlc_msat=1000),
            )
    assert e.value.failures[0]["outpoint"]


def test_lnd_refuses_a_time_lock_delta_below_18(sim):
    with lnd(sim) as client:
        channel = client.list_channels()[0]
        with pytest.raises(RequestRejected, match="LND refused the request: time lock delta of 17 is too small"):
            client.update_channel_policy(
                chan_point=channel.channel_point,
                policy=Policy(base_fee_msat=0, fee_rate_ppm=1, time_lock_delta=17, min_htlc_msat=1, max_htlc_msat=1000),
            )


def test_a_wrong_or_narrow_macaroon_is_an_authentication_error(sim):
    with lnd(sim, macaroon=bytes.fromhex("0201036c6e64") + b"\x00" * 10) as client:
        with pytest.raises(AuthenticationError, match="macaroon refused"):
            client.get_info()
    with lnd(sim, macaroon=sim.readonly_macaroon) as client:
        channel = client.list_channels()[0]
        with pytest.raises(AuthenticationError, match="permission denied"):
            client.update_channel_policy(
                chan_point=channel.channel_point,
                policy=Policy(base_fee_msat=0, fee_rate_ppm=1, time_lock_delta=40, min_htlc_msat=1, max_htlc_msat=1000),
            )


def test_it_retries_through_a_restarting_lnd(sim):
    sim.faults.fail_next(2, path="/v1/getinfo")
    with lnd(sim) as client:
        client.http.sleep = lambda seconds: None
        assert client.get_info().identity_pubkey == sim.node.pubkey


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("drop", SourceUnavailable, "dropped"),
        ("html", SourceUnavailable, "HTTP 502: HTML error page"),  # a proxy saying LND is not answering
        ("malformed_json", ContractViolation, "(truncated|malformed) JSON body"),
        ("truncate", SourceUnavailable, "dropped"),
    ],
)
def test_each_fault_gives_a_specific_error(sim, kind, error, message):
    sim.faults.inject(kind, count=10, path="/v1/getinfo")
    with lnd(sim) as client:
        client.http.sleep = lambda seconds: None
        with pytest.raises(error, match=message):
            client.get_info()


def test_a_hanging_lnd_is_a_timeout(sim):
    sim.faults.inject("hang", count=10, path="/v1/getinfo", hang_s=2.0)
    with lnd(sim, timeout_s=0.3) as client:
        client.http.sleep = lambda seconds: None
        with pytest.raises(SourceTimeout, match=r"timed out after 0\.3s"):
            client.get_info()


def test_tls_is_pinned_to_the_nodes_certificate(tmp_path):
    with (
        start_simulator(seed=3, node_count=50, tls_dir=tmp_path / "a") as secure,
        start_simulator(seed=3, node_count=50, tls_dir=tmp_path / "b") as other,
    ):
        with LndClient(url=secure.url, macaroon=secure.admin_macaroon, tls_cert_pem=secure.cert_pem) as client:
            assert client.get_info().identity_pubkey == secure.node.pubkey
        with LndClient(url=secure.url, macaroon=secure.admin_macaroon, tls_cert_pem=other.cert_pem) as client:
            client.http.sleep = lambda seconds: None
            with pytest.raises(SourceUnavailable, match="TLS certificate not trusted"):
                client.get_info()


def test_an_expired_certificate_is_refused(tmp_path):
    with start_simulator(seed=3, node_count=50, tls_dir=tmp_path, expired_cert=True) as expired:
        with LndClient(url=expired.url, macaroon=expired.admin_macaroon, tls_cert_pem=expired.cert_pem) as client:
            client.http.sleep = lambda seconds: None
            with pytest.raises(SourceUnavailable, match="TLS certificate not trusted"):
                client.get_info()


@pytest.mark.django_db
def test_a_source_reads_its_macaroon_and_certificate_from_the_vault(tmp_path):
    cache.clear()
    with start_simulator(seed=5, node_count=60, tls_dir=tmp_path) as secure:
        macaroon = services.secret_create(
            name="umbrel-mac", kind=Secret.Kind.MACAROON, value=secure.admin_macaroon, actor="t"
        )
        cert = services.secret_create(name="umbrel-tls", kind=Secret.Kind.TLS_CERT, value=secure.cert_pem, actor="t")
        source = Source.objects.create(
            name="umbrel", kind=Source.Kind.LND, url=secure.url, credential=macaroon, tls_certificate=cert
        )
        with client_for(source) as client:
            assert client.ping() > 0
        services.secret_revoke(macaroon, actor="t")
        with pytest.raises(AuthenticationError, match=r"credential unusable: .* is revoked"):
            client_for(source)


@pytest.mark.django_db
def test_the_graph_cache_refreshes_from_lnd_end_to_end(sim, django_capture_on_commit_callbacks):
    cache.clear()
    macaroon = services.secret_create(name="mac", kind=Secret.Kind.MACAROON, value=sim.admin_macaroon, actor="t")
    Source.objects.create(name="sim-lnd", kind=Source.Kind.LND, url=sim.url, credential=macaroon)
    with django_capture_on_commit_callbacks(execute=True):
        result = refresh_graph()
    assert result.fetched and result.source_name == "sim-lnd"
    view = latest_graph()
    assert view.graph.node_count == GraphSnapshot.objects.get().node_count
    assert sim.node.pubkey in view.graph.pubkeys


# The request contract: every request the client sends must fit LND's swagger (path, method, fields, types).

SWAGGER_JSON_TYPES = {
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
    "array": list,
    "object": dict,
}


class RecordingTransport(httpx.HTTPTransport):
    def __init__(self):
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


def swagger_operation(swagger: dict, method: str, path: str) -> dict:
    for template, operations in swagger["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return operations[method.lower()]
    raise AssertionError(f"{method} {path} is not in LND's REST contract")


def check_fields(swagger: dict, value, schema: dict, where: str) -> None:
    if "$ref" in schema:
        schema = swagger["definitions"][schema["$ref"].split("/")[-1]]
    expected = schema.get("type", "object")
    assert isinstance(value, SWAGGER_JSON_TYPES[expected]) and not (
        expected != "boolean" and isinstance(value, bool)
    ), f"{where}: {value!r} is not a swagger {expected}"
    if expected == "object":
        for key, item in value.items():
            assert key in schema.get("properties", {}), f"{where}.{key} is not in the contract"
            check_fields(swagger, item, schema["properties"][key], f"{where}.{key}")
    elif expected == "array":
        for i, item in enumerate(value):
            check_fields(swagger, item, schema["items"], f"{where}[{i}]")


def test_every_request_the_client_sends_fits_lnds_swagger(sim):
    swagger = json.loads(require_shared(SWAGGER).read_text())
    transport = RecordingTransport()
    end = datetime.now(UTC)
    with lnd(sim, transport=transport) as client:
        client.get_info()
        client.describe_graph()
        channel = client.list_channels()[0]
        client.get_chan_info(channel.chan_id)
        client.get_node_info(channel.remote_pubkey, include_channels=True)
        client.fee_report()
        client.channel_balance()
        client.list_peers()
        client.forwarding_history(start=end - timedelta(days=2), end=end, page_size=50)
        client.update_channel_policy(
            chan_point=channel.channel_point,
            policy=Policy(
                base_fee_msat=1000, fee_rate_ppm=100, time_lock_delta=80, min_htlc_msat=1000, max_htlc_msat=10_000_000
            ),
        )
    assert {request.url.path.split("/")[2] for request in transport.requests} >= {
        "getinfo",
        "graph",
        "channels",
        "fees",
        "balance",
        "peers",
        "switch",
        "chanpolicy",
    }
    for request in transport.requests:
        operation = swagger_operation(swagger, request.method, request.url.path)
        query_names = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
        for name in request.url.params:
            assert name in query_names, f"{request.method} {request.url.path}: query {name} is not in the contract"
        body_schema = next((p["schema"] for p in operation.get("parameters", []) if p["in"] == "body"), None)
        if request.content:
            assert body_schema is not None, f"{request.url.path} takes no body"
            check_fields(swagger, json.loads(request.content), body_schema, f"{request.url.path} body")
        assert request.headers["Grpc-Metadata-macaroon"] == sim.admin_macaroon.hex()
