"""The network graph in LND's describegraph shape: what every graph source must deliver.

Validation keeps what analytics can use and says what it left out. LND's JSON has changed since 0.5 (2018):
older versions leave out fields at their zero value (`disabled`, a zero base fee, `max_htlc_msat` before 0.6,
`last_update`, node `addresses` and `features`), write int64 fields as numbers or as decimal strings, and
name the HTLC minimum `min_htlc` or `min_htlc_msat`. None of those are needed, so an absent field takes its
protobuf default. What cannot be used is left out and counted by reason: a channel without an id, node keys
or a capacity is skipped; a direction whose fees are unreadable is kept as "no policy". The whole document is
refused only when it is not a describegraph document at all (no `nodes` and `edges` lists, or no usable
channel). Written for speed and memory: the mainnet graph has 50,000 channels and is checked on every
refresh, decoded by msgspec straight into typed structs that hold only the fields analytics reads.
"""

import codecs
import gc
import gzip
import hashlib
import json
import marshal
import zlib
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec

from daznode.bounded_json import JSON_MAX_DEPTH, JsonDepthCounter
from daznode.lightning import is_pubkey
from sources.clients.errors import ContractViolation

GZIP_MAGIC = b"\x1f\x8b"
INT64_MAX = 2**63 - 1
MAX_EXAMPLES = 5

# Why a part of the document was left out: the keys of GraphSummary.skipped.
SKIP_EDGE_NOT_OBJECT = "channel skipped: not an object"
SKIP_EDGE_NO_ID = "channel skipped: no channel id"
SKIP_EDGE_NODE_KEY = "channel skipped: a node key is missing or malformed"
SKIP_EDGE_CAPACITY = "channel skipped: capacity missing or not an integer"
SKIP_NODE_KEY = "node skipped: public key missing or malformed"
IGNORED_POLICY = "direction kept without policy: unreadable fees, time lock or disabled flag"


@dataclass(frozen=True)
class GraphSummary:
    """What a document holds that analytics can use, and what was left out (reason -> count, a few examples)."""

    node_count: int
    edge_count: int
    skipped: dict[str, int] = field(default_factory=dict)
    examples: tuple[str, ...] = ()


class RoutingPolicy(msgspec.Struct, gc=False):
    """One direction's policy: only what analytics reads. An absent field is its protobuf default; a present one
    is kept as sent (number, decimal string or anything else) for read_policy to judge."""

    fee_base_msat: Any = 0
    fee_rate_milli_msat: Any = 0
    time_lock_delta: Any = 0
    disabled: Any = False


# Any JSON value that is not an object: where the format wants an object, so that a wrong one is decoded (and
# counted or refused by the validation below) rather than failing the whole document.
Scalar = str | int | float | bool | None
NotAnObject = list[Any] | Scalar


class GraphNode(msgspec.Struct, gc=False):
    pub_key: Any = None
    alias: Any = ""


class GraphEdge(msgspec.Struct, gc=False):
    channel_id: Any = None
    node1_pub: Any = None
    node2_pub: Any = None
    capacity: Any = None
    node1_policy: RoutingPolicy | NotAnObject = None
    node2_policy: RoutingPolicy | NotAnObject = None


class DescribeGraph(msgspec.Struct, gc=False):
    """The part of a describegraph document that analytics reads; every other field is skipped while decoding,
    never built (node features and addresses are most of the bytes)."""

    nodes: list[GraphNode | NotAnObject] | dict[str, Any] | Scalar = None
    edges: list[GraphEdge | NotAnObject] | dict[str, Any] | Scalar = None


DOCUMENT_TYPE = DescribeGraph | NotAnObject
_DECODER = msgspec.json.Decoder(DOCUMENT_TYPE)
# A source's bytes are hashed, compressed and checked a piece at a time: no whole-size copy of them is made.
PIECE_BYTES = 1 << 20


def describegraph_from(document) -> DescribeGraph | NotAnObject:
    """The typed form of a describegraph document already parsed into dicts and lists (an older snapshot's, a
    test's)."""
    if isinstance(document, DescribeGraph):
        return document
    return msgspec.convert(document, DOCUMENT_TYPE)


