import gc
import gzip
import json
import tracemalloc

import httpx
import pytest

from sources.clients.errors import ContractViolation
from sources.clients.public_graph import PublicGraphClient
from sources.demo import simulated_node_register
from sources.graph import (
    IGNORED_POLICY,
    MAX_EXAMPLES,
    PIECE_BYTES,
    SKIP_EDGE_CAPACITY,
    SKIP_EDGE_NO_ID,
    SKIP_EDGE_NODE_KEY,
    SKIP_EDGE_NOT_OBJECT,
    SKIP_NODE_KEY,
    CompactGraph,
    graph_document,
    validate_describegraph,
)
from sources.models import GraphSnapshot
from sources.snapshots import refresh_graph
from tests.auth_vault.fixtures import ADMIN_MACAROON
from tests.sources import graphs
from tests.sources.graphs import broken, pubkey, star_graph
from tests.sources.servers import Reply, scripted_server


def test_it_summarises_a_valid_graph():
    summary = validate_describegraph(star_graph(4))
    assert (summary.node_count, summary.edge_count) == (5, 4)


NOT_A_GRAPH = [
    ([], None, "not a JSON object"),
    ({"graph": []}, "nodes", "missing or not a list"),
    ({"nodes": []}, "edges", "missing or not a list"),
    ({"nodes": [], "edges": {}}, "edges", "not a list"),
    ({"nodes": "x", "edges": []}, "nodes", "not a list"),
    ({"nodes": None, "edges": []}, "nodes", "not a list"),
    (broken(broken(star_graph(2), "edges.0.capacity", "lots"), "edges.1.channel_id", KeyError), "edges", "none"),
]


@pytest.mark.parametrize(("document", "field", "message"), NOT_A_GRAPH)
def test_it_refuses_only_a_document_that_is_not_a_graph(document, field, message):
    with pytest.raises(ContractViolation, match=message) as error:
        validate_describegraph(document, source="s")
    assert error.value.field == field


@pytest.mark.parametrize(("document", "field", "message"), NOT_A_GRAPH)
def test_the_typed_decoder_refuses_the_same_documents_with_the_same_messages(document, field, message):
    with pytest.raises(ContractViolation, match=message) as error:
        graph_document(json.dumps(document).encode(), source="s")
    assert error.value.field == field


UNUSABLE_CHANNELS = [
    ("edges.1.capacity", "lots", SKIP_EDGE_CAPACITY),
    ("edges.2.capacity", KeyError, SKIP_EDGE_CAPACITY),
    ("edges.2.capacity", {"sat": 5}, SKIP_EDGE_CAPACITY),
    ("edges.0.channel_id", 1.5, SKIP_EDGE_NO_ID),
    ("edges.0.channel_id", KeyError, SKIP_EDGE_NO_ID),
    ("edges.0.channel_id", "0", SKIP_EDGE_NO_ID),
    ("edges.0.channel_id", 2**64, SKIP_EDGE_NO_ID),
    ("edges.0.channel_id", [1], SKIP_EDGE_NO_ID),
    ("edges.3.node2_pub", "03zz", SKIP_EDGE_NODE_KEY),
    ("edges.3.node2_pub", None, SKIP_EDGE_NODE_KEY),
    ("edges.3.node1_pub", pubkey(0) + "\n", SKIP_EDGE_NODE_KEY),
    ("edges.2", "an edge", SKIP_EDGE_NOT_OBJECT),
    ("edges.2", ["an", "edge"], SKIP_EDGE_NOT_OBJECT),
    ("edges.2", None, SKIP_EDGE_NOT_OBJECT),
]


@pytest.mark.parametrize(("path", "value", "reason"), UNUSABLE_CHANNELS)
def test_it_skips_a_channel_it_cannot_use_and_says_why(path, value, reason):
    summary = validate_describegraph(broken(star_graph(4), path, value), source="s")
    assert summary.edge_count == 3
    assert summary.skipped == {reason: 1}
    assert summary.examples[0].startswith(f"edges[{path.split('.')[1]}]") and reason in summary.examples[0]
    compact = CompactGraph.from_document(broken(star_graph(4), path, value))
    assert compact.edge_count == 3, "the compact graph leaves out exactly what validation counted"


