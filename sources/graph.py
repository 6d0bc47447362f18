"""The network graph in LND's describegraph shape: what every graph source must deliver.

Validation keeps what analytics can use and says what it left out. LND's JSON has changed since 0.5 (2018):
older versions leave out fields at their zero value (`disabled`, a zero base fee, `max_htlc_msat` before 0.6,
`last_update`, node `addresses` and `features`), write int64 fields as numbers or as decimal strings, and
name the HTLC minimum `min_htlc` or `min_htlc_msat`. None of those are needed, so an absent field takes its
protobuf default. What cannot be used is left out and counted by reason: a channel without an id, node keys
or a capacity is skipped; a direction whose fees are unreadable is kept as "no policy". The whole document is
refused only when it is not a describegraph document at all (no `nodes` and `edges` lists, or no usable
channel). Written for speed: the mainnet graph has 50,000 channels and is checked on every refresh.
"""

import gzip
import hashlib
import json
import marshal
import zlib
from array import array
from collections import Counter
from dataclasses import dataclass, field

from daznode.bounded_json import JSON_MAX_DEPTH, json_depth_exceeds
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


def _int(value) -> int | None:
    """A non-negative integer that fits in int64, as a number or as LND's decimal string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and 0 <= value <= INT64_MAX else None


def edge_problem(edge) -> str | None:
    """Why a channel cannot be used at all, or None."""
    if not isinstance(edge, dict):
        return SKIP_EDGE_NOT_OBJECT
    channel_id = _int(edge.get("channel_id"))
    if not channel_id:  # absent, malformed, or 0 (which protobuf JSON writes for "unset")
        return SKIP_EDGE_NO_ID
    if not is_pubkey(edge.get("node1_pub")) or not is_pubkey(edge.get("node2_pub")):
        return SKIP_EDGE_NODE_KEY
    if _int(edge.get("capacity")) is None:
        return SKIP_EDGE_CAPACITY
    return None


def read_policy(policy) -> tuple[int, int, int, int] | None:
    """(base fee msat, fee rate ppm, time lock delta, disabled 0/1) of a usable policy; None when there is none.

    Raises ValueError when a policy is present but unreadable. An absent field is its protobuf default (0, false).
    """
    if policy is None:
        return None
    if not isinstance(policy, dict):
        raise ValueError("not an object")
    values = [_int(policy.get(name, 0)) for name in ("fee_base_msat", "fee_rate_milli_msat", "time_lock_delta")]
    disabled = policy.get("disabled", False)
    if None in values or not isinstance(disabled, bool):
        raise ValueError("unreadable field")
    return values[0], values[1], values[2], int(disabled)


class _Skips:
    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}")


def validate_describegraph(document, *, source: str = "") -> GraphSummary:
    """Check a parsed document; refuse (ContractViolation naming the field) only what is not a graph at all."""
    nodes, edges = _lists(document, source)
    skips = _Skips()
    usable_nodes = 0
    for index, node in enumerate(nodes):
        if isinstance(node, dict) and is_pubkey(node.get("pub_key")):
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
        for side in ("node1_policy", "node2_policy"):
            try:
                read_policy(edge.get(side))
            except ValueError:
                skips.add(IGNORED_POLICY, f"edges[{index}].{side}")
    if edges and not usable_edges:
        detail = "; ".join(f"{reason} ({count})" for reason, count in skips.counts.items())
        raise ContractViolation(f"none of the {len(edges)} channels is usable: {detail}", source=source, field="edges")
    return GraphSummary(
        node_count=usable_nodes, edge_count=usable_edges, skipped=dict(skips.counts), examples=tuple(skips.examples)
    )


def _lists(document, source: str) -> tuple[list, list]:
    if not isinstance(document, dict):
        raise ContractViolation("the graph is not a JSON object", source=source)
    nodes, edges = document.get("nodes"), document.get("edges")
    if not isinstance(nodes, list):
        raise ContractViolation("missing or not a list", source=source, field="nodes")
    if not isinstance(edges, list):
        raise ContractViolation("missing or not a list", source=source, field="edges")
    return nodes, edges


@dataclass(frozen=True)
class GraphDocument:
    """A validated describegraph document, with the bytes it came as compressed and hashed for storage."""

    document: dict
    summary: GraphSummary
    compressed: bytes  # zlib (level 1) of the JSON exactly as received
    content_hash: str  # SHA-256 of the JSON as received
    size_bytes: int


def graph_document(raw: bytes, *, source: str = "") -> GraphDocument:
    """Parse and validate the JSON bytes (gzip accepted) of a describegraph document.

    Memory matters here: mainnet is 47 MB of JSON and about 230 MB once parsed. The bytes and their decoded
    text are released as soon as they have been used, so pass `raw` without keeping a reference to it
    (`graph_document(response.content)` in a function that returns right after): measured, that keeps the peak
    of a whole refresh under 400 MB instead of over it.
    """
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            raise ContractViolation("the gzip stream is corrupt or truncated", source=source) from None
    compressed, content_hash, size_bytes = zlib.compress(raw, 1), hashlib.sha256(raw).hexdigest(), len(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ContractViolation("the graph is not UTF-8 JSON", source=source) from None
    if json_depth_exceeds(raw, JSON_MAX_DEPTH):  # json.loads would recurse into RecursionError, not a SourceError
        raise ContractViolation(f"the graph is nested deeper than {JSON_MAX_DEPTH} levels", source=source)
    del raw
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractViolation(f"the graph is not valid JSON: {exc.msg} at byte {exc.pos}", source=source) from None
    del text
    summary = validate_describegraph(document, source=source)
    return GraphDocument(
        document=document, summary=summary, compressed=compressed, content_hash=content_hash, size_bytes=size_bytes
    )


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
    def from_document(cls, document: dict) -> "CompactGraph":
        """The usable part of a document (see validate_describegraph for what is left out, and why)."""
        pubkeys = [node["pub_key"] for node in document["nodes"] if _usable_node(node)]
        aliases = [_alias(node) for node in document["nodes"] if _usable_node(node)]
        index = {pubkey: i for i, pubkey in enumerate(pubkeys)}
        columns = {name: array("q") for name in EDGE_FIELDS}
        for edge in document["edges"]:
            if edge_problem(edge) is not None:
                continue
            for side in ("node1", "node2"):
                pubkey = edge[f"{side}_pub"]
                if pubkey not in index:  # an edge to a node the document does not list: keep it, add the node
                    index[pubkey] = len(pubkeys)
                    pubkeys.append(pubkey)
                    aliases.append("")
                columns[side].append(index[pubkey])
                _append_direction(columns, side, edge.get(f"{side}_policy"))
            columns["capacity_sat"].append(int(edge["capacity"]))
            columns["channel_id"].append(int(edge["channel_id"]))
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
    return isinstance(node, dict) and is_pubkey(node.get("pub_key"))


def _alias(node: dict) -> str:
    alias = node.get("alias", "")
    return alias if isinstance(alias, str) else ""


def _append_direction(columns: dict[str, array], side: str, policy: dict | None) -> None:
    try:
        values = read_policy(policy)
    except ValueError:
        values = None  # unreadable: as unknown as no policy at all (counted by validate_describegraph)
    for name, value in zip(DIRECTION_FIELDS, values or (NO_POLICY,) * len(DIRECTION_FIELDS), strict=True):
        columns[f"{side}_{name}"].append(value)
