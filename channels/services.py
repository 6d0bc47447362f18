"""Scoring our channels: the database and the latest analysed graph in, pure heuristics in the middle,
ChannelScore rows out (kept as history)."""

import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from channels.conf import score_weights
from channels.heuristics import Activity, ChannelState, FeeContext, PeerNetwork, Position, activity_window
from channels.models import Channel, ChannelActivity, ChannelScore, Node, NodeMetric
from channels.network import GraphIndex, PeerGraphFacts
from channels.scoring import ScoreInputs, score_channel, score_peer
from channels.selectors import analysis_graph, latest_analysis

logger = logging.getLogger(__name__)
ACTIVITY_FIELDS = (
    "forwards_out_count",
    "forwards_in_count",
    "failed_forwards_count",
    "amount_out_msat",
    "amount_in_msat",
    "fees_earned_msat",
)


class NothingToScore(Exception):
    pass


def _channel_state(channel: Channel) -> ChannelState:
    return ChannelState(
        chan_id=channel.chan_id,
        capacity_sat=channel.capacity_sat,
        local_balance_sat=channel.local_balance_sat,
        remote_balance_sat=channel.remote_balance_sat,
        pending_outgoing_sat=channel.pending_outgoing_sat,
        pending_incoming_sat=channel.pending_incoming_sat,
        active=channel.active,
        opened_at=channel.opened_at,
        fee_rate_ppm=channel.fee_rate_ppm,
        base_fee_msat=channel.base_fee_msat,
        uptime_s=channel.uptime_s,
        lifetime_s=channel.lifetime_s,
    )


def _activity_by_channel(channels: list[Channel], *, now: datetime, days: int) -> dict[int, Activity]:
    start, end = activity_window(now, days)
    sums = (
        ChannelActivity.objects.filter(channel__in=channels, period_start__gte=start, period_start__lt=end)
        .values("channel_id")
        .annotate(**{name: Sum(name) for name in ACTIVITY_FIELDS})
    )
    found = {row["channel_id"]: _activity(row, days=days) for row in sums}
    return {channel.id: found.get(channel.id, Activity(window_days=days)) for channel in channels}


def _activity(row: Mapping[str, Any], *, days: int) -> Activity:
    return Activity(window_days=days, **{name: row[name] for name in ACTIVITY_FIELDS})


def _peer_network(metric: NodeMetric | None, facts: PeerGraphFacts | None, flap_count: int | None) -> PeerNetwork:
    if metric is None:
        return PeerNetwork(flap_count=flap_count)
    return PeerNetwork(
        betweenness_percentile=metric.betweenness_percentile,
        closeness_percentile=metric.closeness_percentile,
        position=Position(metric.position),
        total_capacity_sat=metric.total_capacity_sat,
        channel_count=metric.channel_count,
        disabled_ratio=facts.disabled_ratio if facts else None,
        median_outbound_fee_rate_ppm=facts.median_outbound_fee_rate_ppm if facts else None,
        fee_rate_stddev_ppm=facts.fee_rate_stddev_ppm if facts else None,
        flap_count=flap_count,
    )


class _Network:
    """What the latest analysed graph says about each peer; empty (all unknown) when there is none yet."""

    def __init__(self, peers: list[Node], our_pubkey: str | None):
        self.analysis = latest_analysis()
        self.metrics, self.facts, self.median_ppm, self.snapshot = {}, {}, None, None
        if self.analysis is None:
            return
        pubkeys = [peer.pubkey for peer in peers]
        self.metrics = {m.pubkey: m for m in NodeMetric.objects.filter(analysis=self.analysis, pubkey__in=pubkeys)}
        self.median_ppm, self.snapshot = self.analysis.network_median_fee_rate_ppm, self.analysis.snapshot
        index = GraphIndex(analysis_graph(self.analysis))  # the snapshot the metrics come from, not the newest
        self.facts = {key: index.peer_facts(key, our_pubkey=our_pubkey or "") for key in pubkeys}

    def peer(self, node: Node) -> PeerNetwork:
        return _peer_network(self.metrics.get(node.pubkey), self.facts.get(node.pubkey), node.flap_count)

    def fees(self, node: Node) -> FeeContext:
        facts = self.facts.get(node.pubkey)
        return FeeContext(
            network_median_fee_rate_ppm=self.median_ppm,
            peer_inbound_fee_rates_ppm=facts.inbound_fee_rates_ppm if facts else (),
        )


def channels_score(*, now: datetime | None = None, weights: dict[str, float] | None = None) -> list[ChannelScore]:
    """Score every open channel, and channels to the same peer together; store the scores."""
    now = now or timezone.now()
    weights = weights or score_weights()
    channels = list(Channel.objects.filter(closed_at__isnull=True).select_related("peer"))
    if not channels:
        raise NothingToScore("no open channels: run sync_channels first")
    ours = Node.objects.filter(is_ours=True).values_list("pubkey", flat=True).first()
    network = _Network(list({channel.peer for channel in channels}), ours)
    activity = _activity_by_channel(channels, now=now, days=settings.DAZNODE_SCORE_ACTIVITY_DAYS)
    inputs = {
        channel.id: ScoreInputs(
            channel=_channel_state(channel),
            activity=activity[channel.id],
            peer=network.peer(channel.peer),
            fees=network.fees(channel.peer),
            now=now,
        )
        for channel in channels
    }
    by_peer = defaultdict(list)
    for channel in channels:
        by_peer[channel.peer_id].append(channel.id)
    peer_totals = {
        peer_id: score_peer([inputs[i] for i in ids], weights).total for peer_id, ids in by_peer.items() if len(ids) > 1
    }
    rows = [
        _score_row(
            channel, score_channel(inputs[channel.id], weights), peer_totals.get(channel.peer_id), network.snapshot, now
        )
        for channel in channels
    ]
    with transaction.atomic():
        ChannelScore.objects.bulk_create(rows)
    logger.info("scored %d channels (%d peers with several channels)", len(rows), len(peer_totals))
    return rows


def _score_row(channel: Channel, result, peer_total: float | None, snapshot, now: datetime) -> ChannelScore:
    return ChannelScore(
        channel=channel,
        snapshot=snapshot,
        computed_at=now,
        total_score=result.total,
        peer_total_score=peer_total,
        weights=result.weights,
        inputs=result.inputs_summary(),
        reasons=result.reasons,
        **{f"{name}_score": value for name, value in result.sub_scores.items()},
    )
