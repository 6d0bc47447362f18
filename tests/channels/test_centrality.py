"""Centrality must be networkx's exact values: on hand-made graphs, on synthetic Lightning graphs, on slices of the
real mainnet snapshot, and (slow) on the whole of mainnet against igraph, a second exact implementation."""

import gzip
import json
import math
from array import array
from collections import deque

import igraph
import networkx as nx
import pytest

from channels.centrality import Position, compute_node_metrics, node_position, share_strictly_lower
from sources.graph import EDGE_FIELDS, CompactGraph
from sources.simulator.graphgen import synthetic_graph
from tests.conftest import SHARED, require_shared

MAINNET_GRAPH = SHARED / "graph" / "mainnet-2026-02-03.describegraph.json.gz"
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-12  # near zero, where a relative tolerance means nothing


def compact_graph(node_count: int, channels: list[tuple[int, int]], *, capacity_sat: int = 1_000_000) -> CompactGraph:
    columns = {name: array("q") for name in EDGE_FIELDS}
    for channel_id, (node1, node2) in enumerate(channels):
        row = {"node1": node1, "node2": node2, "capacity_sat": capacity_sat, "channel_id": channel_id}
        for name in EDGE_FIELDS:
            columns[name].append(row.get(name, 0))
    pubkeys = [f"02{index:064x}" for index in range(node_count)]
    return CompactGraph(pubkeys=pubkeys, aliases=[""] * node_count, edges=columns)


def induced_subgraph(graph: CompactGraph, nodes: list[int]) -> CompactGraph:
    """The nodes and every channel between two of them, renumbered in the order given."""
    position = {node: index for index, node in enumerate(nodes)}
    channels = [
        (position[a], position[b])
        for a, b in zip(graph.edges["node1"], graph.edges["node2"], strict=True)
        if a in position and b in position
    ]
    return compact_graph(len(nodes), channels)


def as_networkx(graph: CompactGraph) -> nx.Graph:
    """The reference graph: nx.Graph keeps one edge per pair, so parallel channels collapse as they should."""
    reference = nx.Graph()
    reference.add_nodes_from(range(graph.node_count))
    reference.add_edges_from(zip(graph.edges["node1"], graph.edges["node2"], strict=True))
    return reference


def assert_close(actual: list[float], expected: list[float], what: str) -> None:
    assert len(actual) == len(expected)
    wrong = [
        (node, ours, theirs)
        for node, (ours, theirs) in enumerate(zip(actual, expected, strict=True))
        if not math.isclose(ours, theirs, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE)
    ]
    assert not wrong, f"{what}: {len(wrong)} of {len(actual)} nodes differ, e.g. (node, ours, expected) {wrong[:3]}"


def assert_matches_networkx(graph: CompactGraph) -> None:
    reference = as_networkx(graph)
    metrics = compute_node_metrics(graph)
    nodes = range(graph.node_count)
    betweenness, closeness = nx.betweenness_centrality(reference), nx.closeness_centrality(reference)
    assert_close(metrics.betweenness, [betweenness[node] for node in nodes], "betweenness")
    assert_close(metrics.closeness, [closeness[node] for node in nodes], "closeness")
    assert metrics.degree == [reference.degree(node) for node in nodes]


SMALL_GRAPHS = {
    "path": (5, [(0, 1), (1, 2), (2, 3), (3, 4)]),
    "star": (7, [(0, leaf) for leaf in range(1, 7)]),
    "two components": (7, [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 6)]),
    "parallel channels": (4, [(0, 1), (1, 0), (0, 1), (1, 2), (2, 3), (3, 0), (2, 3), (0, 2)]),
    "tree hanging off a cycle": (
        10,
        [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0), (0, 5), (5, 6), (5, 7), (7, 8), (2, 9)],
    ),
    "isolated nodes": (7, [(0, 1), (2, 3), (3, 4), (4, 2)]),
    "only trees": (9, [(0, 1), (1, 2), (1, 3), (4, 5), (5, 6), (6, 7), (5, 8)]),
    "two nodes": (2, [(0, 1)]),
    "two hubs sharing leaves and paths": (
        12,
        [(0, 1), *[(hub, node) for hub in (0, 1) for node in range(2, 6)], (6, 2), (7, 6), (8, 0), (9, 8), (10, 11)],
    ),
    "grid with many shortest paths": (
        16,
        [(r * 4 + c, r * 4 + c + 1) for r in range(4) for c in range(3)]
        + [(r * 4 + c, (r + 1) * 4 + c) for r in range(3) for c in range(4)],
    ),
}


