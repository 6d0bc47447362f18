from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from channels.heuristics import POSITION_LABELS, Activity, Position
from channels.scoring import HEURISTICS  # pure, no Django: the one list of heuristics
from daznode.lightning import (
    CHAN_POINT_MESSAGE,
    CHAN_POINT_PATTERN,
    PUBKEY_MESSAGE,
    PUBKEY_PATTERN,
    Policy,
    local_ratio,
)

# The patterns are anchored with \A...\Z: a RegexValidator searches, and `^...$` lets a trailing newline through.
PUBKEY = RegexValidator(PUBKEY_PATTERN, PUBKEY_MESSAGE)
CHAN_POINT = RegexValidator(CHAN_POINT_PATTERN, CHAN_POINT_MESSAGE)


class Node(models.Model):
    """A Lightning node: ours, one of our peers, or any node of the graph we care to remember."""

    pubkey = models.CharField(max_length=66, unique=True, validators=[PUBKEY])
    alias = models.CharField(max_length=64, blank=True)
    is_ours = models.BooleanField(default=False)
    flap_count = models.PositiveIntegerField(null=True, blank=True, help_text="Disconnections LND counted (peers).")
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["alias", "pubkey"]
        constraints = [
            # Daznode manages one node.
            models.UniqueConstraint(fields=["is_ours"], condition=Q(is_ours=True), name="one_node_is_ours"),
        ]

    def __str__(self) -> str:
        return self.alias or f"{self.pubkey[:12]}…"


