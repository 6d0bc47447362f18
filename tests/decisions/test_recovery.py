"""Writes interrupted at any instant (an apply, a decision's rollback, a channel rollback, recovery's own put-back)
are found in the journal and settled by reading the node, never twice, and never turn into a change "made outside
Daznode" that would freeze the channel."""

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from daznode.lightning import Policy
from decisions.cycle import fee_cycle
from decisions.engine import Thresholds
from decisions.executor import ApplyRefused, decision_apply
from decisions.models import AuditEntry, Decision, FeeCycle, PolicyBackup, PolicyWrite
from decisions.policy_change import ChannelBusy, policy_change, write_in_flight_bound
from decisions.recovery import RECOVERY_ACTOR, SETTLED_WRITES_KEPT, recover_policy_writes
from decisions.rollback import RollbackError, channel_rollback, decision_rollback
from decisions.services import judge_channels
from decisions.sync import node_sync
from decisions.tasks import recover_at_worker_start
from decisions.writer import node_writer
from sources.simulator import PolicyUpdate
from tests.decisions.conftest import live_policy, make_decision, open_channels

# The writes themselves, as live mode does them (test_live_anyway.py: the other modes).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("live_mode")]

ALWAYS_RAISE = Thresholds(
    no_action_min=1, decrease_max=1, increase_max=1, rebalance_low=0, drained_ratio=0, full_ratio=1, rebalance_high=1
)


def long_ago() -> timedelta:
    """Older than any write can take: its process is gone."""
    return write_in_flight_bound() + timedelta(minutes=1)


def node_takes(sim, channel, policy: Policy) -> None:
    """The node takes the update, as it did before the process that sent it was killed."""
    sim.node.update_channel_policy(
        PolicyUpdate(
            chan_point=channel.chan_point,
            base_fee_msat=policy.base_fee_msat,
            fee_rate_ppm=policy.fee_rate_ppm,
            time_lock_delta=policy.time_lock_delta,
            max_htlc_msat=policy.max_htlc_msat,
            min_htlc_msat=policy.min_htlc_msat,
        )
    )


def journal(channel, *, before: Policy, target: Policy, purpose: str, decision=None, ago=None, **fields) -> PolicyWrite:
    """What policy_change commits before it sends anything."""
    backup = PolicyBackup.objects.create(channel=channel, decision=decision, policy=before.to_dict(), read_from="sim")
    return PolicyWrite.objects.create(
        channel=channel,
        purpose=purpose,
        decision=decision,
        backup=backup,
        before=before.to_dict(),
        target=target.to_dict(),
        actor="system",
        source="sim",
        started_at=timezone.now() - (long_ago() if ago is None else ago),
        **fields,
    )


def node_ends_with(sim, channel, node_holds: str, *, before: Policy, target: Policy) -> None:
    if node_holds == "target":
        node_takes(sim, channel, target)
    elif node_holds == "other":
        node_takes(sim, channel, replace(before, fee_rate_ppm=before.fee_rate_ppm + 99))


def interrupted(sim, channel, *, node_holds: str, sent: bool = True, ago=None) -> Decision:
    """The state an apply killed mid-write leaves: the decision claimed, its write journalled (or not yet), and
    the node holding the proposed policy, the backup, or something else."""
    before = live_policy(sim, channel)
    decision = make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 35)
    claimed_at = timezone.now() - (long_ago() if ago is None else ago)
    Decision.objects.filter(pk=decision.pk).update(
        status=Decision.Status.APPLYING, claimed_by="system", updated_at=claimed_at
    )
    target = Policy.from_dict(decision.proposed_policy)
    if sent:
        journal(channel, before=before, target=target, purpose=PolicyWrite.Purpose.APPLY, decision=decision, ago=ago)
    node_ends_with(sim, channel, node_holds, before=before, target=target)
    decision.refresh_from_db()
    return decision


