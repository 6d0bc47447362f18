"""Centrality of every node of a snapshot, computed once and stored for the API, the dashboard and scoring."""

import logging
import time

from django.db import transaction

from channels.centrality import compute_node_metrics
from channels.models import GraphAnalysis, Node, NodeMetric
from channels.network import GraphIndex
from sources.models import GraphSnapshot

logger = logging.getLogger(__name__)
BATCH_SIZE = 2000


def analyse_snapshot(snapshot: GraphSnapshot) -> GraphAnalysis:
    """Compute and store the snapshot's node metrics. Idempotent: an analysed snapshot is returned as it is."""
    existing = GraphAnalysis.objects.filter(snapshot=snapshot).first()
    if existing is not None:
        return existing
    graph = snapshot.compact_graph()
    started = time.perf_counter()
    metrics = compute_node_metrics(graph)
    duration_s = time.perf_counter() - started
    rows = [
        NodeMetric(
            pubkey=pubkey,
            alias=graph.aliases[i][:64],
            degree=metrics.degree[i],
            channel_count=metrics.channel_count[i],
            total_capacity_sat=metrics.total_capacity_sat[i],
            betweenness=metrics.betweenness[i],
            closeness=metrics.closeness[i],
            betweenness_percentile=metrics.betweenness_percentile[i],
            closeness_percentile=metrics.closeness_percentile[i],
            position=metrics.position[i],
        )
        for i, pubkey in enumerate(graph.pubkeys)
    ]
    with transaction.atomic():
        analysis = GraphAnalysis.objects.create(
            snapshot=snapshot,
            duration_s=duration_s,
            node_count=graph.node_count,
            network_median_fee_rate_ppm=GraphIndex(graph).network_median_fee_rate_ppm(),
        )
        for row in rows:
            row.analysis = analysis
        NodeMetric.objects.bulk_create(rows, batch_size=BATCH_SIZE)
        _refresh_aliases(graph)
    logger.info("analysed snapshot %s: %d nodes in %.2f s", snapshot.id, graph.node_count, duration_s)
    return analysis


def _refresh_aliases(graph) -> None:
    """Our node and our peers take the alias the network gossips for them."""
    aliases = dict(zip(graph.pubkeys, graph.aliases, strict=True))
    for node in Node.objects.all():
        alias = aliases.get(node.pubkey, "")[:64]
        if alias and alias != node.alias:
            node.alias = alias
            node.save(update_fields=["alias", "updated_at"])
