"""Reads shared by the API, the scoring service and the admin."""

from channels.models import GraphAnalysis
from sources.graph import CompactGraph


def latest_analysis() -> GraphAnalysis | None:
    """The analysis of the newest analysed snapshot (its snapshot loaded with it, without the raw document)."""
    return (
        GraphAnalysis.objects.select_related("snapshot")
        .defer("snapshot__payload")
        .order_by("-snapshot__fetched_at", "-id")
        .first()
    )


def analysis_graph(analysis: GraphAnalysis) -> CompactGraph:
    """The graph an analysis was computed from. Whoever combines metrics with facts read from the graph (peer
    fees, disabled ratios) reads both here, so that both describe the same network at the same moment."""
    return analysis.snapshot.compact_graph()