def rollback_interrupted(sim, channel, *, node_holds: str) -> Decision:
    """A decision applied for real, then its rollback killed mid-write."""
    before = live_policy(sim, channel)
    decision = decision_apply(decision=make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 25), actor="ann")
    assert decision.status == Decision.Status.APPLIED
    applied_policy = live_policy(sim, channel)
    Decision.objects.filter(pk=decision.pk).update(status=Decision.Status.ROLLING_BACK)
    journal(channel, before=applied_policy, target=before, purpose=PolicyWrite.Purpose.ROLLBACK, decision=decision)
    node_ends_with(sim, channel, node_holds, before=applied_policy, target=before)
    return decision


def outcome(decision: Decision) -> tuple[str, list[tuple[str, str]]]:
    decision.refresh_from_db()
    rows = decision.audit_entries.order_by("at", "id").values_list("action", "actor")
    return decision.status, list(rows)


def recovered_rows(decision: Decision) -> list[tuple[str, str]]:
    return list(decision.audit_entries.filter(actor=RECOVERY_ACTOR).values_list("action", "actor"))


def unsettled() -> int:
    return PolicyWrite.objects.filter(settled_at__isnull=True).count()


def external_changes() -> int:
    return AuditEntry.objects.filter(action=AuditEntry.Action.EXTERNAL_CHANGE).count()


def stored_is_live(sim, channel) -> bool:
    channel.refresh_from_db()
    return channel.policy().same_terms(live_policy(sim, channel))


def no_cooldown_block(channel) -> bool:
    [judged] = judge_channels(now=timezone.now(), chan_ids=[channel.chan_id], thresholds=ALWAYS_RAISE)
    return "cooldown" not in [r.rule for r in judged.rejections]


def test_a_write_the_node_took_is_marked_applied_and_audited(node):
    channel = open_channels(1)[0]
    decision = interrupted(node, channel, node_holds="target")
    report = recover_policy_writes()
    assert len(report.took) == 1 and unsettled() == 0
    assert outcome(decision) == (Decision.Status.APPLIED, [(AuditEntry.Action.POLICY_APPLIED, RECOVERY_ACTOR)])
    assert "apply a decision by system" in decision.audit_entries.get().reason
    assert stored_is_live(node, channel)
    node_sync()
    assert external_changes() == 0


