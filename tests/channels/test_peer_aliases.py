"""Every peer is named after its first cycle, whichever of the graph analysis and the channel sync runs first."""

import pytest
from django.core.cache import cache

from channels.analysis import analyse_snapshot
from channels.models import Channel, Node
from channels.sync import sync_node
from sources.demo import simulated_node_register, simulated_node_warm_up
from sources.models import GraphSnapshot
from sources.simulator import start_simulator
from sources.snapshots import refresh_graph


@pytest.fixture(scope="module")
def sim():
    with start_simulator(seed=5, node_count=120) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


def graph_aliases() -> dict[str, str]:
    graph = GraphSnapshot.objects.latest("fetched_at").compact_graph()
    return dict(zip(graph.pubkeys, graph.aliases, strict=True))


def peer_aliases() -> dict[str, str]:
    peers = Node.objects.filter(channels__in=Channel.objects.filter(closed_at__isnull=True)).distinct()
    return dict(peers.values_list("pubkey", "alias"))


@pytest.mark.django_db(transaction=True)
def test_it_names_every_peer_after_the_demos_first_cycle(sim):
    """The demo's order: refresh the graph, analyse it, then sync (which creates the peers), score, fee cycle."""
    simulated_node_register(name="demo-lnd", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=None)
    simulated_node_warm_up("demo-lnd")
    gossiped = graph_aliases()
    peers = peer_aliases()
    assert len(peers) == len({channel.remote_pubkey for channel in sim.node.channels}) > 0
    assert peers == {pubkey: gossiped[pubkey] for pubkey in peers}
    assert all(peers.values()), "the simulated graph gives every node an alias"
    assert Node.objects.get(is_ours=True).alias == sim.node.alias_of(sim.node.pubkey)


@pytest.mark.django_db
def test_it_names_the_peers_when_the_analysis_comes_after_the_sync(sim):
    simulated_node_register(name="sim", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=None)
    snapshot = refresh_graph(force=True).snapshot
    sync_node()
    assert set(peer_aliases().values()) == {""}, "no analysed graph yet: nothing to name them from"
    analyse_snapshot(snapshot)
    gossiped = graph_aliases()
    assert peer_aliases() == {pubkey: gossiped[pubkey] for pubkey in peer_aliases()}
    assert all(peer_aliases().values())


@pytest.mark.django_db
def test_it_names_a_peer_the_sync_meets_after_the_analysis_and_keeps_a_name_the_graph_lacks(sim):
    simulated_node_register(name="sim", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=None)
    analyse_snapshot(refresh_graph(force=True).snapshot)
    some_peer = sim.node.channels[0].remote_pubkey
    Node.objects.create(pubkey=some_peer, alias="named-by-hand-before")
    unknown = Node.objects.create(pubkey="02" + "ab" * 32, alias="not-in-the-graph")
    sync_node()
    assert Node.objects.get(pubkey=some_peer).alias == graph_aliases()[some_peer], "the graph's word wins"
    unknown.refresh_from_db()
    assert unknown.alias == "not-in-the-graph", "a node the graph does not list keeps its name"
    assert all(peer_aliases().values())
