"""The decisions admin. Outside live mode, applying and rolling back go through a confirmation page that shows the
exact policy change per decision and an "apply live anyway" box: without it nothing is sent, and the message says
why (decisions.conf.live_write_note is the one rule). A channel rollback to a point in time is previewed and
confirmed in every mode."""

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from channels.models import Channel
from daznode.actors import user_actor
from daznode.admin import ReadOnlyAdminMixin
from daznode.context_processors import MODE_LABELS, mode_sentence
from daznode.roles import Role, user_has_role
from decisions.conf import node_writes_live, not_live_message
from decisions.executor import ApplyRefused, decision_apply
from decisions.forms import ChannelRollbackConfirmForm, ChannelRollbackForm, KillSwitchForm, LiveAnywayForm
from decisions.models import (
    POLICY_CHANGING_ACTIONS,
    AuditEntry,
    Decision,
    FeeCycle,
    FeeLimit,
    KillSwitch,
    PolicyBackup,
    PolicyWrite,
    policy_diff,
)
from decisions.rollback import (
    ExternalChangeConflict,
    RollbackError,
    channel_policy_at,
    channel_rollback,
    decision_rollback,
    decision_rollback_target,
)
from decisions.services import DecisionStateError, decision_approve, decision_reject, kill_switch_set

# What an admin action reports for one decision: a messages level and a sentence.
Outcome = tuple[int, str]
RECENT_CHANGES_SHOWN = 20
# A line of the channel rollback's preview: field, now (as Daznode last read it), put back, whether it changes.
PreviewRow = tuple[str, int, int, bool]
# The forced rollback action's label, also named in the message that points an operator to it.
FORCED_ROLLBACK_ACTION = "Roll back, overwriting changes made outside Daznode"
CONFIRMATION_TEMPLATE = "admin/decisions/live_anyway_confirmation.html"
# The list's status column: one or two words (the full label is the badge's tooltip).
STATUS_SHORT: dict[str, str] = {
    Decision.Status.ROLLING_BACK: "rolling back",
    Decision.Status.ROLLED_BACK: "rolled back",
    Decision.Status.RECORDED: "recorded",
    Decision.Status.BLOCKED: "blocked",
    Decision.Status.SUPERSEDED: "superseded",
}


class OperatorMixin:
    """Admin actions that change decisions or the node are for operators; everyone else only reads."""

    def has_operate_permission(self, request) -> bool:
        return user_has_role(request.user, Role.OPERATOR)