@pytest.mark.parametrize(("path", "value", "reason"), UNUSABLE_CHANNELS)
def test_the_typed_decoder_skips_and_counts_the_same_channels(path, value, reason):
    # Decoded from bytes, a wrong value in a typed field must be skipped and counted, not fail the document.
    document = graph_document(json.dumps(broken(star_graph(4), path, value)).encode(), source="s")
    assert document.summary.edge_count == document.compact.edge_count == 3
    assert document.summary.skipped == {reason: 1}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("edges.1.node1_policy.fee_rate_milli_msat", None),
        ("edges.1.node1_policy.fee_base_msat", "-5"),
        ("edges.1.node1_policy.disabled", "no"),
        ("edges.1.node1_policy", []),
    ],
)
def test_an_unreadable_policy_keeps_the_channel_with_that_direction_unknown(path, value):
    graph = broken(star_graph(4), path, value)
    summary = validate_describegraph(graph)
    assert summary.edge_count == 4
    assert summary.skipped == {IGNORED_POLICY: 1}
    compact = CompactGraph.from_document(graph)
    assert compact.edges["node1_fee_rate_ppm"][1] == -1 and compact.edges["node1_disabled"][1] == -1
    assert compact.edges["node2_fee_rate_ppm"][1] == 100, "the other direction is kept as it is"


def test_a_node_without_a_usable_key_is_left_out_and_counted():
    graph = broken(star_graph(4), "nodes.2.pub_key", "not-a-key")
    summary = validate_describegraph(graph)
    assert (summary.node_count, summary.edge_count) == (4, 4)
    assert summary.skipped == {SKIP_NODE_KEY: 1}
    assert "not-a-key" not in CompactGraph.from_document(graph).pubkeys


def test_examples_are_a_few_and_counts_are_all():
    graph = star_graph(12)
    for edge in graph["edges"][:10]:
        edge["capacity"] = "unknown"
    summary = validate_describegraph(graph)
    assert summary.skipped == {SKIP_EDGE_CAPACITY: 10}
    assert len(summary.examples) == MAX_EXAMPLES


def lnd_2019_graph() -> dict:
    """describegraph as LND 0.5/0.6 wrote it: int64 as strings or numbers, `min_htlc`, no `max_htlc_msat`, no
    `last_update` (or 0), no `disabled` when false, no zero fee, no node `addresses` or `features`, and a
    missing policy left out rather than null."""
    nodes = [
        {"last_update": 1554000000, "pub_key": pubkey(0), "alias": "old-hub", "color": "#3399ff"},
        {"pub_key": pubkey(1), "alias": "", "color": "#000000", "last_update": 0},
        {"pub_key": pubkey(2), "alias": "leaf-2"},
    ]
    old_policy = {"time_lock_delta": 144, "min_htlc": "1000", "fee_base_msat": "1000", "fee_rate_milli_msat": "1"}
    edges = [
        {
            "channel_id": "616728534196994048",
            "chan_point": "aa" * 32 + ":1",
            "node1_pub": pubkey(0),
            "node2_pub": pubkey(1),
            "capacity": "16777215",
            "node1_policy": old_policy,
            "node2_policy": {"time_lock_delta": 40, "min_htlc": "1", "fee_rate_milli_msat": "10", "disabled": True},
        },
        {
            "channel_id": 616728534196994049,
            "chan_point": "bb" * 32 + ":0",
            "last_update": 0,
            "node1_pub": pubkey(0),
            "node2_pub": pubkey(2),
            "capacity": 500000,
            "node1_policy": {"time_lock_delta": 144, "min_htlc_msat": "1000", "fee_base_msat": 0},
        },
        {"chan_point": "cc" * 32 + ":0", "node1_pub": pubkey(1), "node2_pub": pubkey(2), "capacity": "20000"},
        {"channel_id": "616728534196994051", "node1_pub": pubkey(1), "node2_pub": pubkey(2), "capacity": "a lot"},
    ]
    return {"nodes": nodes, "edges": edges}


