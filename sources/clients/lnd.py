"""LND's REST API (the contract in ../shared/lnd/ENDPOINTS.md): the only module that speaks HTTP to LND.

The macaroon travels hex-encoded in Grpc-Metadata-macaroon; TLS is pinned to the node's tls.cert. LND's JSON
has int64 as strings, bytes as base64 and null for unset sub-messages; every answer is parsed strictly.
"""

import time
from dataclasses import dataclass
from datetime import datetime

import httpx

from daznode.bounded_json import json_loads_bounded
from daznode.lightning import Policy, is_pubkey, parse_chan_point, parse_pubkey
from daznode.lnd_permissions import lnd_call_for
from sources.clients.errors import (
    AuthenticationError,
    ContractViolation,
    PolicyUpdateFailed,
    RequestRejected,
    SourceUnavailable,
)
from sources.clients.http import CircuitBreaker, ClientConfig, HttpClient, RateLimiter, pinned_tls_context
from sources.clients.parsing import Fields
from sources.graph import GraphDocument, graph_document
from sources.interface import Capability, DataSourceInterface

# LND's REST proxy answers a refused macaroon with HTTP 500 and gRPC code 2; these words tell it apart.
AUTH_FAILURE_WORDS = ("macaroon", "verification failed", "permission denied", "caveat")
GRPC_UNKNOWN, GRPC_NOT_FOUND, GRPC_UNAVAILABLE = 2, 5, 14
FORWARDS_PAGE_SIZE = 1000


@dataclass(frozen=True)
class LndInfo:
    identity_pubkey: str
    alias: str
    version: str
    block_height: int
    synced_to_chain: bool
    synced_to_graph: bool
    num_active_channels: int
    num_peers: int


@dataclass(frozen=True)
class LndHtlc:
    incoming: bool
    amount_sat: int


@dataclass(frozen=True)
class LndChannel:
    chan_id: int
    channel_point: str
    remote_pubkey: str
    capacity_sat: int
    local_balance_sat: int
    remote_balance_sat: int
    commit_fee_sat: int
    active: bool
    private: bool
    initiator: bool
    pending_htlcs: tuple[LndHtlc, ...]
    lifetime_s: int
    uptime_s: int
    total_sent_sat: int
    total_received_sat: int

    @property
    def pending_outgoing_sat(self) -> int:
        return sum(htlc.amount_sat for htlc in self.pending_htlcs if not htlc.incoming)

    @property
    def pending_incoming_sat(self) -> int:
        return sum(htlc.amount_sat for htlc in self.pending_htlcs if htlc.incoming)


@dataclass(frozen=True)
class LndChannelFee:
    chan_id: int
    channel_point: str
    base_fee_msat: int
    fee_rate_ppm: int
    inbound_base_fee_msat: int
    inbound_fee_rate_ppm: int


@dataclass(frozen=True)
class LndFeeReport:
    channel_fees: tuple[LndChannelFee, ...]
    day_fee_sum_sat: int
    week_fee_sum_sat: int
    month_fee_sum_sat: int


@dataclass(frozen=True)
class LndChannelBalance:
    local_balance_msat: int
    remote_balance_msat: int
    unsettled_local_balance_msat: int
    unsettled_remote_balance_msat: int
    pending_open_local_balance_msat: int


@dataclass(frozen=True)
class LndPeer:
    pub_key: str
    address: str
    inbound: bool
    ping_time_us: int
    flap_count: int
    last_flap_ns: int
    sat_sent: int
    sat_recv: int


@dataclass(frozen=True)
class LndForward:
    timestamp_ns: int
    chan_id_in: int
    chan_id_out: int
    amt_in_msat: int
    amt_out_msat: int
    fee_msat: int


@dataclass(frozen=True)
class LndEdge:
    channel_id: int
    chan_point: str
    node1_pub: str
    node2_pub: str
    capacity_sat: int
    node1_policy: Policy | None
    node2_policy: Policy | None

    def policy_of(self, pubkey: str) -> Policy | None:
        if pubkey == self.node1_pub:
            return self.node1_policy
        if pubkey == self.node2_pub:
            return self.node2_policy
        raise ValueError(f"{pubkey} is not an end of channel {self.channel_id}")


