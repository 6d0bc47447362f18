"""LND's REST endpoints: each parses its query or body as grpc-gateway and protojson do, then asks the node.

Parsing follows protojson: integers may come as numbers or strings, unknown fields are ignored, a value of the
wrong type is a 400 (code 3, InvalidArgument). What LND itself refuses comes back as the node's RpcError.
"""

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sources.simulator.node import SimulatedNode
from sources.simulator.policy import GRPC_INVALID_ARGUMENT, GRPC_UNKNOWN, PolicyUpdate, RpcError

MIN_FEE_RATE = 1e-6  # the smallest non-zero fee rate the protocol can express (1 ppm)
PPM = 1_000_000
PUBKEY_LENGTH = 33
TXID_LENGTH = 32
UINT32_MAX, UINT64_MAX, INT64_MAX = 2**32 - 1, 2**64 - 1, 2**63 - 1
INT32_MIN, INT32_MAX, INT64_MIN = -(2**31), 2**31 - 1, -(2**63)
GO_TRUE, GO_FALSE = ("1", "t", "T", "true", "TRUE", "True"), ("0", "f", "F", "false", "FALSE", "False")


@dataclass(frozen=True)
class Request:
    query: dict[str, list[str]]
    body: dict[str, Any]
    params: dict[str, str]
    policy_failures: dict[str, str] = field(default_factory=dict)  # injected: chan point -> failure reason
    ignored_updates: frozenset[str] = frozenset()  # injected: chan points whose updates are acknowledged, not applied


Handler = Callable[[SimulatedNode, Request], dict | bytes]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    permission: str
    handler: Handler


def invalid(message: str) -> RpcError:
    return RpcError(GRPC_INVALID_ARGUMENT, message)


# -- query and body fields ------------------------------------------------------------------------------------


def query_bool(request: Request, name: str) -> bool:
    value = request.query.get(name, ["false"])[-1]
    if value in GO_TRUE:
        return True
    if value in GO_FALSE:
        return False
    raise invalid(f'parsing field "{name}": strconv.ParseBool: parsing "{value}": invalid syntax')


def query_bytes(request: Request, name: str) -> bytes:
    """grpc-gateway takes bytes in a query as base64, standard or URL-safe, padded or not."""
    value = request.query.get(name, [""])[-1]
    try:
        padded = value + "=" * (-len(value) % 4)
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f'parsing field "{name}": illegal base64 data') from None


