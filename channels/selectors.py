"""Reads shared by the API, the scoring service and the admin."""

from channels.models import GraphAnalysis


def latest_analysis() -> GraphAnalysis | None:
    """The analysis of the newest analysed snapshot."""
    return GraphAnalysis.objects.select_related("snapshot").order_by("-snapshot__fetched_at", "-id").first()
