"""Centrality of every node of a snapshot, computed once and stored for the API, the dashboard and scoring."""

import logging
import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from channels.centrality import compute_node_metrics
from channels.models import GraphAnalysis, Node, NodeMetric
from channels.network import GraphIndex
from sources.models import GraphSnapshot

logger = logging.getLogger(__name__)
BATCH_SIZE = 2000
# How long an analysis holds its snapshot against pruning: well over the centrality time on mainnet (~minutes).
ANALYSIS_LEASE = timedelta(hours=1)


def analyse_snapshot(snapshot: GraphSnapshot) -> GraphAnalysis:
    """Compute and store the snapshot's node metrics. Idempotent: an analysed snapshot is returned as it is.

    The snapshot is held against pruning while it is read and analysed (GraphSnapshot.DoesNotExist when a
    refresh pruned it first), and marked analysed with the metrics, in one transaction.
    """
    existing = GraphAnalysis.objects.filter(snapshot=snapshot).first()
    if existing is not None:
        return existing
    hold_id = GraphSnapshot.objects.claim(snapshot.id, until=timezone.now() + ANALYSIS_LEASE)
    if hold_id is None:
        raise GraphSnapshot.DoesNotExist(f"snapshot {snapshot.id} was pruned before its analysis")
    try:
        return _analyse(snapshot)
    finally:
        GraphSnapshot.objects.release(hold_id)  # our hold only: another analysis of it keeps its own


def _analyse(snapshot: GraphSnapshot) -> GraphAnalysis:
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
        GraphSnapshot.objects.filter(id=snapshot.id).update(analysed_at=analysis.computed_at)
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