@pytest.mark.parametrize("name", SMALL_GRAPHS)
def test_it_matches_networkx_on_small_graphs(name):
    node_count, channels = SMALL_GRAPHS[name]
    assert_matches_networkx(compact_graph(node_count, channels))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_it_matches_networkx_on_synthetic_lightning_graphs(seed):
    assert_matches_networkx(CompactGraph.from_document(synthetic_graph(seed=seed, node_count=300)))


def test_it_gives_the_centre_of_a_star_every_path():
    metrics = compute_node_metrics(compact_graph(5, [(0, leaf) for leaf in range(1, 5)]))
    assert metrics.betweenness == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert metrics.closeness[0] == 1.0


def test_it_counts_parallel_channels_once_as_neighbours_but_each_in_channels_and_capacity():
    metrics = compute_node_metrics(compact_graph(3, [(0, 1), (1, 0), (0, 1), (1, 2)], capacity_sat=2_000_000))
    assert metrics.degree == [1, 2, 1]
    assert metrics.channel_count == [3, 4, 1]
    assert metrics.total_capacity_sat == [6_000_000, 8_000_000, 2_000_000]


def test_it_returns_empty_columns_for_an_empty_graph():
    metrics = compute_node_metrics(compact_graph(0, []))
    assert metrics.degree == metrics.betweenness == metrics.closeness == metrics.position == []
    assert metrics.betweenness_percentile == metrics.closeness_percentile == []


def test_it_gives_a_lone_node_zero_centrality_and_the_edge_position():
    metrics = compute_node_metrics(compact_graph(1, []))
    assert (metrics.degree, metrics.channel_count, metrics.total_capacity_sat) == ([0], [0], [0])
    assert (metrics.betweenness, metrics.closeness) == ([0.0], [0.0])
    assert (metrics.betweenness_percentile, metrics.closeness_percentile) == ([0.0], [0.0])
    assert metrics.position == ["edge"]


def test_it_ranks_by_the_share_of_nodes_strictly_lower_with_ties_sharing_a_percentile():
    metrics = compute_node_metrics(compact_graph(5, [(0, 1), (1, 2), (2, 3), (3, 4)]))
    assert metrics.betweenness_percentile == [0.0, 0.4, 0.8, 0.4, 0.0]
    assert metrics.closeness_percentile == [0.0, 0.4, 0.8, 0.4, 0.0]


def test_it_ties_values_that_differ_only_by_rounding():
    assert share_strictly_lower([0.1 + 0.2, 0.3, 0.0]).tolist() == [1 / 3, 1 / 3, 0.0]


def test_it_places_hubs_well_connected_nodes_and_edges():
    hub, router = 0, 121
    channels = [(hub, leaf) for leaf in range(1, 121)] + [(hub, router)]
    channels += [(router, leaf) for leaf in range(122, 125)]
    metrics = compute_node_metrics(compact_graph(125, channels))
    assert metrics.position[hub] == Position.HUB  # 121 neighbours, and the top betweenness
    assert metrics.position[router] == Position.WELL_CONNECTED  # 4 neighbours, second of 125 (percentile 0.984)
    assert {metrics.position[leaf] for leaf in [*range(1, 121), *range(122, 125)]} == {Position.EDGE}


@pytest.mark.parametrize(
    ("degree", "betweenness", "percentile", "position"),
    [
        (100, 0.0, 0.0, Position.HUB),  # many neighbours, even on nobody's path
        (3, 0.2, 0.99, Position.HUB),  # top 1% by betweenness
        (2, 0.2, 0.98, Position.EDGE),  # two neighbours, even on paths
        (5, 0.0, 0.0, Position.EDGE),  # on nobody's shortest path
        (3, 0.001, 0.5, Position.WELL_CONNECTED),
    ],
)
def test_it_applies_the_position_rule(degree, betweenness, percentile, position):
    assert node_position(degree=degree, betweenness=betweenness, betweenness_percentile=percentile) == position


@pytest.fixture(scope="session")
def mainnet() -> tuple[CompactGraph, nx.Graph]:
    graph = CompactGraph.from_document(json.loads(gzip.decompress(require_shared(MAINNET_GRAPH).read_bytes())))
    return graph, as_networkx(graph)


