"""Read-only channel endpoints (viewer): channels with their latest score, a channel's score history, and a
node's network metrics. chan_id travels as a string, as in LND's JSON: it exceeds what JavaScript numbers hold."""

import hashlib
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from channels.models import Channel, ChannelScore, NodeMetric
from channels.selectors import latest_analysis, latest_scores
from daznode.api import RoleDeclaredMixin
from daznode.lightning import PUBKEY_MESSAGE, parse_chan_id, parse_pubkey
from daznode.roles import Role

# The lists' counts and answers are kept under the database's state (database_state), so they are exact: any
# commit changes the state. Counts in the cache, shared by the processes, dropped after COUNT_KEPT_S; answers in
# each process's memory, the least recently used dropped first beyond ANSWERS_KEPT_BYTES.
COUNT_KEPT_S = 600
ANSWERS_KEPT_BYTES = 8 * 1024 * 1024


def database_state() -> str | None:
    """A text that changes whenever a transaction commits anything: PostgreSQL's current snapshot (the oldest
    running transaction, the next one, those running in between), with the database and the server's start time.
    Two reads that see the same state see the same rows. None on SQLite, and inside a transaction, whose own
    writes the snapshot does not show."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), pg_postmaster_start_time()::text, pg_current_snapshot()::text")
        return ":".join(cursor.fetchone())


class UnchangedDatabaseCountPagination(LimitOffsetPagination):
    """LimitOffsetPagination whose count (a scan of every row that matches: 180,000 decisions after 90 days) is
    made once per state of the database, for all the pages read in that state."""

    def get_count(self, queryset: QuerySet) -> int:
        state = database_state()
        if state is None:
            return super().get_count(queryset)
        query = repr((state, *queryset.query.sql_with_params()))
        key = "api-count:" + hashlib.sha256(query.encode()).hexdigest()
        count = cache.get(key)
        if count is None:
            count = super().get_count(queryset)
            cache.set(key, count, COUNT_KEPT_S)
        return count


class KeptAnswers:
    """Rendered answers kept in this process, the least recently used dropped first beyond a budget of bytes: a
    client asking for ever new URLs (other pages, made-up parameters) costs memory up to the budget, no more."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._answers: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # gunicorn's threads share the process

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            body = self._answers.get(key)
            if body is not None:
                self._answers.move_to_end(key)
            return body

    def put(self, key: tuple, body: bytes) -> None:
        if len(body) > self.budget_bytes // 8:
            return  # thousands of rows asked at once: not worth pushing everything else out
        with self._lock:
            self._bytes += len(body) - len(self._answers.pop(key, b""))
            self._answers[key] = body
            while self._bytes > self.budget_bytes:
                self._bytes -= len(self._answers.popitem(last=False)[1])


class KeptWhileUnchangedListAPIView(generics.ListAPIView):
    """A list view whose answer depends on its URL and the database only (not on the user, once let in, nor on
    the time): the rendered answer is kept per state of the database, so that reading it again until something
    commits costs one small query. Authentication and roles are checked before, as for every request."""

    kept = KeptAnswers(ANSWERS_KEPT_BYTES)

    def list(self, request, *args, **kwargs):
        state = database_state()
        if state is None:
            return super().list(request, *args, **kwargs)
        key = (state, type(self).__name__, request.build_absolute_uri(), request.accepted_media_type)
        body = self.kept.get(key)
        if body is None:
            data = super().list(request, *args, **kwargs).data
            body = request.accepted_renderer.render(data, request.accepted_media_type, self.get_renderer_context())
            self.kept.put(key, body)
        return HttpResponse(body, content_type=request.accepted_renderer.media_type)


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