def _int(value) -> int | None:
    """A non-negative integer that fits in int64, as a number or as LND's decimal string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and 0 <= value <= INT64_MAX else None


def edge_problem(edge) -> str | None:
    """Why a channel cannot be used at all, or None."""
    if not isinstance(edge, GraphEdge):
        return SKIP_EDGE_NOT_OBJECT
    if not _int(edge.channel_id):  # absent, malformed, or 0 (which protobuf JSON writes for "unset")
        return SKIP_EDGE_NO_ID
    if not is_pubkey(edge.node1_pub) or not is_pubkey(edge.node2_pub):
        return SKIP_EDGE_NODE_KEY
    if _int(edge.capacity) is None:
        return SKIP_EDGE_CAPACITY
    return None


def read_policy(policy) -> tuple[int, int, int, int] | None:
    """(base fee msat, fee rate ppm, time lock delta, disabled 0/1) of a usable policy; None when there is none.

    Raises ValueError when a policy is present but unreadable. An absent field is its protobuf default (0, false).
    """
    if policy is None:
        return None
    if not isinstance(policy, RoutingPolicy):
        raise ValueError("not an object")
    values = [_int(policy.fee_base_msat), _int(policy.fee_rate_milli_msat), _int(policy.time_lock_delta)]
    if None in values or not isinstance(policy.disabled, bool):
        raise ValueError("unreadable field")
    return values[0], values[1], values[2], int(policy.disabled)


class _Skips:
    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}")


def validate_describegraph(document, *, source: str = "") -> GraphSummary:
    """Check a document (typed, or parsed into dicts); refuse (ContractViolation naming the field) only what is
    not a graph at all."""
    nodes, edges = _lists(describegraph_from(document), source)
    skips = _Skips()
    usable_nodes = 0
    for index, node in enumerate(nodes):
        if _usable_node(node):
            usable_nodes += 1
        else:
            skips.add(SKIP_NODE_KEY, f"nodes[{index}]")
    usable_edges = 0
    for index, edge in enumerate(edges):
        problem = edge_problem(edge)
        if problem is not None:
            skips.add(problem, f"edges[{index}]")
            continue
        usable_edges += 1
        for side, policy in (("node1_policy", edge.node1_policy), ("node2_policy", edge.node2_policy)):
            try:
                read_policy(policy)
            except ValueError:
                skips.add(IGNORED_POLICY, f"edges[{index}].{side}")
    if edges and not usable_edges:
        detail = "; ".join(f"{reason} ({count})" for reason, count in skips.counts.items())
        raise ContractViolation(f"none of the {len(edges)} channels is usable: {detail}", source=source, field="edges")
    return GraphSummary(
        node_count=usable_nodes, edge_count=usable_edges, skipped=dict(skips.counts), examples=tuple(skips.examples)
    )


def _lists(document, source: str) -> tuple[list, list]:
    if not isinstance(document, DescribeGraph):
        raise ContractViolation("the graph is not a JSON object", source=source)
    if not isinstance(document.nodes, list):
        raise ContractViolation("missing or not a list", source=source, field="nodes")
    if not isinstance(document.edges, list):
        raise ContractViolation("missing or not a list", source=source, field="edges")
    return document.nodes, document.edges


@dataclass(frozen=True)
class GraphDocument:
    """A validated describegraph document: what analytics reads of it, and its bytes compressed and hashed."""

    summary: GraphSummary
    compact: "CompactGraph"
    compressed: bytes  # zlib (level 1) of the JSON exactly as received
    content_hash: str  # SHA-256 of the JSON as received
    size_bytes: int

    @property
    def document(self) -> dict:
        """The whole document as received, parsed on demand: about a second and 250 MB for mainnet."""
        return json.loads(zlib.decompress(self.compressed))


def graph_document(raw: bytes, *, source: str = "") -> GraphDocument:
    """Parse and validate the JSON bytes (gzip accepted) of a describegraph document.

    Memory matters here: mainnet is 50 MB of JSON, over 230 MB as Python dicts. Only the bytes are ever held
    whole: they are hashed, compressed and checked (UTF-8, nesting) a piece at a time, then decoded straight
    into typed structs that keep only the fields analytics reads (about 16 MB for mainnet), which become the
    compact graph. Pass `raw` without keeping a reference to it (`graph_document(response.content)` in a
    function that returns right after), so that it is freed as soon as it is decoded.
    """
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            raise ContractViolation("the gzip stream is corrupt or truncated", source=source) from None
    (compressed, content_hash), size_bytes = _store_and_check(raw, source), len(raw)
    try:
        document = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise ContractViolation(f"the graph is not valid JSON: {exc}", source=source) from None
    del raw
    # httpx keeps a response in a reference cycle (the response and its stream), so the bytes it read are freed
    # only by the cycle collector: collect now, before the compact graph and the snapshot are built, not
    # whenever it next runs (measured: 50 MB still held at the peak of a refresh, in one run out of two).
    gc.collect()
    summary = validate_describegraph(document, source=source)
    compact = CompactGraph.from_document(document)
    return GraphDocument(
        summary=summary, compact=compact, compressed=compressed, content_hash=content_hash, size_bytes=size_bytes
    )


def _store_and_check(raw: bytes, source: str) -> tuple[bytes, str]:
    """(zlib level 1, SHA-256) of the bytes, read in pieces; ContractViolation when they are not UTF-8 or nest
    deeper than JSON_MAX_DEPTH (which msgspec would meet as a RecursionError, no SourceError)."""
    compressor, digest = zlib.compressobj(1), hashlib.sha256()
    utf8, depth = codecs.getincrementaldecoder("utf-8")(), JsonDepthCounter()
    compressed = []
    view = memoryview(raw)
    for start in range(0, len(view), PIECE_BYTES):
        piece = view[start : start + PIECE_BYTES]
        try:
            utf8.decode(piece, final=start + PIECE_BYTES >= len(view))
        except UnicodeDecodeError:
            raise ContractViolation("the graph is not UTF-8 JSON", source=source) from None
        depth.feed(piece)
        if depth.max_depth > JSON_MAX_DEPTH:
            raise ContractViolation(f"the graph is nested deeper than {JSON_MAX_DEPTH} levels", source=source)
        digest.update(piece)
        compressed.append(compressor.compress(piece))
    compressed.append(compressor.flush())
    return b"".join(compressed), digest.hexdigest()


# Per direction of a channel: whether a policy exists, and its fields. -1 marks "no policy" in value arrays.
DIRECTION_FIELDS = ("fee_base_msat", "fee_rate_ppm", "time_lock_delta", "disabled")
DIRECTION_COLUMNS = tuple(f"{side}_{name}" for side in ("node1", "node2") for name in DIRECTION_FIELDS)
EDGE_FIELDS = ("node1", "node2", "capacity_sat", "channel_id", *DIRECTION_COLUMNS)
COMPACT_VERSION = 1
NO_POLICY = -1


@dataclass
class CompactGraph:
    """The graph as columns: what analytics reads, restorable in milliseconds (the full document takes ~1 s).

    `pubkeys[i]` and `aliases[i]` describe node i; `edges[name][j]` is field `name` of channel j, where node1 and
    node2 are node indices and a direction without a policy has -1 in its fields.
    """

    pubkeys: list[str]
    aliases: list[str]
    edges: dict[str, array]

    @property
    def node_count(self) -> int:
        return len(self.pubkeys)

    @property
    def edge_count(self) -> int:
        return len(self.edges["node1"])

    @classmethod
    def from_document(cls, document) -> "CompactGraph":
        """The usable part of a document, typed or parsed into dicts (see validate_describegraph for what is left
        out, and why)."""
        nodes, edges = _lists(describegraph_from(document), source="")
        pubkeys = [node.pub_key for node in nodes if _usable_node(node)]
        aliases = [_alias(node) for node in nodes if _usable_node(node)]
        index = {pubkey: i for i, pubkey in enumerate(pubkeys)}
        columns = {name: array("q") for name in EDGE_FIELDS}
        for edge in edges:
            if edge_problem(edge) is not None:
                continue
            for side, pubkey, policy in (
                ("node1", edge.node1_pub, edge.node1_policy),
                ("node2", edge.node2_pub, edge.node2_policy),
            ):
                if pubkey not in index:  # an edge to a node the document does not list: keep it, add the node
                    index[pubkey] = len(pubkeys)
                    pubkeys.append(pubkey)
                    aliases.append("")
                columns[side].append(index[pubkey])
                _append_direction(columns, side, policy)
            columns["capacity_sat"].append(int(edge.capacity))
            columns["channel_id"].append(int(edge.channel_id))
        return cls(pubkeys=pubkeys, aliases=aliases, edges=columns)

    def to_bytes(self) -> bytes:
        payload = {
            "v": COMPACT_VERSION,
            "pubkeys": self.pubkeys,
            "aliases": self.aliases,
            "edges": {name: column.tobytes() for name, column in self.edges.items()},
        }
        return zlib.compress(marshal.dumps(payload), 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> "CompactGraph":
        payload = marshal.loads(zlib.decompress(data))  # noqa: S302 - our own bytes, from our database or cache
        if payload.get("v") != COMPACT_VERSION:
            raise ValueError(f"compact graph version {payload.get('v')} is not {COMPACT_VERSION}")
        edges = {}
        for name, raw in payload["edges"].items():
            column = array("q")
            column.frombytes(raw)
            edges[name] = column
        return cls(pubkeys=payload["pubkeys"], aliases=payload["aliases"], edges=edges)


def _usable_node(node) -> bool:
    return isinstance(node, GraphNode) and is_pubkey(node.pub_key)


def _alias(node: GraphNode) -> str:
    return node.alias if isinstance(node.alias, str) else ""


def _append_direction(columns: dict[str, array], side: str, policy) -> None:
    try:
        values = read_policy(policy)
    except ValueError:
        values = None  # unreadable: as unknown as no policy at all (counted by validate_describegraph)
    for name, value in zip(DIRECTION_FIELDS, values or (NO_POLICY,) * len(DIRECTION_FIELDS), strict=True):
        columns[f"{side}_{name}"].append(value)
