from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from channels.models import Channel, ChannelActivity, ChannelScore, GraphAnalysis, Node, NodeMetric
from daznode.admin import ReadOnlyAdminMixin
from daznode.roles import Role, user_has_role
from decisions.audit import user_actor
from decisions.forms import ChannelRollbackForm
from decisions.models import POLICY_CHANGING_ACTIONS, AuditEntry
from decisions.rollback import RollbackError, channel_rollback

RECENT_CHANGES_SHOWN = 20


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
        extra_context = {**(extra_context or {}), "can_roll_back": user_has_role(request.user, Role.OPERATOR)}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view(self.rollback_view)
        return [path("<int:pk>/rollback/", view, name="channels_channel_rollback"), *super().get_urls()]

    def rollback_view(self, request, pk: int):
        """Roll the channel back to the policy it had at a point in time (operator)."""
        channel = get_object_or_404(Channel.objects.select_related("peer"), pk=pk)
        if not (self.has_view_permission(request, channel) and user_has_role(request.user, Role.OPERATOR)):
            raise PermissionDenied
        form = ChannelRollbackForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = channel_rollback(channel=channel, actor=user_actor(request.user), **form.cleaned_data)
            except RollbackError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, result.message, messages.SUCCESS if result.changed else messages.WARNING)
                return redirect("admin:channels_channel_change", channel.pk)
        changes = AuditEntry.objects.filter(channel=channel, action__in=POLICY_CHANGING_ACTIONS).order_by("-at", "-id")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Roll back channel {channel.chan_id} to a point in time",
            "form": form,
            "channel": channel,
            "changes": changes[:RECENT_CHANGES_SHOWN],
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/channels/channel/rollback.html", context)


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