def body_int(body: dict, name: str, *, low: int = 0, high: int = UINT64_MAX) -> int:
    value = body.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid(f"proto: invalid value for integer field {name}: {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"proto: invalid value for integer field {name}: {value!r}") from None
    if not low <= number <= high:
        raise invalid(f"proto: invalid value for integer field {name}: {value!r} is out of range")
    return number


def body_float(body: dict, name: str) -> float:
    value = body.get(name)
    if value is None:
        return 0.0
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise invalid(f"proto: invalid value for double field {name}: {value!r}") from None


def body_bool(body: dict, name: str) -> bool:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise invalid(f"proto: invalid value for bool field {name}: {value!r}")
    return bool(value)


def body_object(body: dict, name: str) -> dict | None:
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise invalid(f"proto: invalid value for message field {name}: {value!r}")
    return value


def body_int_list(body: dict, name: str) -> frozenset[str]:
    values = body.get(name) or []
    if not isinstance(values, list):
        raise invalid(f"proto: invalid value for repeated field {name}: {values!r}")
    return frozenset(str(body_int({name: value}, name)) for value in values)


# -- endpoints ------------------------------------------------------------------------------------------------


def get_info(node: SimulatedNode, request: Request) -> dict:
    return node.get_info()


def describe_graph(node: SimulatedNode, request: Request) -> bytes:
    # include_unannounced: every simulated channel is announced; include_auth_proof: proofs are not simulated.
    query_bool(request, "include_unannounced")
    query_bool(request, "include_auth_proof")
    return node.describe_graph_json()


def get_node_info(node: SimulatedNode, request: Request) -> dict:
    pub_key = request.params["pub_key"]
    try:
        raw = bytes.fromhex(pub_key)
    except ValueError:
        raise RpcError(GRPC_UNKNOWN, "encoding/hex: invalid byte in pub_key") from None
    if len(raw) != PUBKEY_LENGTH:
        raise RpcError(GRPC_UNKNOWN, f"invalid vertex length of {len(raw)}, want {PUBKEY_LENGTH}")
    return node.node_info(pub_key.lower(), include_channels=query_bool(request, "include_channels"))


def get_chan_info(node: SimulatedNode, request: Request) -> dict:
    chan_id = request.params["chan_id"]
    if not (chan_id.isascii() and chan_id.isdigit()) or int(chan_id) > UINT64_MAX:
        raise invalid(
            f'type mismatch, parameter: chan_id, error: strconv.ParseUint: parsing "{chan_id}": invalid syntax'
        )
    return node.chan_info(str(int(chan_id)))


def list_channels(node: SimulatedNode, request: Request) -> dict:
    return node.list_channels(
        active_only=query_bool(request, "active_only"),
        inactive_only=query_bool(request, "inactive_only"),
        public_only=query_bool(request, "public_only"),
        private_only=query_bool(request, "private_only"),
        peer=query_bytes(request, "peer"),
        peer_alias_lookup=query_bool(request, "peer_alias_lookup"),
    )


def fee_report(node: SimulatedNode, request: Request) -> dict:
    return node.fee_report()


def channel_balance(node: SimulatedNode, request: Request) -> dict:
    return node.channel_balance()


def list_peers(node: SimulatedNode, request: Request) -> dict:
    query_bool(request, "latest_error")
    return node.list_peers()


def forwarding_history(node: SimulatedNode, request: Request) -> dict:
    body = request.body
    return node.forwarding_history(
        start_time_s=body_int(body, "start_time"),
        end_time_s=body_int(body, "end_time"),
        index_offset=body_int(body, "index_offset", high=UINT32_MAX),
        num_max_events=body_int(body, "num_max_events", high=UINT32_MAX),
        peer_alias_lookup=body_bool(body, "peer_alias_lookup"),
        incoming_chan_ids=body_int_list(body, "incoming_chan_ids"),
        outgoing_chan_ids=body_int_list(body, "outgoing_chan_ids"),
    )


def update_channel_policy(node: SimulatedNode, request: Request) -> dict:
    return node.update_channel_policy(
        parse_policy_update(request.body), refused=request.policy_failures, ignored=request.ignored_updates
    )


def parse_policy_update(body: dict) -> PolicyUpdate:
    inbound = body_object(body, "inbound_fee")
    min_htlc_msat = body_int(body, "min_htlc_msat")
    return PolicyUpdate(
        chan_point=_scope(body),
        base_fee_msat=body_int(body, "base_fee_msat", low=INT64_MIN, high=INT64_MAX),
        fee_rate_ppm=_fee_rate_ppm(body),
        time_lock_delta=body_int(body, "time_lock_delta", high=UINT32_MAX),
        max_htlc_msat=body_int(body, "max_htlc_msat"),
        min_htlc_msat=min_htlc_msat if body_bool(body, "min_htlc_msat_specified") else None,
        inbound_fee=None if inbound is None else _inbound_fee(inbound),
    )


def _scope(body: dict) -> str | None:
    """The oneof scope: "global" (even false: protojson sets the oneof member) or "chan_point"."""
    has_global, chan_point = body.get("global") is not None, body_object(body, "chan_point")
    body_bool(body, "global")
    if has_global and chan_point is not None:
        raise invalid('proto: error parsing "chan_point", oneof lnrpc.PolicyUpdateRequest.scope is already set')
    if has_global:
        return None
    if chan_point is None:
        raise RpcError(GRPC_UNKNOWN, "unknown scope: <nil>")
    return f"{_funding_txid(chan_point)}:{body_int(chan_point, 'output_index', high=UINT32_MAX)}"


def _funding_txid(chan_point: dict) -> str:
    """funding_txid_str is the txid as displayed; funding_txid_bytes is the hash in internal, reversed, order."""
    txid_str, txid_b64 = chan_point.get("funding_txid_str"), chan_point.get("funding_txid_bytes")
    if txid_str is not None and txid_b64 is not None:
        raise invalid('proto: error parsing "funding_txid_bytes", oneof lnrpc.ChannelPoint.funding_txid is already set')
    try:
        if txid_b64 is not None:
            raw = base64.b64decode(str(txid_b64), validate=True)[::-1]
        elif txid_str is not None:
            raw = bytes.fromhex(str(txid_str))
        else:
            raise RpcError(GRPC_UNKNOWN, "funding txid is missing from chan_point")
    except (binascii.Error, ValueError):
        raise invalid("proto: invalid funding txid in chan_point") from None
    if len(raw) != TXID_LENGTH:
        raise RpcError(GRPC_UNKNOWN, f"invalid hash length of {len(raw)}, want {TXID_LENGTH}")
    return raw.hex()


def _fee_rate_ppm(body: dict) -> int:
    fee_rate, fee_rate_ppm = body_float(body, "fee_rate"), body_int(body, "fee_rate_ppm", high=UINT32_MAX)
    if fee_rate and fee_rate_ppm:
        raise invalid("cannot set both FeeRate and FeeRatePpm at the same time")
    if fee_rate and fee_rate < MIN_FEE_RATE:
        raise RpcError(GRPC_UNKNOWN, f"fee rate of {fee_rate} is too small, min fee rate is {MIN_FEE_RATE}")
    # LND rounds: a double like 0.000123 is not exactly 123e-6.
    return round(fee_rate * PPM) if fee_rate else fee_rate_ppm


def _inbound_fee(inbound: dict) -> tuple[int, int]:
    return (
        body_int(inbound, "base_fee_msat", low=INT32_MIN, high=INT32_MAX),
        body_int(inbound, "fee_rate_ppm", low=INT32_MIN, high=INT32_MAX),
    )


def _route(method: str, path: str, permission: str, handler: Handler) -> Route:
    return Route(method, re.compile(f"\\A{path}\\Z"), permission, handler)


ROUTES = [
    _route("GET", "/v1/getinfo", "info:read", get_info),
    _route("GET", "/v1/graph", "info:read", describe_graph),
    _route("GET", "/v1/graph/node/(?P<pub_key>[^/]+)", "info:read", get_node_info),
    _route("GET", "/v1/graph/edge/(?P<chan_id>[^/]+)", "info:read", get_chan_info),
    _route("GET", "/v1/channels", "offchain:read", list_channels),
    _route("GET", "/v1/fees", "offchain:read", fee_report),
    _route("GET", "/v1/balance/channels", "offchain:read", channel_balance),
    _route("GET", "/v1/peers", "peers:read", list_peers),
    _route("POST", "/v1/switch", "offchain:read", forwarding_history),
    _route("POST", "/v1/chanpolicy", "offchain:write", update_channel_policy),
]
