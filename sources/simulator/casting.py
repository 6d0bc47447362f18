"""Who our node is in the graph, and which of its channels play the roles (roles.py): reads of a describegraph
dict indexed by node (pubkey -> its edges), no state of their own."""

import statistics

from sources.simulator.roles import ROLE_ORDER

MIN_OUR_DEGREE, MAX_OUR_DEGREE = 10, 60
MIN_ENABLED_SHARE = 0.5
ESTABLISHED_CHANNELS = 3  # our oldest channels stay ordinary when the node has enough others for every role


def side(edge: dict, pubkey: str) -> dict | None:
    """The policy `pubkey` sets on this channel (None when the graph has no update for it)."""
    return edge["node1_policy"] if edge["node1_pub"] == pubkey else edge["node2_policy"]


def far_end(edge: dict, pubkey: str) -> str:
    return edge["node2_pub"] if edge["node1_pub"] == pubkey else edge["node1_pub"]


def pick_ours(edges_by_pub: dict[str, list[dict]]) -> str:
    """A mid-size routing node: the median degree among nodes of degree 10-60 with mostly enabled policies, or
    the nearest to it that a small node (one channel, with it) has opened a channel to, as routing nodes have."""
    candidates = sorted(
        (len(edges), pub)
        for pub, edges in edges_by_pub.items()
        if MIN_OUR_DEGREE <= len(edges) <= MAX_OUR_DEGREE and _enabled_share(pub, edges) >= MIN_ENABLED_SHARE
    )
    if not candidates:  # a tiny graph: the best-connected node will do
        return max(edges_by_pub, key=lambda pub: (len(edges_by_pub[pub]), pub))
    median = len(candidates) // 2
    nearest_first = sorted(range(len(candidates)), key=lambda index: (abs(index - median), index))
    chosen = next((index for index in nearest_first if _small_peers(edges_by_pub, candidates[index][1])), median)
    return candidates[chosen][1]


def _enabled_share(pub: str, edges: list[dict]) -> float:
    enabled = sum(1 for edge in edges if (policy := side(edge, pub)) and not policy["disabled"])
    return enabled / len(edges)


def _small_peers(edges_by_pub: dict[str, list[dict]], pub: str) -> int:
    return sum(1 for edge in edges_by_pub[pub] if len(edges_by_pub[far_end(edge, pub)]) == 1)


def role_candidates(edges_by_pub: dict[str, list[dict]], us: str) -> list[tuple[str, int, int]]:
    """Our channels to peers we have no other channel with, but for our oldest few (long-standing partners,
    routing as chance has it, while the node has enough others): (chan_id, capacity, the peer's degree)."""
    edges = sorted(edges_by_pub[us], key=lambda edge: int(edge["channel_id"]))
    peers = [far_end(edge, us) for edge in edges]
    candidates = [
        (edge["channel_id"], int(edge["capacity"]), len(edges_by_pub[peer]))
        for edge, peer in zip(edges, peers, strict=True)
        if peers.count(peer) == 1
    ]
    established = {edge["channel_id"] for edge in edges[:ESTABLISHED_CHANNELS]}
    newer = [candidate for candidate in candidates if candidate[0] not in established]
    return newer if len(newer) >= len(ROLE_ORDER) else candidates


def competitors_ppm(edges_by_pub: dict[str, list[dict]], peer: str, *, us: str) -> list[int]:
    """What the peer's other partners charge to route into it: our competition for payments to that peer."""
    rates = []
    for edge in edges_by_pub[peer]:
        partner = far_end(edge, peer)
        policy = side(edge, partner)
        if partner != us and policy and not policy["disabled"]:
            rates.append(int(policy["fee_rate_milli_msat"]))
    return rates


def network_median_fee_rate_ppm(edges: list[dict]) -> float | None:
    rates = [
        int(policy["fee_rate_milli_msat"])
        for edge in edges
        for policy in (edge["node1_policy"], edge["node2_policy"])
        if policy and not policy["disabled"]
    ]
    return statistics.median(rates) if rates else None
