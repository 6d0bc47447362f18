"""Read-only channel endpoints (viewer): channels with their latest score, a channel's score history, and a
node's network metrics. chan_id travels as a string, as in LND's JSON: it exceeds what JavaScript numbers hold."""

from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from channels.models import Channel, ChannelScore, NodeMetric
from channels.selectors import latest_analysis
from daznode.api import RoleDeclaredMixin
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


class ChannelSerializer(serializers.ModelSerializer):
    chan_id = serializers.CharField()
    peer = serializers.SerializerMethodField()
    local_ratio = serializers.SerializerMethodField()
    policy = serializers.SerializerMethodField()
    latest_score = serializers.SerializerMethodField()

    class Meta:
        model = Channel
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

    def get_peer(self, channel: Channel) -> dict:
        return {"pubkey": channel.peer.pubkey, "alias": channel.peer.alias}

    def get_local_ratio(self, channel: Channel) -> float:
        return round(channel.local_ratio(), 4)

    def get_policy(self, channel: Channel) -> dict:
        return channel.policy().to_dict()

    def get_latest_score(self, channel: Channel) -> dict | None:
        score = self.context["latest_scores"].get(channel.id)
        return ScoreSerializer(score).data if score else None


class ChannelListView(RoleDeclaredMixin, generics.ListAPIView):
    """Open channels (add ?include_closed=true for all), each with its latest score."""

    required_roles = Role.VIEWER
    serializer_class = ChannelSerializer

    def get_queryset(self):
        include_closed = self.request.query_params.get("include_closed", "false")
        if include_closed not in ("true", "false"):
            raise ValidationError({"include_closed": "must be true or false"})
        channels = Channel.objects.select_related("peer").order_by("chan_id")
        return channels if include_closed == "true" else channels.filter(closed_at__isnull=True)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "latest_scores": self._latest_scores()}

    def _latest_scores(self) -> dict[int, ChannelScore]:
        newest = (
            ChannelScore.objects.filter(channel=OuterRef("channel")).order_by("-computed_at", "-id").values("id")[:1]
        )
        scores = ChannelScore.objects.filter(id=Subquery(newest))
        return {score.channel_id: score for score in scores}


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
