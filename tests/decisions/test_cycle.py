"""The fee cycle end to end on the simulated node: sync, score, decide, validate, act per mode."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from channels.models import Channel
from decisions.cycle import fee_cycle
from decisions.models import AuditEntry, Decision, FeeCycle, FeeLimit
from decisions.services import decision_approve, judge_channels, kill_switch_set
from decisions.tasks import fee_cycle as fee_cycle_task
from tests.decisions.conftest import live_policy, make_decision, open_channels


def node_fees(sim) -> dict[int, int]:
    return {channel.chan_id: live_policy(sim, channel).fee_rate_ppm for channel in Channel.objects.all()}


def test_a_dry_run_decides_for_every_channel_and_changes_nothing(node):
    fees = node_fees(node)
    report = fee_cycle(mode="dry_run")
    open_channels = Channel.objects.filter(closed_at__isnull=True).count()
    assert len(report.decisions) == open_channels > 0
    assert node_fees(node) == fees
    fee_changes = [d for d in report.decisions if d.changes_policy]
    assert fee_changes, "the simulated node has channels worth a change"
    for decision in fee_changes:
        assert decision.status in (Decision.Status.PENDING, Decision.Status.BLOCKED)
        assert decision.policy_diff()["fee_rate_ppm"][0] != decision.policy_diff()["fee_rate_ppm"][1]
        assert decision.rule and decision.sub_scores and len(decision.reasons) >= 2
    assert AuditEntry.objects.filter(action=AuditEntry.Action.DRY_RUN).count() == len(
        [d for d in fee_changes if d.proposed_policy]
    )
    assert report.cycle.finished_at and report.cycle.summary["error"] == ""


def test_shadow_only_records(node):
    report = fee_cycle(mode="shadow")
    assert {d.status for d in report.decisions if d.changes_policy} <= {
        Decision.Status.RECORDED,
        Decision.Status.BLOCKED,
    }
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.DRY_RUN).exists()


def test_a_live_cycle_applies_the_valid_changes_and_leaves_recommendations_to_the_operator(node):
    fees = node_fees(node)
    report = fee_cycle(mode="live")
    applied = [d for d in report.decisions if d.status == Decision.Status.APPLIED]
    assert applied
    for decision in applied:
        assert fees[decision.channel.chan_id] != decision.proposed_policy["fee_rate_ppm"]
        assert live_policy(node, decision.channel).fee_rate_ppm == decision.proposed_policy["fee_rate_ppm"]
    untouched = [d for d in report.decisions if d.status != Decision.Status.APPLIED]
    for decision in untouched:
        assert live_policy(node, decision.channel).fee_rate_ppm == fees[decision.channel.chan_id]
    assert all(d.status == Decision.Status.PENDING for d in report.decisions if d.needs_approval)


def test_right_after_a_live_cycle_the_cooldown_blocks_another_change(node):
    first = fee_cycle(mode="live")
    changed = {d.channel_id for d in first.decisions if d.status == Decision.Status.APPLIED}
    second = fee_cycle(mode="live")
    again = [d for d in second.decisions if d.channel_id in changed and d.changes_policy]
    assert again and all(d.status == Decision.Status.BLOCKED for d in again)
    assert all(any(r["rule"] == "cooldown" for r in d.rejections) for d in again)


def test_a_per_channel_limit_stops_a_change_and_says_so(node):
    judgements = judge_channels(now=timezone.now())
    cut = next(j for j in judgements if j.proposal.kind == "decrease_fees")
    FeeLimit.objects.create(channel=cut.channel, min_fee_rate_ppm=cut.channel.fee_rate_ppm)
    again = next(j for j in judge_channels(now=timezone.now()) if j.channel == cut.channel)
    assert (again.proposal.kind, again.proposal.rule) == ("no_action", "at_bound")
    assert f"the allowed limit is {cut.channel.fee_rate_ppm} ppm" in again.proposal.reasons[-1]


def test_the_kill_switch_turns_a_live_cycle_into_a_dry_run(node):
    fees = node_fees(node)
    kill_switch_set(engaged=True, actor="ops", reason="maintenance")
    report = fee_cycle(mode="live")
    assert report.mode == "dry_run" and "kill switch" in report.notes[0]
    assert node_fees(node) == fees
    assert AuditEntry.objects.filter(action=AuditEntry.Action.KILL_SWITCH, actor="ops").exists()


def test_a_newer_cycle_supersedes_the_open_decisions_of_the_previous_one(node):
    first = fee_cycle(mode="dry_run")
    pending = [d.pk for d in first.decisions if d.status == Decision.Status.PENDING]
    fee_cycle(mode="dry_run")
    assert pending
    assert set(Decision.objects.filter(pk__in=pending).values_list("status", flat=True)) == {"superseded"}


def test_when_the_node_is_unreachable_the_cycle_stops_without_deciding(node):
    node.faults.inject("drop", count=1000)
    report = fee_cycle(mode="live")
    node.faults.clear()
    assert report.error and report.decisions == []
    assert not Decision.objects.exists()
    assert FeeCycle.objects.get().summary["error"] == report.error


def test_the_command_prints_what_would_change_and_why(node, capsys, settings):
    settings.DAZNODE_DECISION_MODE = "live"  # --dry-run wins over the setting
    fees = node_fees(node)
    call_command("fee_cycle", "--dry-run")
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("channel")
    assert "→" in out and "ppm" in out
    assert "(dry_run)" in out.splitlines()[-1]
    assert node_fees(node) == fees
    with pytest.raises(CommandError, match="do not go together"):
        call_command("fee_cycle", "--dry-run", "--mode", "live")


def test_the_task_runs_a_cycle_and_refuses_a_bad_mode(node, settings):
    settings.DAZNODE_DECISION_MODE = "shadow"
    result = fee_cycle_task.apply().get()
    assert result["ran"] and result["mode"] == "shadow"
    assert fee_cycle_task.apply(kwargs={"mode": "yolo"}).get() == {
        "ran": False,
        "error": "mode must be one of shadow, dry_run, live, got 'yolo'",
    }


def test_the_beat_schedule_runs_the_cycle(settings):
    entry = settings.DAZNODE_BEAT_SCHEDULE["fee-cycle"]
    assert entry["task"] == "decisions.tasks.fee_cycle" and entry["every"] == timedelta(hours=6)
    assert entry["task"] == fee_cycle_task.name


def test_an_approved_recommendation_survives_the_next_cycle(node):
    close = make_decision(open_channels(1)[0], kind=Decision.Kind.CLOSE_CHANNEL, proposed_policy=None)
    decision_approve(decision=close, actor="user:ann")
    fee_cycle(mode="dry_run")
    close.refresh_from_db()
    assert close.status == Decision.Status.APPROVED
