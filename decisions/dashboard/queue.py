"""The decisions queue (/umbrel-ui/decisions): what waits for the operator, the history, one decision with its
explanation, backups and audit trail, the confirmation step of approve / reject / apply / roll back, and the kill
switch.

Viewers read; operators act, through the same domain services as the API (decisions.services, decisions.executor,
decisions.rollback), audited with the user. Every action is a POST with CSRF after a confirmation page that shows
the exact policy it sends; its outcome is a message on the decision's page (POST-redirect-GET), and a refusal of
the domain is a message with the domain's words, never a 500.
"""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, F, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View

from channels.models import Channel
from channels.scoring import HEURISTICS
from daznode.actors import user_actor
from daznode.context_processors import MODE_LABELS, MODE_MEANINGS
from daznode.lightning import Policy
from daznode.roles import Role, user_has_role
from daznode.templatetags.daznode_format import ppm
from decisions.conf import mode_label, node_writes_live
from decisions.dashboard.access import RoleRequiredMixin
from decisions.dashboard.page import DashboardPage
from decisions.dashboard.queue_forms import DecisionActionForm, KillSwitchForm, QueueFilterForm
from decisions.engine import FEE_CHANGES, RECOMMENDATIONS
from decisions.executor import ApplyRefused, decision_apply
from decisions.models import AuditEntry, Decision, KillSwitch, PolicyBackup
from decisions.rollback import RollbackError, decision_rollback
from decisions.services import DecisionStateError, decision_approve, decision_reject, kill_switch_role, kill_switch_set

WAITING_SHOWN = 20
HISTORY_PAGE_SIZE = 50
FEE_KINDS = [kind.value for kind in FEE_CHANGES]
RECOMMENDATION_KINDS = [kind.value for kind in RECOMMENDATIONS]
# The fields a row of the queue shows of a fee change; the decision's page shows every field.
ROW_DIFF_FIELDS = ("fee_rate_ppm", "base_fee_msat")

S = Decision.Status
STATUS_BADGES: dict[str, str] = {
    S.PENDING: "badge-warn",
    S.APPROVED: "badge-info",
    S.APPLYING: "badge-info",
    S.APPLIED: "badge-ok",
    S.FAILED: "badge-danger",
    S.ROLLING_BACK: "badge-info",
    S.BLOCKED: "badge-warn",
}


@dataclass(frozen=True)
class Action:
    name: str
    label: str  # the button
    done: str  # the past tense, for messages
    style: str = ""
    writes_node: bool = False


ACTIONS = {
    "approve": Action("approve", "Approve", "approved", "button-primary"),
    "reject": Action("reject", "Reject", "rejected"),
    "apply": Action("apply", "Apply", "applied", "button-primary", writes_node=True),
    "rollback": Action("rollback", "Roll back", "rolled back", "button-danger", writes_node=True),
}


def decision_actions(decision: Decision) -> list[Action]:
    """What an operator may ask of a decision in its status (the domain still has the last word)."""
    names = []
    if decision.status == S.PENDING:
        names += ["approve", "reject"]
    if decision.changes_policy and decision.status in Decision.OPEN_STATUSES:
        names.append("apply")
    if decision.status == S.APPLIED and decision.changes_policy:
        names.append("rollback")
    return [ACTIONS[name] for name in names]


# Policies as people read them


POLICY_FIELDS = (
    ("fee_rate_ppm", "Fee rate"),
    ("base_fee_msat", "Base fee"),
    ("time_lock_delta", "Time lock delta"),
    ("min_htlc_msat", "Min HTLC"),
    ("max_htlc_msat", "Max HTLC"),
    ("inbound_fee_rate_ppm", "Inbound fee rate"),
    ("inbound_base_fee_msat", "Inbound base fee"),
    ("disabled", "Disabled"),
)
MISSING = "—"


def policy_value(name: str, value: Any) -> str:
    if value is None:
        return MISSING
    if name == "disabled":
        return "yes" if value else "no"
    if name.endswith("_ppm"):
        return ppm(value)
    if name.endswith("_msat"):
        return f"{int(value):,} msat"
    return f"{int(value):,} blocks"


@dataclass(frozen=True)
class PolicyRow:
    name: str
    label: str
    old: str
    new: str
    changed: bool


