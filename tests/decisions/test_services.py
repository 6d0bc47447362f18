"""Reviewing decisions and the kill switch, as every interface (admin, API, command) uses them."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from decisions.engine import Kind, Rule, Thresholds
from decisions.executor import decision_apply
from decisions.models import AuditEntry, Decision, KillSwitch
from decisions.services import (
    DecisionStateError,
    decision_approve,
    decision_reject,
    decisions_store,
    judge_channels,
    kill_switch_set,
)
from decisions.sync import node_sync as sync_node
from tests.decisions.conftest import change_outside, live_policy, make_decision, open_channels


def test_an_approved_recommendation_is_recorded_and_never_executed(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = make_decision(channel, kind=Decision.Kind.CLOSE_CHANNEL, proposed_policy=None)
    approved = decision_approve(decision=decision, actor="user:ann")
    assert approved.status == Decision.Status.APPROVED and approved.approved_at is not None
    assert decision_approve(decision=decision, actor="user:ann").status == Decision.Status.APPROVED
    assert list(decision.audit_entries.values_list("action", "actor")) == [("decision_approved", "user:ann")]
    assert live_policy(node, channel) == before


def test_an_approved_fee_change_can_be_applied(node, live_mode):
    channel = open_channels(1)[0]
    decision = decision_approve(decision=make_decision(channel), actor="user:ann")
    assert decision_apply(decision=decision, actor="user:ann").status == Decision.Status.APPLIED


def test_a_rejected_decision_cannot_be_approved_and_says_why(node):
    decision = decision_reject(decision=make_decision(open_channels(1)[0]), actor="user:bob", reason="not now")
    assert decision.status == Decision.Status.REJECTED
    assert decision.audit_entries.get().reason == "not now"
    with pytest.raises(DecisionStateError, match="is rejected: only a pending one can be approved"):
        decision_approve(decision=decision, actor="user:ann")


def test_the_kill_switch_records_who_changed_it_and_only_real_changes(db, capsys):
    kill_switch_set(engaged=True, actor="user:ann", reason="node upgrade")
    kill_switch_set(engaged=True, actor="user:ann", reason="node upgrade")
    call_command("kill_switch", "status")
    assert capsys.readouterr().out.strip() == "Kill switch: engaged (node upgrade)"
    call_command("kill_switch", "off")
    assert not KillSwitch.current().engaged
    rows = AuditEntry.objects.filter(action=AuditEntry.Action.KILL_SWITCH).order_by("at", "id")
    assert [(r.actor, r.reason) for r in rows] == [
        ("user:ann", "engaged: node upgrade"),
        ("command:kill_switch", "released"),
    ]


def test_a_change_made_outside_daznode_starts_the_cooldown_too(node):
    channel = open_channels(1)[0]
    change_outside(node, channel, 640)
    sync_node()
    always_raise = Thresholds(
        no_action_min=1,
        decrease_max=1,
        increase_max=1,
        rebalance_low=0,
        drained_ratio=0,
        full_ratio=1,
        rebalance_high=1,
    )
    [judged] = judge_channels(now=timezone.now(), chan_ids=[channel.chan_id], thresholds=always_raise)
    assert judged.proposal.changes_policy and judged.proposal.current.fee_rate_ppm == 640
    assert [r.rule for r in judged.rejections] == ["cooldown"]
    assert AuditEntry.objects.filter(channel=channel, action=AuditEntry.Action.EXTERNAL_CHANGE).exists()


ALWAYS_CUT = Thresholds(
    no_action_min=1,
    decrease_max=1,
    increase_max=0,
    close_max=0,
    rebalance_low=0,
    drained_ratio=0,
    full_ratio=1,
    rebalance_high=1,
)


def test_it_brings_a_fee_above_the_maximum_back_step_by_step_each_step_valid(node, live_mode, settings):
    """5000 ppm against the 2500 ppm maximum: a cut straight to 2500 would break the 50 % / 250 ppm step limits
    every cycle, so each cycle takes one allowed step down instead, until the fee is back at the bound."""
    settings.DAZNODE_DECISION_LIMITS = {**settings.DAZNODE_DECISION_LIMITS, "cooldown": timedelta(0)}
    channel = open_channels(1)[0]
    change_outside(node, channel, 5000)
    sync_node()
    fees = [5000]
    while fees[-1] > 2500 and len(fees) < 20:
        [judged] = judge_channels(now=timezone.now(), chan_ids=[channel.chan_id], thresholds=ALWAYS_CUT)
        assert judged.rejections == (), judged.rejections
        assert (judged.proposal.kind, judged.proposal.rule) == (Kind.DECREASE_FEES, Rule.OUTSIDE_BOUNDS)
        assert "above the maximum 2500 ppm" in " ".join(judged.proposal.reasons)
        [decision] = decisions_store([judged], mode=Decision.Mode.LIVE, actor="test")
        assert decision_apply(decision=decision, actor="test").status == Decision.Status.APPLIED
        sync_node()
        fees.append(live_policy(node, channel).fee_rate_ppm)
    assert fees == [5000, 4750, 4500, 4250, 4000, 3750, 3500, 3250, 3000, 2750, 2500]
    assert Decision.objects.filter(channel=channel, status=Decision.Status.BLOCKED).count() == 0