def test_a_write_the_node_never_took_fails_and_nothing_is_sent(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = interrupted(node, channel, node_holds="before")
    taken = len(node.node.applied_updates)
    assert len(recover_policy_writes().not_taken) == 1
    assert outcome(decision) == (Decision.Status.FAILED, [(AuditEntry.Action.APPLY_FAILED, RECOVERY_ACTOR)])
    assert "interrupted before the node took it" in decision.failure_reason
    assert len(node.node.applied_updates) == taken and live_policy(node, channel) == before
    assert no_cooldown_block(channel)


def test_a_node_holding_neither_gets_its_backup_back_through_a_journalled_write(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = interrupted(node, channel, node_holds="other")
    assert len(recover_policy_writes().restored) == 1
    assert outcome(decision) == (Decision.Status.FAILED, [(AuditEntry.Action.APPLY_FAILED, RECOVERY_ACTOR)])
    assert "was put back" in decision.failure_reason
    assert live_policy(node, channel).same_terms(before) and stored_is_live(node, channel)
    put_back = PolicyWrite.objects.get(purpose=PolicyWrite.Purpose.RECOVERY)
    assert put_back.recovers.decision == decision and put_back.outcome == PolicyWrite.Outcome.TOOK
    assert unsettled() == 0
    node_sync()
    assert external_changes() == 0
    assert no_cooldown_block(channel)


def test_a_claim_with_nothing_journalled_fails_and_sends_nothing(node):
    channel = open_channels(1)[0]
    decision = interrupted(node, channel, node_holds="before", sent=False)
    taken = len(node.node.applied_updates)
    assert recover_policy_writes().unsent == [decision.pk]
    assert outcome(decision)[0] == Decision.Status.FAILED
    assert "before anything was sent" in decision.failure_reason
    assert len(node.node.applied_updates) == taken


def test_a_write_younger_than_the_bound_is_left_to_its_writer_also_at_worker_start(node):
    channel = open_channels(1)[0]
    decision = interrupted(node, channel, node_holds="target", ago=timedelta(seconds=5))
    assert recover_policy_writes().took == []
    recover_at_worker_start()  # the web process may have this write in flight right now
    assert outcome(decision)[0] == Decision.Status.APPLYING and unsettled() == 1
    PolicyWrite.objects.update(started_at=timezone.now() - long_ago())
    recover_at_worker_start()
    assert outcome(decision)[0] == Decision.Status.APPLIED


def test_the_bound_covers_every_send_and_read_of_one_write(settings):
    settings.DAZNODE_SOURCE_TIMEOUT = timedelta(seconds=10)
    ten = write_in_flight_bound()
    settings.DAZNODE_SOURCE_TIMEOUT = timedelta(seconds=30)
    # 3 sends forward and 3 back, each a request and a read-back of 2 x 4 tries: far beyond 6 timeouts.
    assert write_in_flight_bound() > ten > timedelta(seconds=6 * 10 * 9)


def test_the_sync_leaves_a_write_in_flight_to_recovery(node):
    channel = open_channels(1)[0]
    stored = channel.policy()
    before = live_policy(node, channel)
    target = replace(before, fee_rate_ppm=before.fee_rate_ppm + 7)
    journal(channel, before=before, target=target, purpose=PolicyWrite.Purpose.CHANNEL_ROLLBACK, ago=timedelta(0))
    node_takes(node, channel, target)
    report = node_sync()
    assert report.external_changes == ()
    channel.refresh_from_db()
    assert channel.policy().same_terms(stored), "held: neither overwritten nor called someone else's change"
    assert external_changes() == 0


def test_the_next_cycle_recovers_first_and_closes_the_interrupted_cycle(node):
    channel = open_channels(1)[0]
    stale = FeeCycle.objects.create(mode="live", trigger="beat", started_at=timezone.now() - timedelta(hours=2))
    killed = FeeCycle.objects.create(mode="live", trigger="command", started_at=timezone.now() - timedelta(minutes=3))
    decision = interrupted(node, channel, node_holds="target")
    Decision.objects.filter(pk=decision.pk).update(cycle=killed)
    report = fee_cycle(mode="dry_run")
    assert outcome(decision)[0] == Decision.Status.APPLIED
    for cycle in (stale, killed):
        cycle.refresh_from_db()
        assert cycle.finished_at is not None and "interrupted" in cycle.summary["error"]
    assert report.cycle.finished_at is not None and report.cycle.summary["error"] == ""
    assert external_changes() == 0


def test_the_command_reports_what_it_settled(node, capsys):
    channel = open_channels(1)[0]
    interrupted(node, channel, node_holds="before")
    call_command("recover_policy_writes")
    assert "0 took, 1 not taken, 0 put back from backup, 0 unknown" in capsys.readouterr().out


def test_the_command_takes_young_writes_only_when_told_nothing_runs(node, capsys):
    channel = open_channels(1)[0]
    decision = interrupted(node, channel, node_holds="target", ago=timedelta(seconds=1))
    call_command("recover_policy_writes")
    assert outcome(decision)[0] == Decision.Status.APPLYING
    call_command("recover_policy_writes", "--all")
    assert outcome(decision)[0] == Decision.Status.APPLIED


def test_when_the_node_cannot_be_reached_the_write_stays_for_the_next_run(node):
    channel = open_channels(1)[0]
    decision = interrupted(node, channel, node_holds="target")
    node.faults.inject("drop", count=1000)
    report = recover_policy_writes()
    node.faults.clear()
    assert len(report.unknown) == 1 and report.error
    assert outcome(decision)[0] == Decision.Status.APPLYING
    assert PolicyWrite.objects.get().claimed_by == "", "released: the next run or its writer may take it"
    assert len(recover_policy_writes().took) == 1


def test_a_rollback_the_node_took_is_marked_rolled_back(node):
    channel = open_channels(1)[0]
    decision = rollback_interrupted(node, channel, node_holds="target")
    assert len(recover_policy_writes().took) == 1
    decision.refresh_from_db()
    assert decision.status == Decision.Status.ROLLED_BACK and decision.rolled_back_at is not None
    assert recovered_rows(decision) == [(AuditEntry.Action.ROLLED_BACK, RECOVERY_ACTOR)]
    assert stored_is_live(node, channel)
    node_sync()
    assert external_changes() == 0


def test_a_rollback_the_node_never_took_leaves_the_decision_applied(node):
    channel = open_channels(1)[0]
    decision = rollback_interrupted(node, channel, node_holds="before")
    applied_policy = live_policy(node, channel)
    assert len(recover_policy_writes().not_taken) == 1
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED and decision.rolled_back_at is None
    assert recovered_rows(decision) == [(AuditEntry.Action.APPLY_FAILED, RECOVERY_ACTOR)]
    assert live_policy(node, channel) == applied_policy
    node_sync()
    assert external_changes() == 0
    assert decision_rollback(decision=decision, actor="ann").changed, "and it can be rolled back again"


def test_a_rollback_leaving_neither_puts_the_applied_policy_back(node):
    channel = open_channels(1)[0]
    decision = rollback_interrupted(node, channel, node_holds="other")
    applied_policy = Policy.from_dict(decision.proposed_policy)
    assert len(recover_policy_writes().restored) == 1
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED
    assert live_policy(node, channel).same_terms(applied_policy) and stored_is_live(node, channel)
    node_sync()
    assert external_changes() == 0


def test_a_channel_rollback_the_node_took_rolls_back_the_decisions_after_its_point(node):
    channel = open_channels(1)[0]
    original = live_policy(node, channel)
    moment = timezone.now()
    decision = decision_apply(decision=make_decision(channel, fee_rate_ppm=original.fee_rate_ppm + 15), actor="ann")
    applied_policy = live_policy(node, channel)
    journal(
        channel,
        before=applied_policy,
        target=original,
        purpose=PolicyWrite.Purpose.CHANNEL_ROLLBACK,
        rollback_to=moment,
    )
    node_takes(node, channel, original)
    assert len(recover_policy_writes().took) == 1
    decision.refresh_from_db()
    assert decision.status == Decision.Status.ROLLED_BACK
    entry = AuditEntry.objects.get(channel=channel, actor=RECOVERY_ACTOR)
    assert entry.action == AuditEntry.Action.ROLLED_BACK and entry.decision is None
    assert stored_is_live(node, channel)
    node_sync()
    assert external_changes() == 0


def test_a_put_back_during_a_failed_apply_killed_after_it_took_is_settled_as_not_taken(node):
    """The executor was putting the backup back (the update did not verify) when it died: the node holds the
    backup again, which is all recovery needs to know."""
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = interrupted(node, channel, node_holds="target")
    node_takes(node, channel, before)  # the put-back reached the node
    assert len(recover_policy_writes().not_taken) == 1
    assert outcome(decision)[0] == Decision.Status.FAILED
    assert stored_is_live(node, channel)


def test_a_recovery_killed_during_its_put_back_is_finished_by_the_next_one(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = interrupted(node, channel, node_holds="other")
    dead_claim = timezone.now() - long_ago()
    write = PolicyWrite.objects.get()
    PolicyWrite.objects.filter(pk=write.pk).update(claimed_by=f"{RECOVERY_ACTOR} dead", claimed_at=dead_claim)
    odd = live_policy(node, channel)
    journal(channel, before=odd, target=before, purpose=PolicyWrite.Purpose.RECOVERY, decision=decision, recovers=write)
    node_takes(node, channel, before)  # its put-back reached the node before it died

    assert len(recover_policy_writes().not_taken) == 1
    assert unsettled() == 0
    assert outcome(decision)[0] == Decision.Status.FAILED
    assert stored_is_live(node, channel)


def test_a_live_claim_of_another_recovery_is_left_alone(node):
    channel = open_channels(1)[0]
    decision = interrupted(node, channel, node_holds="target")
    PolicyWrite.objects.update(claimed_by=f"{RECOVERY_ACTOR} alive", claimed_at=timezone.now())
    assert recover_policy_writes().took == []
    assert outcome(decision)[0] == Decision.Status.APPLYING


def test_recovery_settling_first_leaves_its_record_and_the_writer_records_nothing(node):
    """A write that outlived the bound: recovery claims it and records what the node holds while the writer still
    waits for an answer; the writer's conditional settle then finds it settled and leaves recovery's record."""
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 45)
    node.faults.inject("hang_after_apply", path="/v1/chanpolicy", hang_s=3)
    taken = len(node.node.applied_updates)
    results = []

    def writer() -> None:
        try:
            results.append(decision_apply(decision=Decision.objects.get(pk=decision.pk), actor="web"))
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = timezone.now() + timedelta(seconds=20)
    while len(node.node.applied_updates) == taken and timezone.now() < deadline:
        threading.Event().wait(0.05)
    report = recover_policy_writes(older_than=timedelta(0))
    thread.join(timeout=60)

    assert len(report.took) == 1 and results[0].status == Decision.Status.APPLIED
    applied_rows = decision.audit_entries.filter(action=AuditEntry.Action.POLICY_APPLIED)
    assert list(applied_rows.values_list("actor", flat=True)) == [RECOVERY_ACTOR], "settled once, by recovery"
    assert decision.audit_entries.count() == 1
    assert PolicyWrite.objects.get().claimed_by.startswith(RECOVERY_ACTOR)
    assert stored_is_live(node, channel)


def test_no_second_write_to_a_channel_while_one_is_unsettled(node):
    channel = open_channels(1)[0]
    decision = interrupted(node, channel, node_holds="target", ago=timedelta(seconds=1))
    Decision.objects.filter(pk=decision.pk).update(status=Decision.Status.FAILED)
    taken = len(node.node.applied_updates)
    with pytest.raises(ApplyRefused, match="in flight or awaits recovery"):
        decision_apply(decision=make_decision(channel), actor="ann")
    with pytest.raises(RollbackError, match="in flight or awaits recovery"):
        channel_rollback(channel=channel, to=timezone.now() - timedelta(days=1), actor="ann")
    live = live_policy(node, channel)
    with node_writer(actor="ann") as writer, pytest.raises(ChannelBusy):
        policy_change(node=writer, channel=channel, live=live, target=live, purpose="apply", actor="ann")
    assert len(node.node.applied_updates) == taken, "nothing sent"


def test_settled_journal_rows_are_pruned_after_their_retention(node):
    channel = open_channels(1)[0]
    interrupted(node, channel, node_holds="target")
    recover_policy_writes()
    assert PolicyWrite.objects.count() == 1, "settled, kept for a while"
    report = recover_policy_writes(now=timezone.now() + SETTLED_WRITES_KEPT + timedelta(days=1))
    assert report.pruned == 1 and not PolicyWrite.objects.exists()
    assert AuditEntry.objects.filter(actor=RECOVERY_ACTOR).count() == 1, "the audit log keeps the history"


def test_every_write_of_the_executor_and_rollback_is_journalled_and_settled(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = decision_apply(decision=make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 25), actor="ann")
    decision_rollback(decision=decision, actor="ann")
    rows = PolicyWrite.objects.order_by("started_at", "id")
    assert [(r.purpose, r.outcome, r.claimed_by) for r in rows] == [
        (PolicyWrite.Purpose.APPLY, PolicyWrite.Outcome.TOOK, "ann"),
        (PolicyWrite.Purpose.ROLLBACK, PolicyWrite.Outcome.TOOK, "ann"),
    ]
    assert unsettled() == 0


def test_the_beat_schedule_runs_recovery(settings):
    entry = settings.DAZNODE_BEAT_SCHEDULE["recover-policy-writes"]
    assert entry["task"] == "decisions.tasks.recover_policy_writes" and entry["expires"] <= entry["every"]