def policy_rows(old: dict | None, new: dict | None, *, only_changed: bool = False) -> list[PolicyRow]:
    """Field by field, in LND's order of importance: what a policy was and what it becomes."""
    rows = []
    for name, label in POLICY_FIELDS:
        before, after = (old or {}).get(name), (new or {}).get(name)
        changed = old is not None and new is not None and before != after
        if changed or not only_changed:
            rows.append(PolicyRow(name, label, policy_value(name, before), policy_value(name, after), changed))
    return rows


@dataclass(frozen=True)
class Links:
    """Where a row links to, built by concatenation from two reversed prefixes: reversing five URLs for each of
    a hundred rows was a fifth of the queue's time."""

    decisions: str
    channels: str

    @classmethod
    def current(cls) -> "Links":
        return cls(reverse("ui:decisions"), reverse("ui:channels"))


def decorate(decision: Decision, links: Links | None = None) -> Decision:
    """What the templates show of a decision beyond its fields."""
    links = links or Links.current()
    url = f"{links.decisions}/{decision.pk}"
    decision.url = url  # type: ignore[attr-defined]
    decision.channel_url = f"{links.channels}/{decision.channel.chan_id}"  # type: ignore[attr-defined]
    decision.actions = [(action, f"{url}/{action.name}") for action in decision_actions(decision)]  # type: ignore[attr-defined]
    decision.badge = STATUS_BADGES.get(decision.status, "")  # type: ignore[attr-defined]
    decision.mode_label = MODE_LABELS.get(decision.mode, decision.mode)  # type: ignore[attr-defined]
    decision.diff_rows = [  # type: ignore[attr-defined]
        row
        for row in policy_rows(decision.current_policy, decision.proposed_policy, only_changed=True)
        if row.name in ROW_DIFF_FIELDS
    ]
    return decision


def decorate_all(decisions) -> list[Decision]:
    links = Links.current()
    return [decorate(decision, links) for decision in decisions]


# Selectors


@dataclass(frozen=True)
class WaitingGroup:
    title: str
    help: str
    count: int
    query: str  # the history's filter that lists all of them
    decisions: list[Decision] = field(default_factory=list)


WAITING = (
    (
        "recommendations",
        Q(status=S.PENDING, kind__in=RECOMMENDATION_KINDS),
        "Recommendations to approve",
        "Daznode never closes a channel or moves funds: approve to say you will act with your node's tools.",
        "status=pending",
    ),
    (
        "fee_changes",
        Q(status=S.PENDING, kind__in=FEE_KINDS),
        "Fee changes to apply",
        "Proposed fee changes, validated against the safety limits: apply one, or approve it to apply later.",
        "status=pending",
    ),
    (
        "approved",
        Q(status=S.APPROVED),
        "Approved",
        "Approved fee changes wait to be applied; approved recommendations wait for you to act on your node.",
        "status=approved",
    ),
)


def _queue_rows() -> QuerySet[Decision]:
    return (
        Decision.objects.select_related("channel__peer")
        .defer("sub_scores", "rejections", "channel__peer__first_seen_at")
        .order_by("-created_at", "-id")
    )


def waiting_groups(*, shown: int = WAITING_SHOWN) -> list[WaitingGroup]:
    """The non-empty groups of what waits for the operator, newest first, with their sizes: one query, whatever
    the number of groups or decisions (a window numbers the rows of each group and counts them)."""
    group = Case(*(When(where, then=Value(key)) for key, where, *_ in WAITING), default=Value(""))
    newest = [F("created_at").desc(), F("id").desc()]
    rows = (
        _queue_rows()
        .filter(status__in=Decision.OPEN_STATUSES)
        .annotate(
            group=group,
            rank=Window(RowNumber(), partition_by=[group], order_by=newest),
            group_size=Window(Count("pk"), partition_by=[group]),
        )
        .filter(rank__lte=shown)
        .exclude(group="")
    )
    by_group: dict[str, list[Decision]] = {}
    for decision in decorate_all(rows):
        by_group.setdefault(decision.group, []).append(decision)  # type: ignore[attr-defined]
    return [
        WaitingGroup(title, help_text, found[0].group_size, query, found)  # type: ignore[attr-defined]
        for key, _, title, help_text, query in WAITING
        if (found := by_group.get(key))
    ]


