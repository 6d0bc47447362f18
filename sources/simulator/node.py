"""One node of a graph, as LND would see it: the public graph, our channels, peers and forwarding history.

The graph (a describegraph dict, from a file or synthetic_graph) is the single source of truth for policies:
an update changes our side of our edges in place, so every later read (graph, getchaninfo, feereport) shows it.
All access goes through one lock; /v1/graph's serialized bytes are cached until the next policy update.
"""

import gzip
import hashlib
import json
import random
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sources.simulator import lndjson
from sources.simulator.casting import (
    competitors_ppm,
    far_end,
    network_median_fee_rate_ppm,
    pick_ours,
    role_candidates,
    side,
)
from sources.simulator.graphgen import LND_FEATURES, synthetic_graph
from sources.simulator.ledger import (
    BLOCK_INTERVAL_S,
    DAY_S,
    MIN_HTLC_PARAMETER_MSAT,
    NS_PER_S,
    ChannelSeed,
    OurChannel,
    forwarding_history,
    our_channels,
    short_channel_block,
)
from sources.simulator.policy import (
    GRPC_NOT_FOUND,
    GRPC_UNKNOWN,
    UPDATE_NOT_FOUND,
    PolicyUpdate,
    RpcError,
    htlc_limits,
    policy_refusal,
    validate_policy_update,
)
from sources.simulator.roles import PROFILES, Role, assign_roles, fee_rate_ppm, readable_alias

SCID_BLOCK_SHIFT = 40  # a short channel id is block << 40 | transaction index << 16 | output index
SCID_POSITION_MASK = (1 << SCID_BLOCK_SHIFT) - 1
CONFIRMATIONS_SINCE_NEWEST_CHANNEL = 6
INACTIVE_SHARE = 0.08  # of the ordinary channels; one more is dead by its role
MAX_FORWARDING_EVENTS = 50_000  # LND's cap per ForwardingHistory response
DEFAULT_FORWARDING_EVENTS = 100
# LND's defaults for a channel it has no policy for yet (bitcoin.basefee, bitcoin.feerate, bitcoin.timelockdelta).
DEFAULT_BASE_FEE_MSAT, DEFAULT_FEE_RATE_PPM, DEFAULT_TIME_LOCK_DELTA = 1000, 1, 80


class GraphError(ValueError):
    """The graph file cannot be read or is not a describegraph dict."""


def load_graph(path: Path) -> dict:
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        graph = json.loads(raw)
    except (ValueError, EOFError, gzip.BadGzipFile) as exc:  # BadGzipFile is an OSError: catch it first
        raise GraphError(f"{path} is not describegraph JSON: {exc}") from None
    except OSError as exc:
        raise GraphError(f"cannot read {path}: {exc.strerror or exc}") from None
    if (
        not isinstance(graph, dict)
        or not isinstance(graph.get("nodes"), list)
        or not isinstance(graph.get("edges"), list)
    ):
        raise GraphError(f'{path} is not describegraph JSON: expected {{"nodes": [...], "edges": [...]}}')
    return graph