class Channel(models.Model):
    """One of our channels, with its balances and the policy on our side as last read from the node."""

    chan_id = models.PositiveBigIntegerField(unique=True, help_text="Short channel id (uint64).")
    chan_point = models.CharField(max_length=75, unique=True, validators=[CHAN_POINT])
    peer = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="channels")
    capacity_sat = models.PositiveBigIntegerField()
    local_balance_sat = models.PositiveBigIntegerField(default=0)
    remote_balance_sat = models.PositiveBigIntegerField(default=0)
    pending_htlc_count = models.PositiveIntegerField(default=0)
    pending_outgoing_sat = models.PositiveBigIntegerField(default=0, help_text="In-flight HTLCs we offered.")
    pending_incoming_sat = models.PositiveBigIntegerField(default=0, help_text="In-flight HTLCs offered to us.")
    active = models.BooleanField(default=True)
    private = models.BooleanField(default=False)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When the node stopped listing it.")
    uptime_s = models.PositiveBigIntegerField(null=True, blank=True, help_text="Time the peer was online (LND).")
    lifetime_s = models.PositiveBigIntegerField(null=True, blank=True, help_text="Time LND has monitored it.")

    # Our side's policy.
    base_fee_msat = models.PositiveBigIntegerField()
    fee_rate_ppm = models.PositiveIntegerField()
    time_lock_delta = models.PositiveIntegerField()
    min_htlc_msat = models.PositiveBigIntegerField()
    max_htlc_msat = models.PositiveBigIntegerField()
    inbound_base_fee_msat = models.IntegerField(default=0)
    inbound_fee_rate_ppm = models.IntegerField(default=0)
    policy_disabled = models.BooleanField(default=False)

    synced_at = models.DateTimeField(default=timezone.now, help_text="When this row was last read from the node.")
    policy_set_at = models.DateTimeField(
        null=True, blank=True, help_text="When Daznode last wrote this policy to the node; older reads do not undo it."
    )

    class Meta:
        ordering = ["chan_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(local_balance_sat__lte=F("capacity_sat") - F("remote_balance_sat")),
                name="balances_within_capacity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.chan_id} ↔ {self.peer}"

    def policy(self) -> Policy:
        return Policy(
            base_fee_msat=self.base_fee_msat,
            fee_rate_ppm=self.fee_rate_ppm,
            time_lock_delta=self.time_lock_delta,
            min_htlc_msat=self.min_htlc_msat,
            max_htlc_msat=self.max_htlc_msat,
            inbound_base_fee_msat=self.inbound_base_fee_msat,
            inbound_fee_rate_ppm=self.inbound_fee_rate_ppm,
            disabled=self.policy_disabled,
        )

    def set_policy(self, policy: Policy) -> None:
        self.base_fee_msat = policy.base_fee_msat
        self.fee_rate_ppm = policy.fee_rate_ppm
        self.time_lock_delta = policy.time_lock_delta
        self.min_htlc_msat = policy.min_htlc_msat
        self.max_htlc_msat = policy.max_htlc_msat
        self.inbound_base_fee_msat = policy.inbound_base_fee_msat
        self.inbound_fee_rate_ppm = policy.inbound_fee_rate_ppm
        self.policy_disabled = policy.disabled

    def local_ratio(self) -> float:
        """Our share of the capacity, counting HTLCs we have in flight as still ours."""
        return local_ratio(
            capacity_sat=self.capacity_sat,
            local_balance_sat=self.local_balance_sat,
            pending_outgoing_sat=self.pending_outgoing_sat,
        )


class ChannelActivity(models.Model):
    """Forwarding through one channel, aggregated over a period (an hour or a day)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="activity")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    forwards_in_count = models.PositiveIntegerField(default=0)
    forwards_out_count = models.PositiveIntegerField(default=0)
    failed_forwards_count = models.PositiveIntegerField(default=0)
    amount_in_msat = models.PositiveBigIntegerField(default=0)
    amount_out_msat = models.PositiveBigIntegerField(default=0)
    fees_earned_msat = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-period_start"]
        verbose_name_plural = "channel activity"
        constraints = [
            models.UniqueConstraint(fields=["channel", "period_start"], name="one_activity_row_per_period"),
            models.CheckConstraint(condition=Q(period_end__gt=F("period_start")), name="period_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.channel.chan_id} {self.period_start:%Y-%m-%d %H:%M}"


def _unit_interval(field: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": 0.0, f"{field}__lte": 1.0}), name=f"channelscore_{field}_in_unit_interval"
    )


class ChannelScore(models.Model):
    """One scoring of a channel, kept as history: the eight sub-scores, their weights and what went in."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="scores")
    snapshot = models.ForeignKey(
        "sources.GraphSnapshot", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    computed_at = models.DateTimeField(default=timezone.now)
    centrality_score = models.FloatField()
    liquidity_score = models.FloatField()
    activity_score = models.FloatField()
    competitiveness_score = models.FloatField()
    reliability_score = models.FloatField()
    age_score = models.FloatField()
    peer_quality_score = models.FloatField()
    position_score = models.FloatField()
    total_score = models.FloatField()
    peer_total_score = models.FloatField(
        null=True, blank=True, help_text="All our channels to this peer scored together (when there are several)."
    )
    weights = models.JSONField(help_text="Weight of each heuristic, summing to 1.")
    inputs = models.JSONField(default=dict, help_text="The figures each heuristic was computed from.")
    reasons = models.JSONField(default=dict, help_text="A short reason per heuristic.")

    class Meta:
        ordering = ["-computed_at"]
        get_latest_by = "computed_at"
        indexes = [models.Index(fields=["channel", "-computed_at"])]
        constraints = [_unit_interval(f"{name}_score") for name in (*HEURISTICS, "total")]

    def __str__(self) -> str:
        return f"{self.channel.chan_id}: {self.total_score:.2f} at {self.computed_at:%Y-%m-%d %H:%M}"

    def sub_scores(self) -> dict[str, float]:
        return {name: getattr(self, f"{name}_score") for name in HEURISTICS}

    def activity(self) -> Activity | None:
        """The forwarding figures this score was computed from, typed; None when they were not recorded (an
        unknown count is not a zero: "nothing went out" would turn into a fee cut)."""
        data = self.inputs.get("activity") if isinstance(self.inputs, dict) else None
        if not isinstance(data, dict):
            return None
        try:
            return Activity(**data)
        except (TypeError, ValueError):
            return None


class GraphAnalysis(models.Model):
    """Centrality of every node of one graph snapshot, computed once and read by the API and the dashboard."""

    snapshot = models.OneToOneField("sources.GraphSnapshot", on_delete=models.CASCADE, related_name="analysis")
    computed_at = models.DateTimeField(default=timezone.now)
    duration_s = models.FloatField(help_text="Wall time of the centrality computation.")
    node_count = models.PositiveIntegerField()
    network_median_fee_rate_ppm = models.PositiveIntegerField(help_text="Over enabled channel directions.")

    class Meta:
        ordering = ["-computed_at"]
        get_latest_by = "computed_at"
        verbose_name_plural = "graph analyses"

    def __str__(self) -> str:
        return f"Analysis of snapshot {self.snapshot_id} ({self.node_count} nodes, {self.duration_s:.1f} s)"


class NodeMetric(models.Model):
    """One node's place in the network, as of one snapshot."""

    analysis = models.ForeignKey(GraphAnalysis, on_delete=models.CASCADE, related_name="metrics")
    pubkey = models.CharField(max_length=66, validators=[PUBKEY])
    alias = models.CharField(max_length=64, blank=True)
    degree = models.PositiveIntegerField(help_text="Distinct neighbours.")
    channel_count = models.PositiveIntegerField()
    total_capacity_sat = models.PositiveBigIntegerField()
    betweenness = models.FloatField()
    closeness = models.FloatField()
    betweenness_percentile = models.FloatField()
    closeness_percentile = models.FloatField()
    position = models.CharField(max_length=20, choices=[(p.value, POSITION_LABELS[p]) for p in Position])

    class Meta:
        ordering = ["-betweenness"]
        constraints = [models.UniqueConstraint(fields=["analysis", "pubkey"], name="one_metric_per_node_and_analysis")]
        indexes = [models.Index(fields=["pubkey", "analysis"])]

    def __str__(self) -> str:
        return f"{self.alias or self.pubkey[:12]}: {self.get_position_display()}"