@dataclass(frozen=True)
class HistoryPage:
    """One page of the history, newest first, and where the pages beside it start (keyset pagination: no COUNT
    and no OFFSET over months of decisions)."""

    decisions: list[Decision]
    newer_after: int | None  # ?after= of the newer page, None when this is the newest
    older_before: int | None  # ?before= of the older page, None when this is the oldest


def decision_history(
    *, lookups: dict[str, Any], hide_no_action: bool, before: int | None = None, after: int | None = None
) -> HistoryPage:
    """Newest first by id, the order decisions are stored in, which the primary key's index serves without a sort."""
    rows = _queue_rows().filter(**lookups)
    if hide_no_action:
        rows = rows.exclude(kind=Decision.Kind.NO_ACTION)
    size = HISTORY_PAGE_SIZE
    if after is not None:
        window = list(rows.filter(pk__gt=after).order_by("pk")[: size + 1])
        page = window[:size][::-1]
        newer, older = len(window) > size, rows.filter(pk__lte=after).exists()
        edge_before: int | None = after + 1
        edge_after = None
    else:
        window = list((rows.filter(pk__lt=before) if before is not None else rows).order_by("-pk")[: size + 1])
        page = window[:size]
        newer, older = before is not None and rows.filter(pk__gte=before).exists(), len(window) > size
        edge_before, edge_after = None, (before - 1 if before is not None else None)
    return HistoryPage(
        decorate_all(page),
        newer_after=(page[0].pk if page else edge_after) if newer else None,
        older_before=(page[-1].pk if page else edge_before) if older else None,
    )


def decision_get(*, pk: int) -> Decision:
    decision = get_object_or_404(Decision.objects.select_related("channel__peer", "score", "cycle"), pk=pk)
    return decorate(decision)


def decision_backups(*, decision: Decision) -> list[PolicyBackup]:
    return list(decision.policy_backups.order_by("taken_at", "id"))


def decision_audit_trail(*, decision: Decision) -> list[AuditEntry]:
    return list(decision.audit_entries.order_by("at", "id"))


def changed_outside_since(*, decision: Decision) -> AuditEntry | None:
    """The newest change made outside Daznode to the decision's channel after it was applied, if any."""
    if decision.applied_at is None:
        return None
    rows = AuditEntry.objects.filter(
        channel=decision.channel_id, action=AuditEntry.Action.EXTERNAL_CHANGE, at__gt=decision.applied_at
    )
    return rows.order_by("-at", "-id").first()


# Explanation


@dataclass(frozen=True)
class SubScore:
    name: str
    label: str
    value: float | None
    weight: float | None
    reason: str


def sub_score_rows(decision: Decision) -> list[SubScore]:
    """The heuristics' scores when decided, with their weights and reasons from the score row when it still exists."""
    score = decision.score
    weights = score.weights if score is not None else {}
    reasons = score.reasons if score is not None else {}
    values = decision.sub_scores or {}
    names = [name for name in HEURISTICS if name in values] + sorted(set(values) - set(HEURISTICS))
    return [
        SubScore(name, name.replace("_", " ").capitalize(), values[name], weights.get(name), reasons.get(name, ""))
        for name in names
    ]


def rejection_rows(decision: Decision) -> list[dict]:
    return [
        {
            "rule": rejection.get("rule", ""),
            "message": rejection.get("message", ""),
            "values": ", ".join(f"{key} = {value}" for key, value in (rejection.get("values") or {}).items()),
        }
        for rejection in decision.rejections or []
    ]


def audit_rows(entries: list[AuditEntry]) -> list[dict]:
    return [{"entry": entry, "diff": policy_rows(entry.before, entry.after, only_changed=True)} for entry in entries]


# Pages


class QueuePage(DashboardPage):
    template_name = "dashboard/decisions.html"
    nav = "decisions"
    required_roles = {"GET": Role.VIEWER, "POST": Role.OPERATOR}

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        request = self.request
        filters = QueueFilterForm(request.GET)
        filters.is_valid()
        for text in filters.error_messages():
            messages.warning(request, text)
        kept = request.GET.copy()
        for name in QueueFilterForm.PAGING:
            kept.pop(name, None)
        context.update(
            waiting=waiting_groups(),
            filters=filters,
            history=decision_history(
                lookups=filters.lookups(), hide_no_action=filters.hides_no_action(), **filters.paging()
            ),
            filter_query=kept.urlencode(),
            mode_name=mode_label(),
            **kill_switch_context(request),
        )
        return context


