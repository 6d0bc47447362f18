from django.contrib import admin

from channels.models import Channel, ChannelActivity, ChannelScore, GraphAnalysis, Node, NodeMetric
from daznode.admin import ReadOnlyAdminMixin
from daznode.roles import Role, user_has_role


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ["alias", "pubkey", "is_ours", "first_seen_at"]
    list_filter = ["is_ours"]
    search_fields = ["alias", "pubkey"]


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    """Channels mirror the node: they are read from it, so the admin shows them rather than edits them."""

    list_display = [
        "chan_id",
        "peer",
        "capacity_sat",
        "local_balance_sat",
        "local_ratio_display",
        "fee_rate_ppm",
        "base_fee_msat",
        "active",
        "private",
    ]
    list_filter = ["active", "private", "policy_disabled"]
    search_fields = ["chan_id", "chan_point", "peer__alias", "peer__pubkey"]
    list_select_related = ["peer"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="local ratio")
    def local_ratio_display(self, channel: Channel) -> str:
        return f"{channel.local_ratio():.0%}"

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
        "amount_out_msat",
        "fees_earned_msat",
    ]
    date_hierarchy = "period_start"
    list_select_related = ["channel__peer"]


@admin.register(ChannelScore)
class ChannelScoreAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "channel",
        "computed_at",
        "total_score",
        "centrality_score",
        "liquidity_score",
        "activity_score",
        "competitiveness_score",
    ]
    date_hierarchy = "computed_at"
    list_select_related = ["channel__peer"]


@admin.register(GraphAnalysis)
class GraphAnalysisAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["snapshot", "computed_at", "node_count", "duration_s", "network_median_fee_rate_ppm"]
    list_select_related = ["snapshot"]


@admin.register(NodeMetric)
class NodeMetricAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The network's nodes by centrality, as of each analysed snapshot (latest first)."""

    list_display = [
        "alias",
        "pubkey",
        "position",
        "degree",
        "total_capacity_sat",
        "betweenness_percentile",
        "closeness_percentile",
        "analysis",
    ]
    list_filter = ["position", "analysis"]
    search_fields = ["alias", "pubkey"]
    list_select_related = ["analysis"]
    show_full_result_count = False  # 17,000 rows per analysis: skip the extra COUNT
