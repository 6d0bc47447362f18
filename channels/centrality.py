"""Where every node sits in the Lightning graph: degree, channels, capacity, betweenness, closeness, position.

The graph centrality is measured on is undirected and unweighted, with one edge per pair of nodes that share at
least one channel: parallel channels collapse into one edge, and every channel counts whatever its disabled flags
say. Disabled is one direction's state at the moment of the snapshot and flaps when a peer goes offline for a few
minutes; a node's place in the network outlives that, and filtering on it would turn a hub into a leaf for an
afternoon. Unweighted because no single edge weight is right for routing (the cost depends on the amount and on
each direction's fees): hop counts are what networkx, the literature and operators mean by these names.

Betweenness and closeness are networkx's exact values (to 1e-9 relative, checked in the tests):
- betweenness = networkx.betweenness_centrality(G) (normalized, endpoints excluded): over ordered pairs (s, t) with
  s != v != t, the share of the shortest s-t paths that pass through v, summed and divided by (n - 1)(n - 2);
- closeness = networkx.closeness_centrality(G) (wf_improved, Wasserman and Faust): (r - 1) / (sum of the distances
  from v to the r - 1 other nodes of its component) * (r - 1) / (n - 1), so that a node of a small component does
  not look central; 0 for an isolated node. n counts every node of the graph.

Why it takes 2 s on mainnet with 2 cores, not networkx's 15 minutes (igraph: 23 s, networkit: 32 s), while staying
exact: 57% of the nodes have one channel. The trees hanging off the network are peeled first (Baglioni, Geraci,
Pellegrini, Lastres, "Fast exact computation of betweenness centrality in social networks", ASONAM 2012). Every
peeled node is a leaf or a cut vertex, so its betweenness is a count of the pairs it separates, and its distances
are its parent's shifted by one hop. What remains, the core (7,500 of mainnet's 17,300 nodes), gets one Brandes
pass per node, compiled with numba and spread over the machine's cores, in which a core node stands for its whole
tree: a pair of core nodes s, t stands for w(s) * w(t) pairs (w: tree size), and paths into a tree are unique, so
those pairs share the core pair's shortest paths. The same pass sums the distances closeness needs. The first call
in a process loads the compiled kernel from numba's disk cache, or compiles it (about 1 s) after an install.
"""

import functools
import operator
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from channels.heuristics import Position
from sources.graph import CompactGraph

HUB_MIN_DEGREE = 100
HUB_MIN_BETWEENNESS_PERCENTILE = 0.99  # the top 1% of nodes by betweenness
EDGE_MAX_DEGREE = 2
# Percentiles compare values rounded to about 12 significant digits: two symmetric nodes whose sums were added in
# a different order differ in the last bits, and must still tie.
RANK_SIGNIFICANT_BITS = 40


@dataclass(frozen=True)
class NodeMetrics:
    """Per-node columns: element i of each list describes graph.pubkeys[i].

    degree: distinct neighbours; channel_count: channels (parallel ones each count); total_capacity_sat: their
    capacities summed; betweenness, closeness: see the module docstring; *_percentile: the share of all nodes
    whose value is strictly lower, in [0, 1) (0 for the lowest value, ties share a percentile); position: see
    `node_position`.
    """

    degree: list[int]
    channel_count: list[int]
    total_capacity_sat: list[int]
    betweenness: list[float]
    closeness: list[float]
    betweenness_percentile: list[float]
    closeness_percentile: list[float]
    position: list[Position]


def compute_node_metrics(graph: CompactGraph) -> NodeMetrics:
    """Every node's metrics, exact (see the module docstring); about 2 s for mainnet on 2 cores."""
    node_count = graph.node_count
    adjacency = _adjacency(node_count, _node_pairs(graph))
    channel_count, total_capacity_sat = _channel_totals(graph)
    betweenness, closeness = _centrality(adjacency)
    degree = adjacency.degree
    betweenness_percentile = share_strictly_lower(betweenness)
    position = [
        node_position(degree=d, betweenness=b, betweenness_percentile=p)
        for d, b, p in zip(degree.tolist(), betweenness.tolist(), betweenness_percentile.tolist(), strict=True)
    ]
    return NodeMetrics(
        degree=degree.tolist(),
        channel_count=channel_count.tolist(),
        total_capacity_sat=total_capacity_sat.tolist(),
        betweenness=betweenness.tolist(),
        closeness=closeness.tolist(),
        betweenness_percentile=betweenness_percentile.tolist(),
        closeness_percentile=share_strictly_lower(closeness).tolist(),
        position=position,
    )