def kill_switch_context(request) -> dict:
    switch = KillSwitch.current()
    return {
        "kill_switch": switch,
        "kill_switch_forced": settings.DAZNODE_KILL_SWITCH,
        "can_engage": user_has_role(request.user, kill_switch_role(True)),
        "can_release": user_has_role(request.user, kill_switch_role(False)),
    }


class DecisionPage(DashboardPage):
    template_name = "dashboard/decision.html"
    nav = "decisions"
    required_roles = {"GET": Role.VIEWER, "POST": Role.OPERATOR}

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        decision = decision_get(pk=self.kwargs["pk"])
        context.update(
            decision=decision,
            reasons=decision.reasons or [],
            sub_scores=sub_score_rows(decision),
            rejections=rejection_rows(decision),
            diff=policy_rows(decision.current_policy, decision.proposed_policy, only_changed=True),
            policies=policy_rows(decision.current_policy, decision.proposed_policy),
            backups=[
                {"backup": backup, "rows": policy_rows(backup.policy, None)}
                for backup in decision_backups(decision=decision)
            ],
            audit=audit_rows(decision_audit_trail(decision=decision)),
        )
        return context


@dataclass(frozen=True)
class Outcome:
    level: int
    text: str


class DecisionActionPage(DashboardPage):
    """GET: the confirmation step, with the exact policy that will be sent. POST: act, then back to the decision."""

    template_name = "dashboard/decision_confirm.html"
    nav = "decisions"
    required_roles = {"GET": Role.OPERATOR, "POST": Role.OPERATOR}

    def setup(self, request, *args, **kwargs) -> None:
        super().setup(request, *args, **kwargs)
        self.action = ACTIONS.get(kwargs["action"])

    def get(self, request, pk: int, action: str):
        decision = self.decision_or_404(pk)
        return self.render_to_response(self.get_context_data(decision=decision, form=self.form_for(decision)))

    def post(self, request, pk: int, action: str):
        decision = self.decision_or_404(pk)
        form = self.form_for(decision, data=request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(decision=decision, form=form))
        outcome = self.act(decision, user_actor(request.user), **form.values())
        messages.add_message(request, outcome.level, outcome.text)
        return redirect("ui:decision", pk=decision.pk)

    def decision_or_404(self, pk: int) -> Decision:
        if self.action is None:
            raise Http404("Unknown action: the actions are " + ", ".join(ACTIONS) + ".")
        return decision_get(pk=pk)

    def form_for(self, decision: Decision, data=None) -> DecisionActionForm:
        assert self.action is not None  # decision_or_404 refused the others
        return DecisionActionForm(
            data,
            action=self.action.name,
            live_anyway_needed=self.action.writes_node and not node_writes_live(),
            force_offered=self.action.name == "rollback" and rollback_needs_force(decision),
            mode=mode_label(),
        )

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        decision = kwargs["decision"]
        context.update(
            action=self.action, available=self.action in decision_actions(decision), **confirm_context(decision)
        )
        context.update(
            mode_meaning=MODE_MEANINGS[settings.DAZNODE_DECISION_MODE],
            mode_name=mode_label(),
            writes_live=node_writes_live(),
        )
        return context

    def act(self, decision: Decision, actor: str, *, reason: str, force: bool, live_anyway: bool) -> Outcome:
        assert self.action is not None
        try:
            if self.action.name == "approve":
                return approved(decision_approve(decision=decision, actor=actor))
            if self.action.name == "reject":
                decision_reject(decision=decision, actor=actor, reason=reason)
                return Outcome(messages.SUCCESS, f"Decision {decision.pk} rejected: nothing will be sent for it.")
            if self.action.name == "apply":
                done = decision_apply(decision=decision, actor=actor, live_anyway=live_anyway)
                return applied(done, live_anyway=live_anyway)
            result = decision_rollback(
                decision=decision, actor=actor, force=force, reason=reason, live_anyway=live_anyway
            )
            return Outcome(messages.SUCCESS if result.changed else messages.WARNING, sentence(result.message))
        except (DecisionStateError, ApplyRefused, RollbackError) as exc:
            return Outcome(messages.ERROR, f"Not {self.action.done}: {exc}")


def sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else text