class SimulatedNode:
    def __init__(
        self, graph: dict, *, seed: int = 1, our_pubkey: str | None = None, clock: Callable[[], float] = time.time
    ):
        self._lock = threading.RLock()
        self._graph, self._clock, self._graph_json = graph, clock, None
        try:
            self._index()
        except (KeyError, TypeError, ValueError) as exc:
            raise GraphError(f"not a describegraph dict: {exc!r}") from None
        self.pubkey = our_pubkey or pick_ours(self._edges_by_pub)
        if self.pubkey not in self._edges_by_pub:
            raise GraphError(f"{self.pubkey} has no channel in this graph")
        self.block_height = (
            max(short_channel_block(chan_id) for chan_id in self._edges) + CONFIRMATIONS_SINCE_NEWEST_CHANNEL
        )
        rng = random.Random(seed)  # noqa: S311 - reproducible simulated state, not cryptography
        # The roles draw from a stream of their own, so that they leave the seed's ordinary channels as they were.
        role_rng = random.Random(f"{seed}:roles")  # noqa: S311
        self.roles = assign_roles(role_candidates(self._edges_by_pub, self.pubkey))
        self._date_recent_openings(role_rng)
        self._settle_our_policies(rng, role_rng)
        self._name_our_peers()
        self.started_at_s = int(clock())
        self.channels = our_channels(rng, self._channel_seeds(), block_height=self.block_height)
        self._channels_by_point = {channel.chan_point: channel for channel in self.channels}
        fees = {channel.chan_id: self._fee_terms(channel.chan_id) for channel in self.channels}
        self.forwards = forwarding_history(rng, self.channels, fees, now_s=self.started_at_s)
        # Every update the node took, in order: (chan point, fee rate ppm). Real LND gossips each one, so tests
        # count them to prove a policy is not sent twice.
        self.applied_updates: list[tuple[str, int]] = []

    @classmethod
    def from_path(cls, path: Path, **kwargs) -> "SimulatedNode":
        return cls(load_graph(path), **kwargs)

    @classmethod
    def synthetic(cls, *, seed: int = 1, node_count: int = 2000, **kwargs) -> "SimulatedNode":
        return cls(synthetic_graph(seed=seed, node_count=node_count), seed=seed, **kwargs)

    # -- building ---------------------------------------------------------------------------------------------

    def _index(self) -> None:
        self._nodes = {node["pub_key"]: node for node in self._graph["nodes"]}
        self._edges = {edge["channel_id"]: edge for edge in self._graph["edges"]}
        self._edges_by_pub: dict[str, list[dict]] = {}
        for edge in self._graph["edges"]:
            _check_edge(edge)
            edge.setdefault("auth_proof", None)  # LND always writes it; some hand-made graphs leave it out
            for pub in (edge["node1_pub"], edge["node2_pub"]):
                self._edges_by_pub.setdefault(pub, []).append(edge)
        if not self._edges:
            raise ValueError("the graph has no channel")

    def _date_recent_openings(self, rng: random.Random) -> None:
        """A role opened only weeks ago gets its channel id from a block of then (the id is where it was mined)."""
        for chan_id, role in list(self.roles.items()):
            span = PROFILES[role].opened_days_ago
            if span is None:
                continue
            block = self.block_height - rng.randint(*span) * DAY_S // BLOCK_INTERVAL_S
            position = int(chan_id) & SCID_POSITION_MASK  # transaction index and output: the chan point's
            while str(block << SCID_BLOCK_SHIFT | position) in self._edges:
                block -= 1
            new_id = str(block << SCID_BLOCK_SHIFT | position)
            edge = self._edges.pop(chan_id)
            edge["channel_id"], self._edges[new_id] = new_id, edge
            self.roles[new_id] = self.roles.pop(chan_id)

    def _settle_our_policies(self, rng: random.Random, role_rng: random.Random) -> None:
        """LND always has its own policy: a null or never-set side gets our usual one; a few channels are down.
        A channel with a role is up or down and priced as its role says."""
        ours = [side(edge, self.pubkey) for edge in self._edges_by_pub[self.pubkey]]
        enabled = [policy for policy in ours if policy and not policy["disabled"]]
        usual = _usual_policy(enabled)
        median_ppm = network_median_fee_rate_ppm(self._graph["edges"])
        network_median_ppm = DEFAULT_FEE_RATE_PPM if median_ppm is None else median_ppm
        for edge in self._edges_by_pub[self.pubkey]:
            policy = side(edge, self.pubkey)
            if policy is None or policy["time_lock_delta"] == 0:
                policy = {**usual, "max_htlc_msat": str(int(edge["capacity"]) * 990)}
                edge["node1_policy" if edge["node1_pub"] == self.pubkey else "node2_policy"] = policy
            # Within what the channel negotiated, or every later update of it would fail LND's checks.
            policy["min_htlc"] = str(max(int(policy["min_htlc"]), MIN_HTLC_PARAMETER_MSAT))
            role = self.roles.get(edge["channel_id"], Role.ORDINARY)
            profile = PROFILES.get(role)
            down = rng.random() < INACTIVE_SHARE
            policy["disabled"] = not profile.active if profile else down
            policy["fee_rate_milli_msat"] = str(
                fee_rate_ppm(
                    role,
                    role_rng,
                    current_ppm=int(policy["fee_rate_milli_msat"]),
                    competitors_ppm=competitors_ppm(self._edges_by_pub, far_end(edge, self.pubkey), us=self.pubkey),
                    network_median_ppm=network_median_ppm,
                )
            )

    def _name_our_peers(self) -> None:
        """Every peer of ours gets a readable alias: its own when it announces one, else one made from its key."""
        for edge in self._edges_by_pub[self.pubkey]:
            node = self._nodes.get(far_end(edge, self.pubkey))
            if node is not None and not node.get("alias"):
                node["alias"] = readable_alias(node["pub_key"])

    def _channel_seeds(self) -> list[ChannelSeed]:
        return [
            ChannelSeed(
                chan_id=edge["channel_id"],
                chan_point=edge["chan_point"],
                remote_pubkey=far_end(edge, self.pubkey),
                capacity_sat=int(edge["capacity"]),
                active=not self.our_policy(edge["channel_id"])["disabled"],
                role=self.roles.get(edge["channel_id"], Role.ORDINARY),
            )
            for edge in self._edges_by_pub[self.pubkey]
        ]

    # -- reads ------------------------------------------------------------------------------------------------

    def now_s(self) -> int:
        return int(self._clock())

    def alias_of(self, pubkey: str) -> str:
        """The graph's alias; one made from the key for a peer of ours that the graph does not describe."""
        node = self._nodes.get(pubkey)
        if node is not None:
            return node["alias"]
        return readable_alias(pubkey) if pubkey in self._edges_by_pub else ""

    def our_policy(self, chan_id: str) -> dict:
        return side(self._edges[chan_id], self.pubkey)

    def _fee_terms(self, chan_id: str) -> tuple[int, int]:
        policy = self.our_policy(chan_id)
        return int(policy["fee_base_msat"]), int(policy["fee_rate_milli_msat"])

    def get_info(self) -> dict:
        node = self._nodes.get(self.pubkey, {})
        active = sum(1 for channel in self.channels if channel.active)
        return {
            "version": lndjson.LND_VERSION,
            "commit_hash": lndjson.LND_COMMIT,
            "identity_pubkey": self.pubkey,
            "alias": node.get("alias", ""),
            "color": node.get("color", "#3399ff"),
            "num_pending_channels": 0,
            "num_active_channels": active,
            "num_inactive_channels": len(self.channels) - active,
            "num_peers": len(self._peer_pubkeys()),
            "block_height": self.block_height,
            "block_hash": "0" * 20 + hashlib.sha256(str(self.block_height).encode()).hexdigest()[20:],
            "best_header_timestamp": str(self.now_s() - 240),
            "synced_to_chain": True,
            "synced_to_graph": True,
            "testnet": False,
            "chains": [{"chain": "bitcoin", "network": "mainnet"}],
            "uris": [f"{self.pubkey}@{address['addr']}" for address in node.get("addresses", [])],
            "features": {bit: dict(feature) for bit, feature in LND_FEATURES.items()},
            "require_htlc_interceptor": False,
            "store_final_htlc_resolutions": False,
            "wallet_synced": True,
            "graph_cache_status": "GRAPH_CACHE_STATUS_LOADED",
        }

    def describe_graph_json(self) -> bytes:
        with self._lock:
            if self._graph_json is None:
                self._graph_json = json.dumps(self._graph, ensure_ascii=False, separators=(",", ":")).encode()
            return self._graph_json

    def node_info(self, pubkey: str, *, include_channels: bool) -> dict:
        with self._lock:
            node, edges = self._nodes.get(pubkey), self._edges_by_pub.get(pubkey, [])
            if node is None and not edges:
                raise RpcError(GRPC_NOT_FOUND, "unable to find node")
            return json.loads(json.dumps({
                "node": node or _bare_node(pubkey),
                "num_channels": len(edges),
                "total_capacity": str(sum(int(edge["capacity"]) for edge in edges)),
                "channels": edges if include_channels else [],
            }))  # fmt: skip

    def chan_info(self, chan_id: str) -> dict:
        with self._lock:
            edge = self._edges.get(chan_id)
            if edge is None:
                raise RpcError(GRPC_UNKNOWN, "edge not found")
            return json.loads(json.dumps(edge))

    def list_channels(
        self,
        *,
        active_only: bool = False,
        inactive_only: bool = False,
        public_only: bool = False,
        private_only: bool = False,
        peer: bytes = b"",
        peer_alias_lookup: bool = False,
    ) -> dict:
        if active_only and inactive_only:
            raise RpcError(GRPC_UNKNOWN, "either activeOnly or inactiveOnly can be set, but not both")
        if public_only and private_only:
            raise RpcError(GRPC_UNKNOWN, "either publicOnly or privateOnly can be set, but not both")
        with self._lock:
            selected = [
                channel
                for channel in self.channels
                if not (active_only and not channel.active)
                and not (inactive_only and channel.active)
                and not private_only  # every simulated channel is public
                and (not peer or bytes.fromhex(channel.remote_pubkey) == peer)
            ]
            return {"channels": [self._channel_json(channel, peer_alias_lookup) for channel in selected]}

    def _channel_json(self, channel: OurChannel, peer_alias_lookup: bool) -> dict:
        alias = self.alias_of(channel.remote_pubkey) if peer_alias_lookup else ""
        return lndjson.channel(channel, peer_alias=alias)

    def fee_report(self) -> dict:
        with self._lock:
            now_s = self.now_s()
            return {
                "channel_fees": [
                    lndjson.fee_report_entry(channel, self.our_policy(channel.chan_id)) for channel in self.channels
                ],
                "day_fee_sum": str(self._fees_since_msat(now_s - DAY_S) // lndjson.MSAT_PER_SAT),
                "week_fee_sum": str(self._fees_since_msat(now_s - 7 * DAY_S) // lndjson.MSAT_PER_SAT),
                "month_fee_sum": str(self._fees_since_msat(now_s - 30 * DAY_S) // lndjson.MSAT_PER_SAT),
            }

    def _fees_since_msat(self, since_s: int) -> int:
        return sum(event.fee_msat for event in self.forwards if event.timestamp_s >= since_s)

    def channel_balance(self) -> dict:
        with self._lock:
            local_sat = sum(channel.local_balance_sat for channel in self.channels)
            remote_sat = sum(channel.remote_balance_sat for channel in self.channels)
            unsettled_local_sat = sum(h.amount_sat for c in self.channels for h in c.pending_htlcs if not h.incoming)
            unsettled_remote_sat = sum(h.amount_sat for c in self.channels for h in c.pending_htlcs if h.incoming)
            return {
                "balance": str(local_sat),
                "pending_open_balance": "0",
                "local_balance": lndjson.amount(local_sat),
                "remote_balance": lndjson.amount(remote_sat),
                "unsettled_local_balance": lndjson.amount(unsettled_local_sat),
                "unsettled_remote_balance": lndjson.amount(unsettled_remote_sat),
                "pending_open_local_balance": lndjson.amount(0),
                "pending_open_remote_balance": lndjson.amount(0),
                "custom_channel_data": "",
            }

    def _peer_pubkeys(self) -> list[str]:
        """LND lists connected peers: those of our active channels."""
        return sorted({channel.remote_pubkey for channel in self.channels if channel.active})

    def list_peers(self) -> dict:
        with self._lock:
            return {"peers": [self._peer_json(pubkey) for pubkey in self._peer_pubkeys()]}

    def _peer_json(self, pubkey: str) -> dict:
        channels = [channel for channel in self.channels if channel.remote_pubkey == pubkey]
        node = self._nodes.get(pubkey) or _bare_node(pubkey)
        addresses = node["addresses"]
        fallback = f"{int(pubkey[2:4], 16)}.{int(pubkey[4:6], 16)}.{int(pubkey[6:8], 16)}.{int(pubkey[8:10], 16)}:9735"
        return lndjson.peer(
            pubkey=pubkey,
            address=addresses[0]["addr"] if addresses else fallback,
            sent_sat=sum(channel.total_sent_sat for channel in channels),
            received_sat=sum(channel.total_received_sat for channel in channels),
            inbound=not any(channel.initiator for channel in channels),
            flap_count=max(channel.flap_count for channel in channels),
            features=node["features"] or {bit: dict(feature) for bit, feature in LND_FEATURES.items()},
        )

    def forwarding_history(
        self,
        *,
        start_time_s: int = 0,
        end_time_s: int = 0,
        index_offset: int = 0,
        num_max_events: int = 0,
        peer_alias_lookup: bool = False,
        incoming_chan_ids: frozenset[str] = frozenset(),
        outgoing_chan_ids: frozenset[str] = frozenset(),
    ) -> dict:
        """LND's query: start <= time <= end (end 0 means now), after skipping index_offset matching events."""
        end_ns = (end_time_s or self.now_s()) * NS_PER_S
        limit = min(num_max_events or DEFAULT_FORWARDING_EVENTS, MAX_FORWARDING_EVENTS)
        with self._lock:
            matching = [
                event
                for event in self.forwards
                if start_time_s * NS_PER_S <= event.timestamp_ns <= end_ns
                and (not incoming_chan_ids or event.chan_id_in in incoming_chan_ids)
                and (not outgoing_chan_ids or event.chan_id_out in outgoing_chan_ids)
            ]
            page = matching[index_offset : index_offset + limit]
            return {
                "forwarding_events": [self._forward_json(event, peer_alias_lookup) for event in page],
                "last_offset_index": index_offset + len(page),
            }

    def _forward_json(self, event, peer_alias_lookup: bool) -> dict:
        if not peer_alias_lookup:
            return lndjson.forwarding_event(event, alias_in="", alias_out="")
        return lndjson.forwarding_event(
            event,
            alias_in=self.alias_of(self._remote_of(event.chan_id_in)),
            alias_out=self.alias_of(self._remote_of(event.chan_id_out)),
        )

    def _remote_of(self, chan_id: str) -> str:
        return far_end(self._edges[chan_id], self.pubkey)

    # -- writes -----------------------------------------------------------------------------------------------

    def update_channel_policy(
        self, update: PolicyUpdate, *, refused: dict[str, str] | None = None, ignored: frozenset[str] = frozenset()
    ) -> dict:
        """Apply `update` to our side of the targeted channels; `refused` (chan point -> reason) fail on purpose.

        Channels in `ignored` pass LND's checks and are reported as updated, but keep their policy.
        """
        validate_policy_update(update)
        refused = refused or {}
        with self._lock:
            if update.chan_point is None:
                targets = list(self.channels)
            elif update.chan_point in self._channels_by_point:
                targets = [self._channels_by_point[update.chan_point]]
            else:
                return {
                    "failed_updates": [
                        lndjson.failed_update(update.chan_point, reason=UPDATE_NOT_FOUND, error="not found")
                    ]
                }
            failures = []
            for channel in targets:
                problem = policy_refusal(channel, self.our_policy(channel.chan_id), update, refused)
                if problem:
                    failures.append(lndjson.failed_update(channel.chan_point, reason=problem[0], error=problem[1]))
                elif channel.chan_point not in ignored:
                    self._apply(channel, update)
            self._graph_json = None
            return {"failed_updates": failures}

    def _apply(self, channel: OurChannel, update: PolicyUpdate) -> None:
        policy, now_s = self.our_policy(channel.chan_id), self.now_s()
        policy["fee_base_msat"] = str(update.base_fee_msat)
        policy["fee_rate_milli_msat"] = str(update.fee_rate_ppm)
        policy["time_lock_delta"] = update.time_lock_delta
        min_htlc_msat, max_htlc_msat = htlc_limits(channel, policy, update)
        policy["min_htlc"], policy["max_htlc_msat"] = str(min_htlc_msat), str(max_htlc_msat)
        if update.inbound_fee is not None:
            policy["inbound_fee_base_msat"], policy["inbound_fee_rate_milli_msat"] = update.inbound_fee
        policy["last_update"] = now_s
        self._edges[channel.chan_id]["last_update"] = now_s
        self.applied_updates.append((channel.chan_point, update.fee_rate_ppm))


def _check_edge(edge: dict) -> None:
    """Fail at load time, with the culprit named, rather than on some later request."""
    txid, _, output_index = edge["chan_point"].partition(":")
    if len(bytes.fromhex(txid)) != 32 or not output_index.isdigit() or int(edge["capacity"]) < 0:
        raise ValueError(f"malformed channel {edge['channel_id']}")
    int(edge["channel_id"])


def _usual_policy(enabled: list[dict]) -> dict:
    """The median of our own enabled policies, or LND's defaults when there is none."""
    if enabled:
        base_fee_msat = int(statistics.median_low(int(policy["fee_base_msat"]) for policy in enabled))
        fee_rate_ppm = int(statistics.median_low(int(policy["fee_rate_milli_msat"]) for policy in enabled))
        time_lock_delta = int(statistics.median_low(policy["time_lock_delta"] for policy in enabled))
    else:
        base_fee_msat, fee_rate_ppm, time_lock_delta = (
            DEFAULT_BASE_FEE_MSAT,
            DEFAULT_FEE_RATE_PPM,
            DEFAULT_TIME_LOCK_DELTA,
        )
    return {
        "time_lock_delta": time_lock_delta,
        "min_htlc": "1000",
        "fee_base_msat": str(base_fee_msat),
        "fee_rate_milli_msat": str(fee_rate_ppm),
        "disabled": False,
        "max_htlc_msat": "0",
        "last_update": max((policy["last_update"] for policy in enabled), default=0),
        "custom_records": {},
        "inbound_fee_base_msat": 0,
        "inbound_fee_rate_milli_msat": 0,
    }


def _bare_node(pubkey: str) -> dict:
    """What LND returns for a node it knows only from channel announcements."""
    return {
        "last_update": 0,
        "pub_key": pubkey,
        "alias": "",
        "addresses": [],
        "color": "#000000",
        "features": {},
        "custom_records": {},
    }