def node_position(*, degree: int, betweenness: float, betweenness_percentile: float) -> Position:
    """hub: 100 distinct neighbours or more, or in the top 1% by betweenness (percentile >= 0.99); otherwise edge:
    at most 2 neighbours, or on nobody's shortest path (betweenness 0); otherwise well_connected."""
    if degree >= HUB_MIN_DEGREE or betweenness_percentile >= HUB_MIN_BETWEENNESS_PERCENTILE:
        return Position.HUB
    if degree <= EDGE_MAX_DEGREE or betweenness == 0:
        return Position.EDGE
    return Position.WELL_CONNECTED


def share_strictly_lower(values: np.ndarray | list[float]) -> np.ndarray:
    """For each value, the share of all values strictly lower than it (ties to about 12 significant digits)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return np.zeros(0)
    mantissa, exponent = np.frexp(values)
    keys = np.ldexp(np.round(np.ldexp(mantissa, RANK_SIGNIFICANT_BITS)), exponent - RANK_SIGNIFICANT_BITS)
    return np.searchsorted(np.sort(keys), keys, side="left") / len(values)


@dataclass(frozen=True)
class _Adjacency:
    """A simple undirected graph in CSR form: the neighbours of v are indices[indptr[v]:indptr[v + 1]], sorted."""

    indptr: np.ndarray  # int64, node_count + 1
    indices: np.ndarray  # int32, twice the edge count

    @property
    def node_count(self) -> int:
        return len(self.indptr) - 1

    @property
    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)


def _column(graph: CompactGraph, name: str) -> np.ndarray:
    return np.frombuffer(graph.edges[name], dtype=np.int64) if len(graph.edges[name]) else np.zeros(0, np.int64)


def _node_pairs(graph: CompactGraph) -> np.ndarray:
    """The distinct pairs (low, high) of nodes with at least one channel between them, as an (k, 2) array.

    A channel from a node to itself (gossip has none) is no edge: it is on no shortest path."""
    node1, node2 = _column(graph, "node1"), _column(graph, "node2")
    low, high = np.minimum(node1, node2), np.maximum(node1, node2)
    distinct = low != high
    keys = np.unique(low[distinct] * graph.node_count + high[distinct])  # one int per pair: faster than rows
    return np.stack(np.divmod(keys, graph.node_count), axis=1) if len(keys) else np.zeros((0, 2), np.int64)


def _adjacency(node_count: int, pairs: np.ndarray) -> _Adjacency:
    heads = np.concatenate([pairs[:, 0], pairs[:, 1]])
    tails = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((tails, heads))
    indptr = np.zeros(node_count + 1, np.int64)
    np.cumsum(np.bincount(heads, minlength=node_count), out=indptr[1:])
    return _Adjacency(indptr=indptr, indices=tails[order].astype(np.int32))


def _channel_totals(graph: CompactGraph) -> tuple[np.ndarray, np.ndarray]:
    """Channels and capacity per node; a channel counts once for each of its two (distinct) ends."""
    node1, node2, capacity_sat = _column(graph, "node1"), _column(graph, "node2"), _column(graph, "capacity_sat")
    two_ends = node2 != node1
    channel_count = np.zeros(graph.node_count, np.int64)
    total_capacity_sat = np.zeros(graph.node_count, np.int64)
    for ends, mask in ((node1, slice(None)), (node2, two_ends)):
        np.add.at(channel_count, ends[mask], 1)
        np.add.at(total_capacity_sat, ends[mask], capacity_sat[mask])
    return channel_count, total_capacity_sat


def _centrality(adjacency: _Adjacency) -> tuple[np.ndarray, np.ndarray]:
    """Betweenness and closeness of every node, as networkx defines them (see the module docstring)."""
    node_count = adjacency.node_count
    if node_count == 0:
        return np.zeros(0), np.zeros(0)
    forest = _peel_trees(adjacency)
    core, core_adjacency = _core(adjacency, forest)
    core_pairs, core_distance_sum, core_reach = _weighted_brandes(
        core_adjacency, weight=forest.size[core], depth_sum=forest.depth_sum[core]
    )
    distance_sum, component_size = _distance_sums(forest, core, core_distance_sum, core_reach)
    ordered_pairs = _pairs_separated(forest, component_size)
    ordered_pairs[core] += core_pairs
    betweenness = ordered_pairs / ((node_count - 1) * (node_count - 2)) if node_count > 2 else np.zeros(node_count)
    return betweenness, _closeness(distance_sum, component_size)


@dataclass(frozen=True)
class _Forest:
    """The trees peeled off the graph. Every node roots a subtree of peeled nodes (often just itself); the nodes
    never peeled form the core, and roots of whole tree components (and isolated nodes) stay in it too."""

    parent: np.ndarray  # the neighbour a peeled node hung from; -1 for a core node
    peel_order: list[int]  # peeled nodes, each after all of its children
    size: np.ndarray  # nodes in v's subtree, v included
    depth_sum: np.ndarray  # distances from v to the nodes of its subtree, summed
    child_size_sq: np.ndarray  # squares of v's children's subtree sizes, summed


def _peel_trees(adjacency: _Adjacency) -> _Forest:
    n = adjacency.node_count
    degree = adjacency.degree.tolist()
    # The XOR of a node's remaining neighbours is the last one once only one remains: each peel is O(1).
    xor_array = np.zeros(n, np.int64)
    np.bitwise_xor.at(xor_array, np.repeat(np.arange(n), adjacency.degree), adjacency.indices)
    neighbour_xor = xor_array.tolist()
    parent, size, depth_sum, child_size_sq, peel_order = [-1] * n, [1] * n, [0] * n, [0] * n, []
    leaves = [v for v in range(n) if degree[v] == 1]
    while leaves:
        v = leaves.pop()
        if degree[v] != 1:
            continue  # its last neighbour was peeled first: v roots a whole tree component and stays
        u = neighbour_xor[v]
        parent[v], degree[v] = u, 0
        peel_order.append(v)
        degree[u] -= 1
        neighbour_xor[u] ^= v
        size[u] += size[v]
        depth_sum[u] += depth_sum[v] + size[v]
        child_size_sq[u] += size[v] * size[v]
        if degree[u] == 1:
            leaves.append(u)
    return _Forest(
        parent=np.array(parent, np.int64),
        peel_order=peel_order,
        size=np.array(size, np.int64),
        depth_sum=np.array(depth_sum, np.int64),
        child_size_sq=np.array(child_size_sq, np.int64),
    )


def _core(adjacency: _Adjacency, forest: _Forest) -> tuple[np.ndarray, _Adjacency]:
    """The core's nodes (graph indices, ascending) and the adjacency among them, renumbered 0..len(core) - 1."""
    is_core = forest.parent == -1
    core = np.flatnonzero(is_core)
    local = np.full(adjacency.node_count, -1, np.int64)
    local[core] = np.arange(len(core))
    heads = np.repeat(np.arange(adjacency.node_count), adjacency.degree)
    keep = is_core[heads] & is_core[adjacency.indices]
    # Heads stay ascending and the renumbering keeps order, so the rows come out sorted as they went in.
    indptr = np.zeros(len(core) + 1, np.int64)
    np.cumsum(np.bincount(local[heads[keep]], minlength=len(core)), out=indptr[1:])
    return core, _Adjacency(indptr=indptr, indices=local[adjacency.indices[keep]].astype(np.int32))