def approved(decision: Decision) -> Outcome:
    if decision.needs_approval:
        return Outcome(
            messages.SUCCESS,
            f"Decision {decision.pk} approved. Daznode never closes a channel or moves funds: act on it with your "
            "node's tools.",
        )
    return Outcome(messages.SUCCESS, f"Decision {decision.pk} approved: apply it to send the new policy.")


def applied(decision: Decision, *, live_anyway: bool) -> Outcome:
    if decision.status == S.APPLIED:
        policy = decision.proposed_policy or {}
        how = f" (live anyway in {mode_label()} mode: the audit log records it)" if live_anyway else ""
        return Outcome(
            messages.SUCCESS,
            f"Decision {decision.pk} applied{how}: the node now charges {ppm(policy.get('fee_rate_ppm'))} and "
            f"{policy_value('base_fee_msat', policy.get('base_fee_msat'))} base fee, as read back from it.",
        )
    if decision.status == S.APPLYING:
        return Outcome(
            messages.ERROR,
            f"Decision {decision.pk}: what the node holds is not known yet; recovery reads it and settles the "
            f"decision. {sentence(decision.failure_reason)}",
        )
    return Outcome(messages.ERROR, f"Decision {decision.pk} failed: {sentence(decision.failure_reason)}")


def rollback_target(decision: Decision) -> dict | None:
    """The policy a rollback puts back: the backup taken just before the decision was applied."""
    backup = decision.policy_backups.order_by("taken_at", "id").first()
    return backup.policy if backup is not None else decision.current_policy


def rollback_needs_force(decision: Decision) -> bool:
    """The channel's policy is not the one the decision set (changed outside Daznode since)."""
    if decision.status != S.APPLIED or not decision.proposed_policy:
        return False
    if changed_outside_since(decision=decision) is not None:
        return True
    return not decision.channel.policy().same_terms(Policy.from_dict(decision.proposed_policy))


def confirm_context(decision: Decision) -> dict:
    """What the confirmation page shows beside the form: the policies involved and what may stand in the way."""
    channel: Channel = decision.channel
    now = channel.policy().to_dict()
    context: dict[str, Any] = {"decision": decision, "channel_policy_at": channel.synced_at}
    if decision.status == S.APPLIED:
        target = rollback_target(decision)
        context["rollback_rows"] = policy_rows(now, target)
        context["rollback_changed"] = any(row.changed for row in context["rollback_rows"])
    if decision.proposed_policy and decision.current_policy:
        context["apply_rows"] = policy_rows(decision.current_policy, decision.proposed_policy)
        context["apply_diff"] = [row for row in context["apply_rows"] if row.changed]
        decided_from = Policy.from_dict(decision.current_policy)
        context["stale"] = not channel.policy().same_terms(decided_from)
        context["stale_rows"] = policy_rows(decision.current_policy, now, only_changed=True)
    return context


class KillSwitchPage(RoleRequiredMixin, View):
    """POST only (the form is on the decisions page): engaging needs an operator, releasing an admin."""

    required_roles = {"GET": Role.VIEWER, "POST": Role.OPERATOR}  # GET is declared so that it answers 405

    def post(self, request) -> HttpResponseRedirect:
        back = HttpResponseRedirect(reverse("ui:decisions") + "#kill-switch")
        form = KillSwitchForm(request.POST)
        if not form.is_valid():
            messages.error(request, "The kill switch was not changed: " + form_errors(form))
            return back
        engaged, reason = form.cleaned_data["engaged"], form.cleaned_data["reason"]
        needed = kill_switch_role(engaged)
        if not user_has_role(request.user, needed):
            verb = "Engaging" if engaged else "Releasing"
            raise PermissionDenied(f"{verb} the kill switch needs the {needed.label.lower()} role.")
        kill_switch_set(engaged=engaged, actor=user_actor(request.user), reason=reason)
        messages.add_message(request, *kill_switch_outcome(engaged))
        return back


def kill_switch_outcome(engaged: bool) -> tuple[int, str]:
    if engaged:
        return messages.SUCCESS, "Kill switch engaged: no policy is changed until an admin releases it."
    if settings.DAZNODE_KILL_SWITCH:
        return (
            messages.WARNING,
            "Kill switch released here, but DAZNODE_KILL_SWITCH=true keeps it engaged until that setting is removed.",
        )
    return messages.SUCCESS, "Kill switch released: policies may be changed again, as the mode allows."


def form_errors(form) -> str:
    return " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
