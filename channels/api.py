"""Read-only channel endpoints (viewer): channels with their latest score, a channel's score history, and a
node's network metrics. chan_id travels as a string, as in LND's JSON: it exceeds what JavaScript numbers hold."""

from datetime import datetime
from typing import Any

from django.shortcuts import get_object_or_404
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from channels.models import Channel, ChannelScore, NodeMetric
from channels.selectors import latest_analysis, latest_scores
from daznode.api import RoleDeclaredMixin
from daznode.api_cache import KeptWhileUnchangedListAPIView
from daznode.lightning import PUBKEY_MESSAGE, parse_chan_id, parse_pubkey
from daznode.roles import Role


class ChanIdField(serializers.Field):
    """A short channel id as a string of digits or BLOCKxTXxOUT (a JSON number would lose precision in
    JavaScript). Not a CharField: that would strip whitespace and accept "123\\n" as 123."""

    def to_internal_value(self, data) -> int:
        try:
            return parse_chan_id(data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def to_representation(self, value) -> str:
        return str(value)


def channel_or_404(chan_id: str) -> Channel:
    try:
        value = ChanIdField().run_validation(chan_id)
    except ValidationError as exc:
        raise ValidationError({"chan_id": exc.detail}) from None
    return get_object_or_404(Channel, chan_id=value)


class PubkeyField(serializers.Field):
    """A node public key, exactly: no whitespace trimmed (a CharField would strip a trailing newline)."""

    def to_internal_value(self, data) -> str:
        try:
            return parse_pubkey(data)
        except ValueError:
            raise ValidationError(PUBKEY_MESSAGE) from None

    def to_representation(self, value) -> str:
        return value


class ScoreSerializer(serializers.ModelSerializer):
    sub_scores = serializers.SerializerMethodField()

    class Meta:
        model = ChannelScore
        fields = ["computed_at", "total_score", "peer_total_score", "sub_scores", "weights", "reasons", "inputs"]

    def get_sub_scores(self, score: ChannelScore) -> dict[str, float]:
        return score.sub_scores()


# The channel list's rows are plain dicts: DRF's fields cost a call or more per value, and a page holds a hundred
# channels, each with its latest score. ChannelSerializer still declares the fields (the API's contract) and gives
# these dicts; the datetimes are DRF's own format. A row's latest score equals the first of the channel's score
# history, which ScoreSerializer writes (tests/channels/test_api.py checks both).
_DATETIME = serializers.DateTimeField()


def datetime_text(value: datetime | None) -> str | None:
    """A datetime as the API's serializers write it (ISO 8601, UTC as Z), or None."""
    return _DATETIME.to_representation(value)


def score_data(score: ChannelScore) -> dict[str, Any]:
    """The same fields and values as ScoreSerializer, in one pass."""
    return {
        "computed_at": datetime_text(score.computed_at),
        "total_score": score.total_score,
        "peer_total_score": score.peer_total_score,
        "sub_scores": score.sub_scores(),
        "weights": score.weights,
        "reasons": score.reasons,
        "inputs": score.inputs,
    }


def channel_data(channel: Channel, latest_score: ChannelScore | None) -> dict[str, Any]:
    return {
        "chan_id": str(channel.chan_id),
        "chan_point": channel.chan_point,
        "peer": {"pubkey": channel.peer.pubkey, "alias": channel.peer.alias},
        "capacity_sat": channel.capacity_sat,
        "local_balance_sat": channel.local_balance_sat,
        "remote_balance_sat": channel.remote_balance_sat,
        "pending_outgoing_sat": channel.pending_outgoing_sat,
        "pending_incoming_sat": channel.pending_incoming_sat,
        "local_ratio": round(channel.local_ratio(), 4),
        "active": channel.active,
        "private": channel.private,
        "opened_at": datetime_text(channel.opened_at),
        "closed_at": datetime_text(channel.closed_at),
        "policy": channel.policy().to_dict(),
        "synced_at": datetime_text(channel.synced_at),
        "latest_score": score_data(latest_score) if latest_score else None,
    }


class ChannelListSerializer(serializers.ListSerializer):
    """A page of channels: their latest scores in one query (see latest_scores), then the rows."""

    def to_representation(self, data) -> list[dict[str, Any]]:
        channels = list(data)
        scores = latest_scores(channel_ids=[channel.id for channel in channels])
        return [channel_data(channel, scores.get(channel.id)) for channel in channels]


class PeerSerializer(serializers.Serializer):
    pubkey = serializers.CharField(read_only=True)
    alias = serializers.CharField(read_only=True)


class ChannelSerializer(serializers.ModelSerializer):
    """A channel and its latest score (the fields; channel_data writes them)."""

    chan_id = serializers.CharField(read_only=True)
    peer = PeerSerializer(read_only=True)
    local_ratio = serializers.FloatField(read_only=True, help_text="Our share of the capacity, HTLCs in flight ours.")
    policy = serializers.DictField(read_only=True, help_text="Our side's policy (daznode.lightning.Policy).")
    latest_score = ScoreSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Channel
        list_serializer_class = ChannelListSerializer
        fields = [
            "chan_id",
            "chan_point",
            "peer",
            "capacity_sat",
            "local_balance_sat",
            "remote_balance_sat",
            "pending_outgoing_sat",
            "pending_incoming_sat",
            "local_ratio",
            "active",
            "private",
            "opened_at",
            "closed_at",
            "policy",
            "synced_at",
            "latest_score",
        ]

    def to_representation(self, channel: Channel) -> dict[str, Any]:
        return channel_data(channel, latest_scores(channel_ids=[channel.id]).get(channel.id))


class ChannelListView(RoleDeclaredMixin, KeptWhileUnchangedListAPIView):
    """Open channels (add ?include_closed=true for all), each with its latest score. The page's channels are read
    first, then their latest scores only: the cost does not grow with the score history."""

    required_roles = Role.VIEWER
    serializer_class = ChannelSerializer

    def get_queryset(self):
        include_closed = self.request.query_params.get("include_closed", "false")
        if include_closed not in ("true", "false"):
            raise ValidationError({"include_closed": "must be true or false"})
        channels = Channel.objects.select_related("peer").order_by("chan_id")
        return channels if include_closed == "true" else channels.filter(closed_at__isnull=True)


class ChannelScoreHistoryView(RoleDeclaredMixin, generics.ListAPIView):
    """A channel's scores, newest first: sub-scores, total, weights, inputs and reasons of each."""

    required_roles = Role.VIEWER
    serializer_class = ScoreSerializer

    def get_queryset(self):
        return channel_or_404(self.kwargs["chan_id"]).scores.order_by("-computed_at", "-id")


class NodeMetricsView(RoleDeclaredMixin, APIView):
    """A node's place in the network as of the latest analysed snapshot."""

    required_roles = Role.VIEWER

    def get(self, request, pubkey: str):
        try:
            pubkey = PubkeyField().run_validation(pubkey)
        except ValidationError as exc:
            raise ValidationError({"pubkey": exc.detail}) from None
        analysis = latest_analysis()
        if analysis is None:
            raise NotFound("no analysed graph yet: run refresh_graph and analyse_graph")
        metric = NodeMetric.objects.filter(analysis=analysis, pubkey=pubkey).first()
        if metric is None:
            raise NotFound("this node is not in the latest graph")
        fields = [
            "alias",
            "degree",
            "channel_count",
            "total_capacity_sat",
            "betweenness",
            "closeness",
            "betweenness_percentile",
            "closeness_percentile",
            "position",
        ]
        return Response(
            {
                "pubkey": pubkey,
                **{name: getattr(metric, name) for name in fields},
                "snapshot": {
                    "id": analysis.snapshot_id,
                    "fetched_at": analysis.snapshot.fetched_at,
                    "stale": analysis.snapshot.is_expired(),
                },
            }
        )