@dataclass(frozen=True)
class LndNodeInfo:
    pub_key: str
    alias: str
    num_channels: int
    total_capacity_sat: int
    channels: tuple[LndEdge, ...]


class LndHttpClient(HttpClient):
    def raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        code, message = _rpc_status(response)
        name = self.config.name
        if any(word in message.lower() for word in AUTH_FAILURE_WORDS):
            raise AuthenticationError(f"macaroon refused: {message}{self._needs(response, message)}", source=name)
        if code == GRPC_NOT_FOUND:
            raise RequestRejected(f"not found: {message}", source=name)
        if code == GRPC_UNAVAILABLE:
            raise SourceUnavailable(f"unavailable: {message}", source=name)
        if code == GRPC_UNKNOWN:
            # LND answered and refused the request (a validation error, say): trying again changes nothing.
            raise RequestRejected(f"LND refused the request: {message}", source=name)
        super().raise_for_status(response)

    def _needs(self, response: httpx.Response, message: str) -> str:
        """LND answers only "permission denied": name what the call needs, so the operator knows what to bake."""
        if "permission denied" not in message.lower():
            return ""
        path = response.request.url.path.removeprefix(self.http.base_url.path.rstrip("/"))
        call = lnd_call_for(method=response.request.method, path=path)
        return f" ({call.rpc} needs {call.permission})" if call else ""


def _rpc_status(response: httpx.Response) -> tuple[int | None, str]:
    try:
        body = json_loads_bounded(response.content)
    except ValueError:
        return None, ""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = body.get("code")
        return (code if isinstance(code, int) else None), body["message"]
    return None, ""