def top_by_degree(reference: nx.Graph, count: int) -> list[int]:
    return sorted(reference, key=lambda node: (-reference.degree(node), node))[:count]


def hubs_and_their_leaves(reference: nx.Graph) -> list[int]:
    """25 hubs, up to 14 one-channel nodes of each and 120 small nodes next to them: mostly pendants and twins."""
    hubs = top_by_degree(reference, 25)
    leaves = [leaf for hub in hubs for leaf in sorted(reference[hub]) if reference.degree(leaf) == 1][:350]
    small = sorted({node for hub in hubs for node in reference[hub] if 2 <= reference.degree(node) <= 4})[:120]
    return list(dict.fromkeys(hubs + leaves + small))


def breadth_first_ball(reference: nx.Graph, size: int) -> list[int]:
    """The first `size` nodes reached from a small node of the giant component: the frontier hangs off as leaves
    and deeper trees."""
    giant = nx.node_connected_component(reference, top_by_degree(reference, 1)[0])
    start = min(node for node in giant if reference.degree(node) == 3)
    seen, queue = {start: None}, deque([start])
    while queue and len(seen) < size:
        for neighbour in sorted(reference[queue.popleft()]):
            if neighbour not in seen:
                seen[neighbour] = None
                queue.append(neighbour)
    return list(seen)[:size]


def trees_hanging_off_hubs(reference: nx.Graph, size: int = 600) -> list[int]:
    """40 hubs and the trees that hang off them (the nodes outside the 2-core), the deepest first: the pendant
    trees the fast path peels, with their depth."""
    hubs = top_by_degree(reference, 40)
    core = set(nx.k_core(reference, 2))
    hanging = []
    for tree in nx.connected_components(reference.subgraph(set(reference) - core)):
        roots = {root for node in tree for root in reference[node] if root in core}
        if len(roots) == 1 and roots <= set(hubs):
            hanging.append(sorted(tree))
    hanging.sort(key=lambda tree: (-len(tree), tree))
    return list(dict.fromkeys(hubs + [node for tree in hanging for node in tree]))[:size]


MAINNET_SLICES = {  # name: (nodes chosen from the whole graph, least share of one-neighbour nodes in the slice)
    "top 500 by degree": (lambda reference: top_by_degree(reference, 500), 0.0),  # the dense core
    "hubs and their leaves": (hubs_and_their_leaves, 0.5),
    "breadth-first ball of 600": (lambda reference: breadth_first_ball(reference, 600), 0.0),
    "trees hanging off hubs": (trees_hanging_off_hubs, 0.3),
}


@pytest.mark.parametrize("slice_name", MAINNET_SLICES)
def test_it_matches_networkx_on_slices_of_mainnet(mainnet, slice_name):
    graph, reference = mainnet
    choose, least_leaf_share = MAINNET_SLICES[slice_name]
    subgraph = induced_subgraph(graph, choose(reference))
    degree = compute_node_metrics(subgraph).degree
    assert sum(1 for neighbours in degree if neighbours == 1) >= least_leaf_share * len(degree)
    assert_matches_networkx(subgraph)


@pytest.mark.slow
def test_it_matches_igraph_on_the_whole_of_mainnet(mainnet):
    graph, reference = mainnet
    metrics = compute_node_metrics(graph)
    other = igraph.Graph(n=graph.node_count, edges=list(reference.edges()))
    n = graph.node_count
    # igraph counts unordered pairs and leaves betweenness unnormalized; its closeness counts only the reachable
    # nodes, so Wasserman and Faust's (r - 1) / (n - 1) is applied here, r being the component's size.
    betweenness = [value * 2 / ((n - 1) * (n - 2)) for value in other.betweenness()]
    component_size = [len(component) for component in other.connected_components()]
    membership = other.connected_components().membership
    closeness = [
        0.0 if math.isnan(value) else value * (component_size[membership[node]] - 1) / (n - 1)
        for node, value in enumerate(other.closeness())
    ]
    assert_close(metrics.betweenness, betweenness, "betweenness")
    assert_close(metrics.closeness, closeness, "closeness")
    assert sum(metrics.channel_count) == 2 * graph.edge_count
    assert sum(metrics.total_capacity_sat) == 2 * sum(graph.edges["capacity_sat"])
