import gzip
import json

import pytest

from sources.clients.errors import ContractViolation
from sources.graph import CompactGraph, graph_document, validate_describegraph
from tests.sources.graphs import broken, pubkey, star_graph


def test_a_valid_graph_is_summarised():
    summary = validate_describegraph(star_graph(4))
    assert (summary.node_count, summary.edge_count) == (5, 4)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("edges.1.capacity", "lots", "edges[1].capacity"),
        ("edges.2.capacity", KeyError, "edges[2].capacity"),
        ("edges.0.channel_id", 1.5, "edges[0].channel_id"),
        ("edges.3.node2_pub", "03zz", "edges[3].node2_pub"),
        ("edges.1.node1_policy.fee_rate_milli_msat", None, "edges[1].node1_policy.fee_rate_milli_msat"),
        ("edges.1.node1_policy.disabled", "no", "edges[1].node1_policy.disabled"),
        ("edges.0.node2_policy", KeyError, "edges[0].node2_policy"),
        ("edges.0.node2_policy", [], "edges[0].node2_policy"),
        ("nodes.2.pub_key", "not-a-key", "nodes[2].pub_key"),
        ("edges", {}, "edges"),
    ],
)
def test_a_wrong_field_refuses_the_whole_graph_naming_the_field(path, value, field):
    with pytest.raises(ContractViolation) as error:
        validate_describegraph(broken(star_graph(4), path, value), source="s")
    assert error.value.field == field
    assert str(error.value).endswith(f"(field {field})")


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
