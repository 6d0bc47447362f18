from sources.graph import CompactGraph
from tests.sources.graphs import edge, policy, pubkey

US, PEER, A, B, C = 0, 1, 2, 3, 4


def graph() -> CompactGraph:
    """Us and A, B, C each have a channel to PEER. node1 of each edge is the first node given."""
    nodes = [{"pub_key": pubkey(i), "alias": f"n{i}"} for i in range(5)]
    edges = [
        edge(1, US, PEER, first=policy(rate_ppm=300), second=policy(rate_ppm=10)),
        edge(2, A, PEER, first=policy(rate_ppm=100), second=policy(rate_ppm=20)),
        edge(3, PEER, B, first=policy(rate_ppm=30), second=policy(rate_ppm=200)),
        edge(4, C, PEER, first=policy(rate_ppm=50, disabled=True), second=None),
    ]
    return CompactGraph.from_document({"nodes": nodes, "edges": edges})


def test_a_peers_fees_disabled_share_and_competition_are_read_from_the_graph():
    from channels.network import GraphIndex

    facts = GraphIndex(graph()).peer_facts(pubkey(PEER), our_pubkey=pubkey(US))
    assert sorted(facts.outbound_fee_rates_ppm) == [10, 20, 30]  # what PEER charges on each enabled direction
    assert sorted(facts.inbound_fee_rates_ppm) == [100, 200]  # A and B toward PEER; not us, not disabled C
    assert facts.disabled_ratio == 0.25  # its side of the channel with C has no policy
    assert facts.median_outbound_fee_rate_ppm == 20
    assert round(facts.fee_rate_stddev_ppm, 6) == 8.164966


def test_an_unknown_peer_has_no_facts_and_the_network_median_counts_enabled_directions():
    from channels.network import GraphIndex

    index = GraphIndex(graph())
    assert index.peer_facts(pubkey(99), our_pubkey=pubkey(US)) is None
    assert index.network_median_fee_rate_ppm() == 65  # median of 300, 10, 100, 20, 30, 200 (C's is disabled)
