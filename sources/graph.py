"""The network graph in LND's describegraph shape: what every graph source must deliver.

Validation is strict (a wrong field refuses the whole document, naming the field) and written for speed:
the mainnet graph has 50,000 channels and is checked on every refresh.
"""

import gzip
import hashlib
import json
import marshal
import re
import zlib
from array import array
from dataclasses import dataclass

from sources.clients.errors import ContractViolation

PUBKEY = re.compile(r"^0[23][0-9a-f]{64}$")
GZIP_MAGIC = b"\x1f\x8b"
POLICY_INT_FIELDS = ("fee_base_msat", "fee_rate_milli_msat", "min_htlc", "max_htlc_msat", "time_lock_delta")


@dataclass(frozen=True)
class GraphSummary:
    node_count: int
    edge_count: int


INT64_MAX = 2**63 - 1


def _is_int(value) -> bool:
    """A non-negative integer that fits in int64, as a number or as LND's decimal string."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    return isinstance(value, int) and 0 <= value <= INT64_MAX


def validate_describegraph(document, *, source: str = "") -> GraphSummary:
    if not isinstance(document, dict):
        raise ContractViolation("the graph is not a JSON object", source=source)
    nodes, edges = document.get("nodes"), document.get("edges")
    if not isinstance(nodes, list):
        raise ContractViolation("missing or not a list", source=source, field="nodes")
    if not isinstance(edges, list):
        raise ContractViolation("missing or not a list", source=source, field="edges")
    for index, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("pub_key"), str) or not PUBKEY.match(node["pub_key"]):
            raise ContractViolation("not a node public key", source=source, field=f"nodes[{index}].pub_key")
        if not isinstance(node.get("alias", ""), str):
            raise ContractViolation("not a string", source=source, field=f"nodes[{index}].alias")

    for index, edge in enumerate(edges):
        _validate_edge(edge, f"edges[{index}]", source)
    return GraphSummary(node_count=len(nodes), edge_count=len(edges))


def _validate_edge(edge, where: str, source: str) -> None:
    if not isinstance(edge, dict):
        raise ContractViolation("not an object", source=source, field=where)
    for key in ("channel_id", "capacity"):
        if not _is_int(edge.get(key)):
            raise ContractViolation("missing or not an integer", source=source, field=f"{where}.{key}")
    for key in ("node1_pub", "node2_pub"):
        if not isinstance(edge.get(key), str) or not PUBKEY.match(edge[key]):
            raise ContractViolation("not a node public key", source=source, field=f"{where}.{key}")
    for key in ("node1_policy", "node2_policy"):
        if key not in edge:
            raise ContractViolation("missing (null when unknown)", source=source, field=f"{where}.{key}")
        policy = edge[key]
        if policy is None:
            continue
        if not isinstance(policy, dict):
            raise ContractViolation("not an object or null", source=source, field=f"{where}.{key}")
        for field in POLICY_INT_FIELDS:
            if not _is_int(policy.get(field)):
                raise ContractViolation("missing or not an integer", source=source, field=f"{where}.{key}.{field}")
        if not isinstance(policy.get("disabled"), bool):
            raise ContractViolation("missing or not a boolean", source=source, field=f"{where}.{key}.disabled")


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
        index = {node["pub_key"]: i for i, node in enumerate(document["nodes"])}
        pubkeys = [node["pub_key"] for node in document["nodes"]]
        aliases = [node.get("alias", "") for node in document["nodes"]]
        columns = {name: array("q") for name in EDGE_FIELDS}
        for edge in document["edges"]:
            for side in ("node1", "node2"):
                pubkey = edge[f"{side}_pub"]
                if pubkey not in index:  # an edge to a node the document does not list: keep it, add the node
                    index[pubkey] = len(pubkeys)
                    pubkeys.append(pubkey)
                    aliases.append("")
                columns[side].append(index[pubkey])
                _append_direction(columns, side, edge[f"{side}_policy"])
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


def _append_direction(columns: dict[str, array], side: str, policy: dict | None) -> None:
    if policy is None:
        for name in DIRECTION_FIELDS:
            columns[f"{side}_{name}"].append(-1)
        return
    columns[f"{side}_fee_base_msat"].append(int(policy["fee_base_msat"]))
    columns[f"{side}_fee_rate_ppm"].append(int(policy["fee_rate_milli_msat"]))
    columns[f"{side}_time_lock_delta"].append(int(policy["time_lock_delta"]))
    columns[f"{side}_disabled"].append(1 if policy["disabled"] else 0)
