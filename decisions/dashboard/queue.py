"""The decisions queue's pages (/umbrel-ui/decisions): what waits for the operator, the history, one decision with
its explanation, backups and audit trail, the confirmation step of approve / reject / apply / roll back, and the kill
switch. What they read and how a decision reads for people is in queue_selectors.

Viewers read; operators act, through the same domain services as the API (decisions.services, decisions.executor,
decisions.rollback), audited with the user. Every action is a POST with CSRF after a confirmation page that shows
the exact policy it sends; its outcome is a message on the decision's page (POST-redirect-GET), and a refusal of
the domain is a message with the domain's words, never a 500.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View

from channels.models import Channel
from daznode.actors import user_actor
from daznode.context_processors import MODE_MEANINGS
from daznode.lightning import Policy
from daznode.roles import Role, user_has_role
from daznode.templatetags.daznode_format import ppm
from decisions.conf import mode_label, node_writes_live
from decisions.dashboard.access import RoleRequiredMixin
from decisions.dashboard.page import DashboardPage
from decisions.dashboard.queue_forms import DecisionActionForm, KillSwitchForm, QueueFilterForm
from decisions.dashboard.queue_selectors import (
    ACTIONS,
    S,
    audit_rows,
    decision_actions,
    decision_audit_trail,
    decision_backups,
    decision_get,
    decision_history,
    policy_rows,
    policy_value,
    rejection_rows,
    rollback_needs_force,
    rollback_target,
    sub_score_rows,
    waiting_groups,
)
from decisions.executor import ApplyRefused, decision_apply
from decisions.models import Decision, KillSwitch
from decisions.rollback import RollbackError, decision_rollback
from decisions.services import DecisionStateError, decision_approve, decision_reject, kill_switch_role, kill_switch_set


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