@admin.register(Decision)
class DecisionAdmin(OperatorMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # Short cells (two-line date and channel, badges), so that the list reads at 1400 px beside the navigation and
    # the filters; who created a decision is on its page.
    list_display = ["created", "channel_cell", "kind", "rule", "status_badge", "mode_short", "score_rounded"]
    list_display_links = ["created"]
    list_filter = ["kind", "status", "mode", "rule", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["channel__chan_id", "channel__peer__alias", "channel__peer__pubkey"]
    date_hierarchy = "created_at"
    list_select_related = ["channel__peer"]
    actions = ["approve", "reject", "apply_now", "roll_back", "roll_back_forced"]
    fieldsets = [
        (None, {"fields": ["channel", "kind", "status", "mode", "actor", "cycle"]}),
        ("Why", {"fields": ["rule", "score_rounded", "reasons_display", "sub_scores_display", "rejections_display"]}),
        ("What it changes", {"fields": ["diff_display", "failure_reason"]}),
        ("When", {"fields": ["created_at", "approved_at", "applied_at", "rolled_back_at", "claimed_by"]}),
        ("Audit trail", {"fields": ["audit_display"]}),
    ]
    readonly_fields = [
        "score_rounded",
        "reasons_display",
        "sub_scores_display",
        "rejections_display",
        "diff_display",
        "audit_display",
    ]

    @admin.display(description="score", ordering="total_score")
    def score_rounded(self, decision: Decision) -> str:  # not `score`: the decision's foreign key to its ChannelScore
        return self.get_empty_value_display() if decision.total_score is None else f"{decision.total_score:.2f}"

    @admin.display(description="created", ordering="created_at")
    def created(self, decision: Decision) -> str:
        created_at = timezone.localtime(decision.created_at)
        return format_html("{}<br>{}", f"{created_at:%Y-%m-%d}", f"{created_at:%H:%M:%S}")

    @admin.display(description="channel", ordering="channel__chan_id")
    def channel_cell(self, decision: Decision) -> str:
        channel = decision.channel
        return format_html('{}<br><span class="daznode-peer">{}</span>', channel.chan_id, channel.peer)

    @admin.display(description="mode", ordering="mode")
    def mode_short(self, decision: Decision) -> str:
        return MODE_LABELS[decision.mode].lower()

    @admin.display(description="status", ordering="status")
    def status_badge(self, decision: Decision) -> str:
        return format_html(
            '<span class="daznode-status daznode-status-{}" title="{}">{}</span>',
            decision.status,
            decision.get_status_display(),
            STATUS_SHORT.get(decision.status, decision.status),
        )

    @admin.display(description="reasons")
    def reasons_display(self, decision: Decision) -> str:
        return format_html("<ol>{}</ol>", format_html_join("", "<li>{}</li>", ((r,) for r in decision.reasons)))

    @admin.display(description="sub-scores (weakest first)")
    def sub_scores_display(self, decision: Decision) -> str:
        rows = sorted(decision.sub_scores.items(), key=lambda item: item[1])
        return table(["heuristic", "score"], [(name, f"{value:.2f}") for name, value in rows])

    @admin.display(description="safety limits broken")
    def rejections_display(self, decision: Decision) -> str:
        rows = [(rejection["rule"], rejection["message"]) for rejection in decision.rejections]
        return table(["limit", "why"], rows) if rows else "none"

    @admin.display(description="policy change")
    def diff_display(self, decision: Decision) -> str:
        rows = diff_rows(decision.policy_diff())
        return table(["field", "current", "proposed"], rows) if rows else "no change to the policy"

    @admin.display(description="audit entries")
    def audit_display(self, decision: Decision) -> str:
        entries = decision.audit_entries.order_by("at", "id")
        rows = [(f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.get_action_display(), e.reason) for e in entries]
        return table(["at", "actor", "action", "reason"], rows) if rows else "none"

    @admin.action(description="Approve", permissions=["operate"])
    def approve(self, request, queryset):
        self.each(request, queryset, approved)

    @admin.action(description="Reject", permissions=["operate"])
    def reject(self, request, queryset):
        self.each(request, queryset, rejected)

    @admin.action(description="Apply now (live)", permissions=["operate"])
    def apply_now(self, request, queryset):
        return self.each_live(request, queryset.order_by("created_at", "id"), applied, change=ApplyChange)

    @admin.action(description="Roll back", permissions=["operate"])
    def roll_back(self, request, queryset):
        return self.each_live(request, queryset.order_by("-applied_at", "-id"), rolled_back, change=RollbackChange)

    @admin.action(description=FORCED_ROLLBACK_ACTION, permissions=["operate"])
    def roll_back_forced(self, request, queryset):
        def forced(decision: Decision, actor: str, *, live_anyway: bool = False) -> Outcome:
            return rolled_back(decision, actor, force=True, live_anyway=live_anyway)

        return self.each_live(request, queryset.order_by("-applied_at", "-id"), forced, change=RollbackChange)

    def each_live(self, request, decisions, act: "LiveAct", *, change: type["ProposedChange"]):
        """An action that writes to the node. Live: act at once. Otherwise the confirmation page first (the exact
        change per decision and the "apply live anyway" box); its answer acts live anyway only when ticked."""
        if node_writes_live():
            self.each(request, decisions, act)
            return None
        if LiveAnywayForm.CONFIRMED not in request.POST:
            return self.live_anyway_confirmation(request, decisions, change)
        form = LiveAnywayForm(request.POST)
        if not (form.is_valid() and form.cleaned_data["live_anyway"]):
            self.message_user(request, not_live_message(), messages.WARNING)
            return None
        self.each(request, decisions, lambda decision, actor: act(decision, actor, live_anyway=True))
        return None

    def live_anyway_confirmation(self, request, decisions, change: type["ProposedChange"]) -> TemplateResponse:
        decisions = list(decisions.select_related("channel__peer"))
        mode = settings.DAZNODE_DECISION_MODE
        context = {
            **self.admin_site.each_context(request),
            "title": f"{change.verb} {len(decisions)} decision(s) live anyway?",
            "mode_meaning": mode_sentence(mode),
            "changes": [change(decision) for decision in decisions],
            "change_kind": change,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "form": LiveAnywayForm(label=f"{change.verb} live anyway"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, CONFIRMATION_TEMPLATE, context)

    def get_urls(self):
        view = self.admin_site.admin_view(self.channel_rollback_view)
        return [path("channel/<int:pk>/rollback/", view, name="decisions_channel_rollback"), *super().get_urls()]

    def channel_rollback_view(self, request, pk: int):
        """Roll a channel back to the policy it had at a point in time (operator); linked from the channel page. Two
        steps in every mode: a point in time shows the exact policy that would be put back, and only the answer that
        carries the confirmation sends it (outside live mode, only with "Roll back live anyway" ticked)."""
        channel = get_object_or_404(Channel.objects.select_related("peer"), pk=pk)
        if not (request.user.has_perm("channels.view_channel") and self.has_operate_permission(request)):
            raise PermissionDenied
        if request.method != "POST":
            return self.channel_rollback_page(request, channel, ChannelRollbackForm())
        if ChannelRollbackConfirmForm.CONFIRMED not in request.POST:
            return self.channel_rollback_preview(request, channel, ChannelRollbackForm(request.POST))
        form = ChannelRollbackConfirmForm(request.POST, live=node_writes_live())
        if form.is_valid():
            try:
                result = channel_rollback(channel=channel, actor=user_actor(request.user), **form.cleaned_data)
            except RollbackError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, result.message, messages.SUCCESS if result.changed else messages.WARNING)
                return redirect("admin:channels_channel_change", channel.pk)
        to = form.cleaned_data.get("to")  # absent when the point in time itself was refused
        rows = rollback_rows(channel, to) if to else None
        return self.channel_rollback_page(request, channel, form, to=to, rows=rows)

    def channel_rollback_preview(self, request, channel: Channel, form: ChannelRollbackForm) -> TemplateResponse:
        """The answer to the first step: what would be put back, and the confirmation form for that point in time."""
        if not form.is_valid():
            return self.channel_rollback_page(request, channel, form)
        to = form.cleaned_data["to"]
        rows = rollback_rows(channel, to)
        if rows is None:
            form.add_error("to", f"Channel {channel.chan_id} has no recorded change since then: nothing to roll back.")
            return self.channel_rollback_page(request, channel, form)
        confirm = ChannelRollbackConfirmForm(initial={"to": to}, live=node_writes_live())
        return self.channel_rollback_page(request, channel, confirm, to=to, rows=rows)

    def channel_rollback_page(
        self,
        request,
        channel: Channel,
        form: ChannelRollbackForm,
        *,
        to: datetime | None = None,
        rows: list[PreviewRow] | None = None,
    ) -> TemplateResponse:
        changes = AuditEntry.objects.filter(channel=channel, action__in=POLICY_CHANGING_ACTIONS).order_by("-at", "-id")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Roll back channel {channel.chan_id} to a point in time",
            "form": form,
            "confirming": isinstance(form, ChannelRollbackConfirmForm),
            "to": to,
            "channel": channel,
            "preview": rows,
            "live": node_writes_live(),
            "mode_meaning": mode_sentence(settings.DAZNODE_DECISION_MODE),
            "changes": changes[:RECENT_CHANGES_SHOWN],
            "opts": Channel._meta,
        }
        return TemplateResponse(request, "admin/decisions/channel_rollback.html", context)

    def each(self, request, decisions, act: Callable[[Decision, str], Outcome]) -> None:
        """Act on each decision on its own: one refusal does not stop the others, and each outcome is reported."""
        actor = user_actor(request.user)
        for decision in decisions.select_related("channel"):
            try:
                level, message = act(decision, actor)
            except ExternalChangeConflict as exc:
                level, message = messages.ERROR, f"{exc}: use the action “{FORCED_ROLLBACK_ACTION}”"
            except (DecisionStateError, ApplyRefused, RollbackError) as exc:
                level, message = messages.ERROR, str(exc)
            self.message_user(request, f"Decision {decision.pk} on {decision.channel.chan_id}: {message}", level)


def approved(decision: Decision, actor: str) -> Outcome:
    decision_approve(decision=decision, actor=actor)
    return messages.SUCCESS, "approved"


def rejected(decision: Decision, actor: str) -> Outcome:
    decision_reject(decision=decision, actor=actor, reason="rejected in the admin")
    return messages.SUCCESS, "rejected"


def applied(decision: Decision, actor: str, *, live_anyway: bool = False) -> Outcome:
    result = decision_apply(decision=decision, actor=actor, live_anyway=live_anyway)
    if result.status == Decision.Status.FAILED:
        return messages.ERROR, f"failed: {result.failure_reason}"
    if result.status == Decision.Status.APPLYING:  # the node could not be read after the write
        return messages.WARNING, f"outcome unknown: {result.failure_reason}"
    changes = ", ".join(f"{name} {old} → {new}" for name, (old, new) in result.policy_diff().items())
    return messages.SUCCESS, f"applied ({changes})"


def rolled_back(decision: Decision, actor: str, *, force: bool = False, live_anyway: bool = False) -> Outcome:
    result = decision_rollback(
        decision=decision, actor=actor, force=force, reason="rolled back in the admin", live_anyway=live_anyway
    )
    return (messages.SUCCESS if result.changed else messages.WARNING), result.message


class LiveAct(Protocol):
    def __call__(self, decision: Decision, actor: str, *, live_anyway: bool = False) -> Outcome: ...


class ProposedChange:
    """What an action would send for one decision, for the confirmation page: rows of (field, from, to)."""

    do_not_call_in_templates = True  # the page reads the class's verb and headers
    verb = ""
    headers = ("field", "now", "after")
    nothing = "no change to the policy"

    def __init__(self, decision: Decision):
        self.decision = decision
        self.rows = diff_rows(self.diff())

    def diff(self) -> dict[str, tuple]:
        raise NotImplementedError


class ApplyChange(ProposedChange):
    verb = "Apply"
    headers = ("field", "decided from", "to send")
    nothing = "nothing to send: not a fee change"

    def diff(self) -> dict[str, tuple]:
        return self.decision.policy_diff()


class RollbackChange(ProposedChange):
    verb = "Roll back"
    headers = ("field", "Daznode set", "to put back")
    nothing = "nothing to put back: not applied, or no backup"

    def diff(self) -> dict[str, tuple]:
        target = decision_rollback_target(self.decision)
        if target is None or self.decision.status != Decision.Status.APPLIED:
            return {}
        return policy_diff(self.decision.proposed_policy, target.to_dict())


def rollback_rows(channel: Channel, to: datetime) -> list[PreviewRow] | None:
    """Every field a channel rollback to `to` sends, against what the channel holds now; None when nothing was
    recorded since, so there is nothing to put back."""
    target = channel_policy_at(channel=channel, to=to)
    if target is None:
        return None
    now = channel.policy().terms()
    return [(name, now[name], value, now[name] != value) for name, value in target.terms().items()]


def diff_rows(diff: dict[str, tuple]) -> list[tuple]:
    return [(name, before, after) for name, (before, after) in diff.items()]


def table(headers: list[str], rows) -> str:
    head = format_html_join("", "<th>{}</th>", ((header,) for header in headers))
    cells = (format_html_join("", "<td>{}</td>", ((cell,) for cell in row)) for row in rows)
    body = format_html_join("", "<tr>{}</tr>", ((row,) for row in cells))
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


@admin.register(PolicyBackup)
class PolicyBackupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["taken_at", "channel", "decision", "read_from"]
    search_fields = ["channel__chan_id"]
    date_hierarchy = "taken_at"
    list_select_related = ["channel__peer", "decision"]


@admin.register(PolicyWrite)
class PolicyWriteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The write journal: an unsettled row is a write in flight or one recovery has yet to settle. Read-only:
    only the writer and recovery settle a write (a conditional update each), never a person."""

    list_display = ["started_at", "channel", "purpose", "decision", "actor", "released_at", "settled_at", "outcome"]
    list_filter = ["purpose", "outcome", ("settled_at", admin.EmptyFieldListFilter)]
    search_fields = ["channel__chan_id"]
    date_hierarchy = "started_at"
    list_select_related = ["channel__peer", "decision"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Append-only: listed and filtered, never added, edited or deleted from here."""

    list_display = ["at", "actor", "action", "channel", "decision", "reason"]
    list_filter = [
        "action",
        ("channel", admin.RelatedOnlyFieldListFilter),
        ("channel__peer", admin.RelatedOnlyFieldListFilter),
        "decision__kind",
        "decision__status",
        "actor",
        ("at", admin.DateFieldListFilter),
    ]
    search_fields = ["channel__chan_id", "channel__peer__alias", "channel__peer__pubkey", "reason"]
    date_hierarchy = "at"
    list_select_related = ["channel__peer", "decision"]


@admin.register(FeeCycle)
class FeeCycleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["started_at", "mode", "trigger", "actor", "finished_at", "summary"]
    list_filter = ["mode", "trigger"]
    date_hierarchy = "started_at"


@admin.register(FeeLimit)
class FeeLimitAdmin(OperatorMixin, admin.ModelAdmin):
    """Per-channel or per-peer fee bounds. Saving runs FeeLimit.clean (one of channel or peer, min <= max)."""

    list_display = ["__str__", "min_fee_rate_ppm", "max_fee_rate_ppm", "min_base_fee_msat", "max_base_fee_msat"]
    list_display += ["note", "updated_at"]
    search_fields = ["channel__chan_id", "peer__alias", "peer__pubkey", "note"]
    autocomplete_fields = ["channel", "peer"]
    list_select_related = ["channel", "peer"]

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and self.has_operate_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self.has_operate_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self.has_operate_permission(request)


@admin.register(KillSwitch)
class KillSwitchAdmin(OperatorMixin, admin.ModelAdmin):
    """The one row. Engaging needs the operator role, releasing the admin role; each change is audited."""

    form = KillSwitchForm
    list_display = ["__str__", "reason", "changed_by", "changed_at"]
    fields = ["engaged", "reason", "changed_by", "changed_at", "forced_by_environment"]
    readonly_fields = ["changed_by", "changed_at", "forced_by_environment"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self.has_operate_permission(request)

    def changelist_view(self, request, extra_context=None):
        KillSwitch.current()  # the row exists before anyone looks for it
        return super().changelist_view(request, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        kill_switch_set(engaged=data["engaged"], reason=data["reason"], actor=user_actor(request.user))

    @admin.display(description="forced by DAZNODE_KILL_SWITCH", boolean=True)
    def forced_by_environment(self, switch: KillSwitch) -> bool:
        return settings.DAZNODE_KILL_SWITCH