def _weighted_brandes(
    adjacency: _Adjacency, *, weight: np.ndarray, depth_sum: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per core node: shortest-path pairs through it, weighted distance sum and weighted reach (its component's
    size in the whole graph). One Brandes pass per source; each thread takes every k-th source, hubs first so the
    threads' shares of work are even."""
    sources = np.argsort(-adjacency.degree, kind="stable").astype(np.int64)
    workers = min(_available_cores(), len(sources))
    shares = [np.ascontiguousarray(sources[k::workers]) for k in range(workers)]

    def run(share: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _brandes_kernel(adjacency.indptr, adjacency.indices, weight, depth_sum, share)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(run, shares))
    # Added pairwise from the first share (not sum(), which starts from the int 0).
    pairs, distance_sum, reach = (functools.reduce(operator.add, (part[i] for part in parts)) for i in range(3))
    return pairs, distance_sum, reach


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _distance_sums(
    forest: _Forest, core: np.ndarray, core_distance_sum: np.ndarray, core_reach: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every node's sum of distances to its component, and its component's size, from the core's."""
    distance_array = np.zeros(len(forest.parent), np.int64)
    size_array = np.zeros(len(forest.parent), np.int64)
    distance_array[core], size_array[core] = core_distance_sum, core_reach
    distance_sum, component_size = distance_array.tolist(), size_array.tolist()
    parent, size = forest.parent.tolist(), forest.size.tolist()
    # Stepping from a parent down a bridge to its child brings the child's subtree one hop closer and the rest
    # of the component one hop farther.
    for v in reversed(forest.peel_order):
        u = parent[v]
        component_size[v] = component_size[u]
        distance_sum[v] = distance_sum[u] + component_size[v] - 2 * size[v]
    return np.array(distance_sum, np.int64), np.array(component_size, np.int64)


def _pairs_separated(forest: _Forest, component_size: np.ndarray) -> np.ndarray:
    """Ordered pairs that v separates as a cut vertex, as float: removing v leaves its children's subtrees and the
    rest of its component, and every path between two of those pieces passes through v (the core's pairs
    between nodes outside v's subtree come from the Brandes pass)."""
    rest = component_size - forest.size
    others = component_size - 1
    return (others * others - forest.child_size_sq - rest * rest).astype(np.float64)


def _closeness(distance_sum: np.ndarray, component_size: np.ndarray) -> np.ndarray:
    closeness = np.zeros(len(distance_sum))
    reaches = distance_sum > 0
    others = (component_size[reaches] - 1).astype(np.float64)
    closeness[reaches] = (others / distance_sum[reaches]) * (others / (len(distance_sum) - 1))
    return closeness


def _jit(function):
    """Compiled once and cached on disk (next to this file, else in the user's cache directory), so a fresh
    process loads machine code instead of compiling it; without a writable place it compiles in every process."""
    try:
        return numba.njit(nogil=True, cache=True)(function)
    except RuntimeError:
        return numba.njit(nogil=True)(function)


@_jit
def _brandes_kernel(indptr, indices, weight, depth_sum, sources):  # pragma: no cover - compiled by numba
    """Brandes' algorithm from each source, with node weights (Baglioni et al.): a core node t stands for the
    weight[t] nodes of its subtree, so a target counts weight[t] times and a source's dependencies weight[s]
    times. Returns pairs through each node (ordered, summed over these sources) and, per source, the distance
    sum and the number of nodes reached, both over the whole graph (depth_sum[t] adds the hops inside t's tree).
    """
    n = len(indptr) - 1
    pairs = np.zeros(n)
    distance_sum = np.zeros(n, np.int64)
    reach = np.zeros(n, np.int64)
    dist = np.full(n, -1, np.int32)
    sigma = np.zeros(n)  # shortest paths from the source, as float like networkx: they overflow int64
    coeff = np.zeros(n)
    order = np.empty(n, np.int32)  # nodes in BFS order
    successors = np.empty(len(indices), np.int32)  # successors of order[i]: successor_end[i] to successor_end[i + 1]
    successor_end = np.zeros(n + 1, np.int64)
    for s in sources:
        dist[s], sigma[s], order[0] = 0, 1.0, s
        head, tail, found = 0, 1, 0
        total, reached = depth_sum[s], weight[s]
        while head < tail:
            v = order[head]
            head += 1
            next_dist, sigma_v = dist[v] + 1, sigma[v]
            for k in range(indptr[v], indptr[v + 1]):
                w = indices[k]
                if dist[w] < 0:
                    dist[w] = next_dist
                    order[tail] = w
                    tail += 1
                    total += weight[w] * next_dist + depth_sum[w]
                    reached += weight[w]
                if dist[w] == next_dist:
                    sigma[w] += sigma_v
                    successors[found] = w
                    found += 1
            successor_end[head] = found
        distance_sum[s], reach[s] = total, reached
        # Dependency of the source on v: sigma[v] * sum over v's successors w of (weight[w] + dependency[w]) / sigma[w].
        for i in range(tail - 1, 0, -1):
            v = order[i]
            acc = 0.0
            for k in range(successor_end[i], successor_end[i + 1]):
                acc += coeff[successors[k]]
            dependency = sigma[v] * acc
            pairs[v] += weight[s] * dependency
            coeff[v] = (weight[v] + dependency) / sigma[v]
        for i in range(tail):
            dist[order[i]], sigma[order[i]] = -1, 0.0
    return pairs, distance_sum, reach