def test_it_reads_a_2019_lnd_graph_and_reports_what_it_skipped():
    document = graph_document(json.dumps(lnd_2019_graph()).encode(), source="old-lnd")
    assert (document.summary.node_count, document.summary.edge_count) == (3, 2)
    assert document.summary.skipped == {SKIP_EDGE_NO_ID: 1, SKIP_EDGE_CAPACITY: 1}
    assert document.summary.examples == (f"edges[2]: {SKIP_EDGE_NO_ID}", f"edges[3]: {SKIP_EDGE_CAPACITY}")
    compact = CompactGraph.from_document(document.document)
    assert list(compact.edges["channel_id"]) == [616728534196994048, 616728534196994049]
    assert list(compact.edges["capacity_sat"]) == [16777215, 500000]
    assert list(compact.edges["node1_fee_base_msat"]) == [1000, 0]
    assert list(compact.edges["node2_fee_base_msat"]) == [0, -1], "an absent fee is 0; an absent policy is none"
    assert list(compact.edges["node2_fee_rate_ppm"]) == [10, -1]
    assert list(compact.edges["node1_disabled"]) == [0, 0], "an absent disabled flag is false"
    assert list(compact.edges["node2_disabled"]) == [1, -1]


def test_a_null_policy_is_accepted_as_lnd_writes_it():
    graph = star_graph(2)
    assert graph["edges"][0]["node2_policy"] is None
    assert validate_describegraph(graph).edge_count == 2


def test_the_compact_form_keeps_every_channel_and_both_directions():
    compact = CompactGraph.from_document(star_graph(3))
    assert compact.pubkeys[0] == pubkey(0) and compact.aliases[2] == "node-2"
    assert list(compact.edges["node1"]) == [0, 0, 0]
    assert list(compact.edges["node2"]) == [1, 2, 3]
    assert list(compact.edges["node1_fee_rate_ppm"]) == [10, 20, 30]
    assert list(compact.edges["node2_fee_rate_ppm"]) == [-1, 100, 100], "no policy yet is -1"
    assert list(compact.edges["capacity_sat"]) == [1_000_000] * 3
    again = CompactGraph.from_bytes(compact.to_bytes())
    assert again.pubkeys == compact.pubkeys
    assert again.edges == compact.edges


def test_an_edge_to_an_unlisted_node_adds_the_node():
    graph = star_graph(2)
    graph["nodes"].pop()
    compact = CompactGraph.from_document(graph)
    assert compact.node_count == 3
    assert compact.pubkeys[2] == pubkey(2)


def test_graph_bytes_may_be_gzip_and_broken_ones_are_refused():
    raw = json.dumps(star_graph(2)).encode()
    assert graph_document(gzip.compress(raw), source="s").summary.edge_count == 2
    with pytest.raises(ContractViolation, match="gzip stream is corrupt or truncated"):
        graph_document(gzip.compress(raw)[:-20], source="s")
    with pytest.raises(ContractViolation, match="not valid JSON"):
        graph_document(raw[:-5], source="s")


def test_a_graph_nested_too_deep_is_refused_before_it_is_parsed():
    # json.loads would raise RecursionError, which no handler for bad sources catches.
    deep = b'{"nodes": [], "edges": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ContractViolation, match="nested deeper than 64 levels"):
        graph_document(deep, source="s")
    with pytest.raises(ContractViolation, match="nested deeper than 64 levels"):
        graph_document(gzip.compress(deep), source="s")


def test_brackets_inside_strings_are_not_nesting():
    graph = star_graph(2)
    graph["nodes"][0]["alias"] = '[{"\\' * 1000
    assert graph_document(json.dumps(graph).encode(), source="s").summary.edge_count == 2


def test_a_refresh_from_a_node_answering_deeply_nested_json_stores_nothing(db):
    deep = b"[" * 100_000 + b"]" * 100_000
    with scripted_server(lambda request: Reply(body=deep)) as server:
        simulated_node_register(name="hostile", url=server.url, macaroon=ADMIN_MACAROON, cert_pem=None)
        result = refresh_graph(force=True)
    assert "hostile" in result.error and "nested deeper than 64 levels" in result.error
    assert [attempt.source for attempt in result.attempts] == ["hostile"]
    assert not GraphSnapshot.objects.exists()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("edges.1.node1_policy.fee_rate_milli_msat", None),
        ("edges.1.node1_policy.fee_base_msat", "-5"),
        ("edges.1.node1_policy.time_lock_delta", {"blocks": 40}),
        ("edges.1.node1_policy.disabled", "no"),
        ("edges.1.node1_policy", []),
        ("edges.1.node1_policy", "a policy"),
    ],
)
def test_the_typed_decoder_keeps_a_channel_whose_policy_is_unreadable(path, value):
    document = graph_document(json.dumps(broken(star_graph(4), path, value)).encode(), source="s")
    assert document.summary.edge_count == 4
    assert document.summary.skipped == {IGNORED_POLICY: 1}
    assert document.compact.edges["node1_fee_rate_ppm"][1] == -1
    assert document.compact.edges["node2_fee_rate_ppm"][1] == 100