class LndClient(DataSourceInterface):
    capabilities = frozenset(
        {
            Capability.INFO,
            Capability.GRAPH,
            Capability.CHANNELS,
            Capability.FEES,
            Capability.FORWARDS,
            Capability.PEERS,
            Capability.BALANCE,
            Capability.POLICY_UPDATE,
        }
    )

    def __init__(
        self,
        *,
        url: str,
        macaroon: bytes,
        tls_cert_pem: bytes | None = None,
        name: str = "lnd",
        timeout_s: float = 30.0,
        rate_per_minute: int = 100,
        transport: httpx.BaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
        limiter: RateLimiter | None = None,
    ):
        verify = pinned_tls_context(tls_cert_pem) if tls_cert_pem else True
        config = ClientConfig(
            name=name, base_url=url, timeout_s=timeout_s, rate_per_minute=rate_per_minute, verify=verify
        )
        headers = {"Grpc-Metadata-macaroon": macaroon.hex()}
        self.name = name
        self.http = LndHttpClient(config, headers=headers, transport=transport, breaker=breaker, limiter=limiter)

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, params: dict | None = None) -> Fields:
        return Fields(self.http.request_json("GET", path, params=params), "", self.name)

    def ping(self) -> float:
        """Milliseconds for a getinfo round trip."""
        started = time.perf_counter()
        self.get_info()
        return (time.perf_counter() - started) * 1000

    def get_info(self) -> LndInfo:
        f = self._get("/v1/getinfo")
        return LndInfo(
            identity_pubkey=_pubkey(f, "identity_pubkey"),
            alias=f.string("alias"),
            version=f.string("version"),
            block_height=f.integer("block_height"),
            synced_to_chain=f.boolean("synced_to_chain"),
            synced_to_graph=f.boolean("synced_to_graph"),
            num_active_channels=f.integer("num_active_channels"),
            num_peers=f.integer("num_peers"),
        )

    def describe_graph(self, *, include_unannounced: bool = False) -> GraphDocument:
        return graph_document(self._graph_bytes(include_unannounced), source=self.name)

    def _graph_bytes(self, include_unannounced: bool) -> bytes:
        # Returning only the bytes lets the response go before parsing starts (see graph_document).
        params = {"include_unannounced": str(include_unannounced).lower()}
        response = self.http.request("GET", "/v1/graph", params=params)
        self.http.refuse_html(response)
        return response.content

    def get_node_info(self, pub_key: str, *, include_channels: bool = False) -> LndNodeInfo:
        pub_key = parse_pubkey(pub_key)  # it goes into the URL's path: exactly a key, nothing else
        f = self._get(f"/v1/graph/node/{pub_key}", {"include_channels": str(include_channels).lower()})
        node = f.obj("node")
        return LndNodeInfo(
            pub_key=_pubkey(node, "pub_key"),
            alias=node.string("alias"),
            num_channels=f.integer("num_channels"),
            total_capacity_sat=f.integer("total_capacity"),
            channels=tuple(_edge(e) for e in f.object_list("channels")),
        )

    def get_chan_info(self, chan_id: int) -> LndEdge:
        return _edge(self._get(f"/v1/graph/edge/{chan_id}"))

    def list_channels(self, *, active_only: bool = False) -> list[LndChannel]:
        f = self._get("/v1/channels", {"active_only": str(active_only).lower()})
        return [_channel(c) for c in f.object_list("channels")]

    def fee_report(self) -> LndFeeReport:
        f = self._get("/v1/fees")
        return LndFeeReport(
            channel_fees=tuple(_channel_fee(c) for c in f.object_list("channel_fees")),
            day_fee_sum_sat=f.integer("day_fee_sum"),
            week_fee_sum_sat=f.integer("week_fee_sum"),
            month_fee_sum_sat=f.integer("month_fee_sum"),
        )

    def channel_balance(self) -> LndChannelBalance:
        f = self._get("/v1/balance/channels")

        def msat(key: str) -> int:
            return f.obj(key).integer("msat")

        return LndChannelBalance(
            local_balance_msat=msat("local_balance"),
            remote_balance_msat=msat("remote_balance"),
            unsettled_local_balance_msat=msat("unsettled_local_balance"),
            unsettled_remote_balance_msat=msat("unsettled_remote_balance"),
            pending_open_local_balance_msat=msat("pending_open_local_balance"),
        )

    def list_peers(self) -> list[LndPeer]:
        return [
            LndPeer(
                pub_key=_pubkey(p, "pub_key"),
                address=p.string("address"),
                inbound=p.boolean("inbound"),
                ping_time_us=p.integer("ping_time"),
                flap_count=p.integer("flap_count"),
                last_flap_ns=p.integer("last_flap_ns"),
                sat_sent=p.integer("sat_sent"),
                sat_recv=p.integer("sat_recv"),
            )
            for p in self._get("/v1/peers").object_list("peers")
        ]

    def forwarding_history(
        self, *, start: datetime, end: datetime, page_size: int = FORWARDS_PAGE_SIZE
    ) -> list[LndForward]:
        """Every forward between start and end, paging with index_offset until a page comes back empty."""
        forwards: list[LndForward] = []
        offset = 0
        while True:
            body = {
                "start_time": str(int(start.timestamp())),
                "end_time": str(int(end.timestamp())),
                "index_offset": offset,
                "num_max_events": page_size,
                "peer_alias_lookup": False,
            }
            page = Fields(self.http.request_json("POST", "/v1/switch", json_body=body, idempotent=True), "", self.name)
            events = page.object_list("forwarding_events")
            if not events:
                return forwards
            forwards.extend(_forward(e) for e in events)
            next_offset = page.integer("last_offset_index")
            if next_offset <= offset:
                raise ContractViolation("did not advance while paging", source=self.name, field="last_offset_index")
            offset = next_offset

    def update_channel_policy(self, *, chan_point: str, policy: Policy) -> None:
        """Send the complete policy for one channel, once. Never retried here: LND gossips every update it accepts,
        and an answer lost after LND applied it looks like a failure. The caller reads the policy back and sends
        again only when the node does not have it (decisions.policy_change)."""
        txid, _, index = chan_point.partition(":")
        body = {
            "chan_point": {"funding_txid_str": txid, "output_index": int(index)},
            "base_fee_msat": str(policy.base_fee_msat),
            "fee_rate_ppm": policy.fee_rate_ppm,
            "time_lock_delta": policy.time_lock_delta,
            "min_htlc_msat": str(policy.min_htlc_msat),
            "min_htlc_msat_specified": True,
            "max_htlc_msat": str(policy.max_htlc_msat),
            "inbound_fee": {"base_fee_msat": policy.inbound_base_fee_msat, "fee_rate_ppm": policy.inbound_fee_rate_ppm},
        }
        answer = Fields(
            self.http.request_json("POST", "/v1/chanpolicy", json_body=body, idempotent=False), "", self.name
        )
        failures = [f.data for f in answer.object_list("failed_updates")]
        if failures:
            reasons = "; ".join(f"{f.get('reason')}: {f.get('update_error')}" for f in failures)
            raise PolicyUpdateFailed(
                f"policy update for {chan_point} failed: {reasons}", source=self.name, failures=failures
            )


