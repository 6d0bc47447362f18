"""Everything here mirrors the node or the network, or is computed from them: it is read, never edited or deleted
by hand (the next sync or analysis would undo an edit, and decisions and audit rows point to channels)."""

from django.contrib import admin

from channels.models import Channel, ChannelActivity, ChannelScore, GraphAnalysis, Node, NodeMetric
from daznode.admin import ReadOnlyAdminMixin, column, percentile, seconds, thousands
from daznode.roles import Role, user_has_role
from daznode.templatetags.daznode_format import msat_as_sats, percent, ppm, sats, score

# The channel's page: amounts formatted (the ModelAdmin's columns), grouped as an operator reads them.
CHANNEL_PAGE: list[tuple[str | None, tuple[str, ...]]] = [
    (None, ("chan_id", "chan_point", "peer", "active", "private", "opened_at", "closed_at")),
    (
        "Balance",
        (
            "capacity",
            "local_balance",
            "remote_balance",
            "local_ratio_display",
            "pending_htlc_count",
            "pending_outgoing",
            "pending_incoming",
        ),
    ),
    (
        "Our policy",
        (
            "fee_rate",
            "base_fee",
            "time_lock_delta",
            "min_htlc",
            "max_htlc",
            "inbound_fee_rate",
            "inbound_base_fee",
            "policy_disabled",
            "policy_set_at",
        ),
    ),
    ("As LND reports it", ("uptime", "lifetime", "synced_at")),
]


@admin.register(Node)
class NodeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["alias", "pubkey", "is_ours", "first_seen_at"]
    list_filter = ["is_ours"]
    search_fields = ["alias", "pubkey"]


@admin.register(Channel)
class ChannelAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "chan_id",
        "peer",
        "capacity",
        "local_balance",
        "local_ratio_display",
        "fee_rate",
        "base_fee",
        "active",
        "private",
    ]
    list_filter = ["active", "private", "policy_disabled"]
    search_fields = ["chan_id", "chan_point", "peer__alias", "peer__pubkey"]
    list_select_related = ["peer"]

    fieldsets = [(title, {"fields": names}) for title, names in CHANNEL_PAGE]
    readonly_fields = [name for _, names in CHANNEL_PAGE for name in names]

    capacity = column("capacity_sat", sats, "capacity")
    local_balance = column("local_balance_sat", sats, "local balance")
    remote_balance = column("remote_balance_sat", sats, "remote balance")
    pending_outgoing = column("pending_outgoing_sat", sats, "in flight out")
    pending_incoming = column("pending_incoming_sat", sats, "in flight in")
    fee_rate = column("fee_rate_ppm", ppm, "fee rate")
    inbound_fee_rate = column("inbound_fee_rate_ppm", ppm, "inbound fee rate")
    base_fee = column("base_fee_msat", thousands, "base fee (msat)")
    inbound_base_fee = column("inbound_base_fee_msat", thousands, "inbound base fee (msat)")
    min_htlc = column("min_htlc_msat", thousands, "min HTLC (msat)")
    max_htlc = column("max_htlc_msat", thousands, "max HTLC (msat)")
    uptime = column("uptime_s", thousands, "peer online (s)")
    lifetime = column("lifetime_s", thousands, "monitored (s)")

    @admin.display(description="local ratio")
    def local_ratio_display(self, channel: Channel) -> str:
        return percent(channel.local_ratio())

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The rollback page belongs to decisions (it writes to the node): the channel page only links to it by URL
        # name (admin:decisions_channel_rollback, in templates/admin/channels/channel/change_form.html).
        extra_context = {**(extra_context or {}), "can_roll_back": user_has_role(request.user, Role.OPERATOR)}
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(ChannelActivity)
class ChannelActivityAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "channel",
        "period_start",
        "period_end",
        "forwards_in_count",
        "forwards_out_count",
        "failed_forwards_count",
        "amount_out",
        "fees_earned",
    ]
    date_hierarchy = "period_start"
    list_select_related = ["channel__peer"]

    amount_out = column("amount_out_msat", msat_as_sats, "amount out")
    fees_earned = column("fees_earned_msat", msat_as_sats, "fees earned")


@admin.register(ChannelScore)
class ChannelScoreAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["channel", "computed_at", "total", "centrality", "liquidity", "activity", "competitiveness"]
    date_hierarchy = "computed_at"
    list_select_related = ["channel__peer"]
    fields = (
        "channel",
        "snapshot",
        "computed_at",
        "total",
        "peer_total",
        "centrality",
        "liquidity",
        "activity",
        "competitiveness",
        "reliability",
        "age",
        "peer_quality",
        "position",
        "weights",
        "inputs",
        "reasons",
    )
    readonly_fields = fields

    total = column("total_score", score, "total")
    peer_total = column("peer_total_score", score, "all channels to this peer")
    centrality = column("centrality_score", score, "centrality")
    liquidity = column("liquidity_score", score, "liquidity")
    activity = column("activity_score", score, "activity")
    competitiveness = column("competitiveness_score", score, "competitiveness")
    reliability = column("reliability_score", score, "reliability")
    age = column("age_score", score, "age")
    peer_quality = column("peer_quality_score", score, "peer quality")
    position = column("position_score", score, "position")


@admin.register(GraphAnalysis)
class GraphAnalysisAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["snapshot", "computed_at", "nodes", "duration", "network_median_fee_rate"]
    list_select_related = ["snapshot"]
    fields = ("snapshot", "computed_at", "nodes", "duration", "network_median_fee_rate")
    readonly_fields = fields

    nodes = column("node_count", thousands, "nodes")
    duration = column("duration_s", seconds, "duration")
    network_median_fee_rate = column("network_median_fee_rate_ppm", ppm, "network median fee rate")


@admin.register(NodeMetric)
class NodeMetricAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The network's nodes by centrality, as of each analysed snapshot (latest first)."""

    list_display = [
        "alias",
        "pubkey",
        "position",
        "degree",
        "total_capacity",
        "betweenness_rank",
        "closeness_rank",
        "analysis",
    ]
    list_filter = ["position", "analysis"]
    search_fields = ["alias", "pubkey"]
    list_select_related = ["analysis"]
    show_full_result_count = False  # 17,000 rows per analysis: skip the extra COUNT
    fields = (
        "analysis",
        "pubkey",
        "alias",
        "position",
        "degree",
        "channels",
        "total_capacity",
        "betweenness_rank",
        "closeness_rank",
        "betweenness_centrality",
        "closeness_centrality",
    )
    readonly_fields = fields

    channels = column("channel_count", thousands, "channels")
    total_capacity = column("total_capacity_sat", sats, "total capacity")
    betweenness_rank = column("betweenness_percentile", percentile, "betweenness percentile")
    closeness_rank = column("closeness_percentile", percentile, "closeness percentile")
    # Raw centralities are tiny fractions that only compare with each other: shown to six significant digits.
    betweenness_centrality = column("betweenness", "{:.6g}".format, "betweenness")
    closeness_centrality = column("closeness", "{:.6g}".format, "closeness")
