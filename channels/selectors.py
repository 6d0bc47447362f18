"""Reads shared by the API, the scoring service and the admin."""

from collections.abc import Iterable

from django.db.models import OuterRef, QuerySet, Subquery

from channels.models import Channel, ChannelScore, GraphAnalysis
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


def scores_newest_first() -> QuerySet[ChannelScore]:
    """The scores of the channel OuterRef("pk") names, newest first (the higher id breaks a tie). Its first row is
    one probe of ChannelScore's (channel, -computed_at) index, whatever the length of the history."""
    return ChannelScore.objects.filter(channel=OuterRef("pk")).order_by("-computed_at", "-id")


def latest_scores(*, channel_ids: Iterable[int]) -> dict[int, ChannelScore]:
    """Channel id -> its newest score, for these channels only (a channel never scored has none). One query, one
    index probe per channel: read a page's channels first, then their scores, never every channel's."""
    newest = Channel.objects.filter(id__in=list(channel_ids)).values(
        score_id=Subquery(scores_newest_first().values("id")[:1])
    )
    return {score.channel_id: score for score in ChannelScore.objects.filter(id__in=newest)}