def _pubkey(f: Fields, key: str) -> str:
    value = f.string(key)
    if not is_pubkey(value):
        raise f._wrong(key, "a node public key")  # one of Fields' own errors, naming the field
    return value


def _chan_point(f: Fields, key: str) -> str:
    try:
        return str(parse_chan_point(f.string(key)))
    except ValueError:
        raise f._wrong(key, "funding_txid:output_index") from None


def _policy(f: Fields | None) -> Policy | None:
    if f is None:
        return None
    try:
        return Policy(
            base_fee_msat=f.integer("fee_base_msat"),
            fee_rate_ppm=f.integer("fee_rate_milli_msat"),
            time_lock_delta=f.integer("time_lock_delta"),
            min_htlc_msat=f.integer("min_htlc"),
            max_htlc_msat=f.integer("max_htlc_msat"),
            inbound_base_fee_msat=f.integer("inbound_fee_base_msat"),
            inbound_fee_rate_ppm=f.integer("inbound_fee_rate_milli_msat"),
            disabled=f.boolean("disabled"),
        )
    except ValueError as exc:
        raise ContractViolation(str(exc), source=f.source, field=f.path) from None


def _edge(f: Fields) -> LndEdge:
    return LndEdge(
        channel_id=f.integer("channel_id"),
        chan_point=_chan_point(f, "chan_point"),
        node1_pub=_pubkey(f, "node1_pub"),
        node2_pub=_pubkey(f, "node2_pub"),
        capacity_sat=f.integer("capacity"),
        node1_policy=_policy(f.optional_obj("node1_policy")),
        node2_policy=_policy(f.optional_obj("node2_policy")),
    )


def _channel(f: Fields) -> LndChannel:
    return LndChannel(
        chan_id=f.integer("chan_id"),
        channel_point=_chan_point(f, "channel_point"),
        remote_pubkey=_pubkey(f, "remote_pubkey"),
        capacity_sat=f.integer("capacity"),
        local_balance_sat=f.integer("local_balance"),
        remote_balance_sat=f.integer("remote_balance"),
        commit_fee_sat=f.integer("commit_fee"),
        active=f.boolean("active"),
        private=f.boolean("private"),
        initiator=f.boolean("initiator"),
        pending_htlcs=tuple(
            LndHtlc(incoming=h.boolean("incoming"), amount_sat=h.integer("amount"))
            for h in f.object_list("pending_htlcs")
        ),
        lifetime_s=f.integer("lifetime"),
        uptime_s=f.integer("uptime"),
        total_sent_sat=f.integer("total_satoshis_sent"),
        total_received_sat=f.integer("total_satoshis_received"),
    )


def _channel_fee(f: Fields) -> LndChannelFee:
    return LndChannelFee(
        chan_id=f.integer("chan_id"),
        channel_point=_chan_point(f, "channel_point"),
        base_fee_msat=f.integer("base_fee_msat"),
        fee_rate_ppm=f.integer("fee_per_mil"),
        inbound_base_fee_msat=f.integer("inbound_base_fee_msat"),
        inbound_fee_rate_ppm=f.integer("inbound_fee_per_mil"),
    )


def _forward(f: Fields) -> LndForward:
    return LndForward(
        timestamp_ns=f.integer("timestamp_ns"),
        chan_id_in=f.integer("chan_id_in"),
        chan_id_out=f.integer("chan_id_out"),
        amt_in_msat=f.integer("amt_in_msat"),
        amt_out_msat=f.integer("amt_out_msat"),
        fee_msat=f.integer("fee_msat"),
    )