def test_fields_analytics_does_not_read_may_hold_anything():
    graph = star_graph(2)
    graph["nodes"][0]["features"] = {"9": {"name": "tlv-onion", "is_required": False, "deep": [[{"x": [None]}]]}}
    graph["edges"][0]["custom_records"] = {"65536": "anything"}
    graph["edges"][0]["node1_policy"]["max_htlc_msat"] = [1.5e300, True, None]
    graph["extra"] = {"a": [1, {"b": "c"}]}
    raw = json.dumps(graph).encode()
    document = graph_document(raw, source="s")
    assert (document.summary.edge_count, document.summary.skipped) == (2, {})
    assert document.document == graph, "the whole document, as received, stays available"
    assert document.size_bytes == len(raw)


def test_bytes_that_are_not_utf8_are_refused_even_in_a_field_that_is_not_read():
    raw = json.dumps(star_graph(2)).encode().replace(b'"#000000"', b'"#\xff\xfe0000"', 1)
    with pytest.raises(ContractViolation, match="not UTF-8 JSON"):
        graph_document(raw, source="s")


def test_a_character_cut_by_a_piece_boundary_is_read_whole():
    graph = star_graph(2)
    graph["nodes"][1]["alias"] = "é" * PIECE_BYTES  # two bytes each: every boundary falls inside the alias
    document = graph_document(json.dumps(graph, ensure_ascii=False).encode(), source="s")
    assert document.compact.aliases[1] == "é" * PIECE_BYTES


def test_a_truncated_document_is_refused_as_invalid_json():
    raw = json.dumps(star_graph(2)).encode()
    for cut in (1, len(raw) // 2, len(raw) - 1):
        with pytest.raises(ContractViolation, match="not valid JSON"):
            graph_document(raw[:cut], source="s")


def test_parsing_never_holds_the_document_as_python_objects():
    # The fix for the refresh's memory peak: before, the bytes' text, two copies made by the depth check and
    # json.loads' dicts were all alive at once (about 4x the bytes); now only the compressed copy, the typed
    # fields analytics reads and the compact graph are (about 0.7x).
    features = {str(bit): {"name": f"feature-{bit}", "is_required": False, "is_known": True} for bit in range(20)}
    graph = star_graph(1)
    graph["nodes"] = [{"pub_key": pubkey(i), "alias": f"n{i}", "features": features} for i in range(2000)]
    graph["edges"] = [
        graphs.edge(j, j % 2000, (j * 7 + 1) % 2000, first=graphs.policy(), second=graphs.policy()) for j in range(6000)
    ]
    raw = json.dumps(graph).encode()
    tracemalloc.start()
    try:
        document = graph_document(raw, source="s")
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert document.summary.edge_count == 6000
    assert peak_bytes < 1.5 * len(raw), f"peak {peak_bytes / len(raw):.1f}x the document's size"


def test_the_bytes_of_the_response_are_freed_once_parsed():
    # httpx holds a response in a reference cycle (response <-> stream): without a collection, its 50 MB of
    # mainnet bytes stayed alive until the cycle collector happened to run, often at the peak of the refresh.
    with scripted_server(lambda request: Reply(body=json.dumps(star_graph(3)).encode())) as server:
        with PublicGraphClient(url=f"{server.url}/graph.json") as client:
            gc.collect()
            gc.disable()
            try:
                document = client.describe_graph()
                alive = [obj for obj in gc.get_objects() if isinstance(obj, httpx.Response)]
            finally:
                gc.enable()
    assert document.summary.edge_count == 3
    assert alive == []
