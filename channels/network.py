"""What the graph says about a peer: its fees and their spread, how much of it is disabled, and what its other
channel partners charge to route into it (the competition for our channel to it). Pure: a CompactGraph in.

In describegraph, node1_policy is what node1 charges to forward from node1 to node2. A payment routed into the
peer over channel (a, peer) pays a's policy, so "fees toward the peer" are the far ends' policies.
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass

from sources.graph import CompactGraph

NO_POLICY = -1


@dataclass(frozen=True)
class PeerGraphFacts:
    outbound_fee_rates_ppm: tuple[int, ...]  # what the peer charges, over its enabled directions
    inbound_fee_rates_ppm: tuple[int, ...]  # what its other partners charge toward it (not us)
    disabled_ratio: float  # share of the peer's own directions that are disabled or have no policy

    @property
    def median_outbound_fee_rate_ppm(self) -> float | None:
        return statistics.median(self.outbound_fee_rates_ppm) if self.outbound_fee_rates_ppm else None

    @property
    def fee_rate_stddev_ppm(self) -> float | None:
        rates = self.outbound_fee_rates_ppm
        return statistics.pstdev(rates) if len(rates) > 1 else None


class GraphIndex:
    """Which channels touch which node, built once per graph (O(channels)), then read per peer."""

    def __init__(self, graph: CompactGraph):
        self.graph = graph
        self.position = {pubkey: i for i, pubkey in enumerate(graph.pubkeys)}
        self.channels_of: dict[int, list[int]] = defaultdict(list)
        for j, (a, b) in enumerate(zip(graph.edges["node1"], graph.edges["node2"], strict=True)):
            self.channels_of[a].append(j)
            self.channels_of[b].append(j)

    def network_median_fee_rate_ppm(self) -> int:
        edges = self.graph.edges
        rates = [
            rate
            for side in ("node1", "node2")
            for rate, disabled in zip(edges[f"{side}_fee_rate_ppm"], edges[f"{side}_disabled"], strict=True)
            if disabled == 0
        ]
        return int(statistics.median(rates)) if rates else 0

    def peer_facts(self, peer_pubkey: str, *, our_pubkey: str) -> PeerGraphFacts | None:
        peer = self.position.get(peer_pubkey)
        if peer is None:
            return None
        us = self.position.get(our_pubkey)
        edges = self.graph.edges
        outbound, inbound, directions, disabled = [], [], 0, 0
        for j in self.channels_of[peer]:
            peer_side, far_side = ("node1", "node2") if edges["node1"][j] == peer else ("node2", "node1")
            directions += 1
            if edges[f"{peer_side}_disabled"][j] != 0:
                disabled += 1  # disabled (1) or no policy at all (-1)
            else:
                outbound.append(edges[f"{peer_side}_fee_rate_ppm"][j])
            if edges[far_side][j] != us and edges[f"{far_side}_disabled"][j] == 0:
                inbound.append(edges[f"{far_side}_fee_rate_ppm"][j])
        return PeerGraphFacts(
            outbound_fee_rates_ppm=tuple(outbound),
            inbound_fee_rates_ppm=tuple(inbound),
            disabled_ratio=disabled / directions if directions else 1.0,
        )
