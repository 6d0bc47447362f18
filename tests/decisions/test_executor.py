"""Applying decisions to the simulated LND over real HTTP, with its faults: every failure leaves the node with
the policy it had, a backup and an audit row."""

import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection

from channels.models import Channel
from daznode.lightning import Policy
from decisions.executor import ApplyRefused, decision_apply, decisions_apply
from decisions.models import AuditEntry, Decision, KillSwitch, PolicyBackup
from decisions.rollback import decision_rollback
from decisions.sync import node_sync
from tests.decisions.conftest import change_outside, live_policy, make_decision, open_channels

# The writes themselves, as live mode does them (test_live_anyway.py: the other modes).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("live_mode")]


def updates_taken(sim, channel: Channel) -> int:
    """How many policy updates of this channel the simulated node has taken (and real LND would have gossiped)."""
    return [point for point, _ in sim.node.applied_updates].count(channel.chan_point)


def audit_actions(decision: Decision) -> list[str]:
    return list(decision.audit_entries.order_by("at", "id").values_list("action", flat=True))


def test_it_applies_a_decision_after_backing_up_and_verifies_it(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 25)

    applied = decision_apply(decision=decision, actor="tester")

    assert applied.status == Decision.Status.APPLIED and applied.applied_at is not None
    assert live_policy(node, channel).fee_rate_ppm == before.fee_rate_ppm + 25
    assert live_policy(node, channel).same_terms(Policy.from_dict(decision.proposed_policy))
    backup = PolicyBackup.objects.get(decision=decision)
    assert Policy.from_dict(backup.policy).same_terms(before) and backup.read_from == "sim"
    entry = decision.audit_entries.get(action=AuditEntry.Action.POLICY_APPLIED)
    assert (entry.actor, entry.before["fee_rate_ppm"], entry.after["fee_rate_ppm"]) == (
        "tester",
        before.fee_rate_ppm,
        before.fee_rate_ppm + 25,
    )
    channel.refresh_from_db()
    assert channel.fee_rate_ppm == before.fee_rate_ppm + 25 and channel.policy_set_at is not None


def test_it_sends_the_complete_policy_so_nothing_else_changes(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision_apply(decision=make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 30), actor="tester")
    after = live_policy(node, channel)
    assert {k: v for k, v in after.terms().items() if k != "fee_rate_ppm"} == {
        k: v for k, v in before.terms().items() if k != "fee_rate_ppm"
    }


def test_a_failed_update_restores_nothing_and_marks_the_decision_failed(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    node.faults.fail_policy_updates([channel.chan_point])
    decision = decision_apply(decision=make_decision(channel), actor="tester")
    assert decision.status == Decision.Status.FAILED
    assert "UPDATE_FAILURE_INTERNAL_ERR" in decision.failure_reason
    assert "kept its previous policy" in decision.failure_reason
    assert live_policy(node, channel) == before
    assert audit_actions(decision) == [AuditEntry.Action.APPLY_FAILED]
    assert PolicyBackup.objects.filter(decision=decision).count() == 1


def test_it_restores_the_backup_when_verification_finds_another_policy(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    node.faults.ignore_policy_updates([channel.chan_point])  # acknowledged, not taken
    decision = decision_apply(decision=make_decision(channel), actor="tester")
    assert decision.status == Decision.Status.FAILED
    assert "verification mismatch: fee_rate_ppm sent" in decision.failure_reason
    assert live_policy(node, channel) == before


def test_a_timeout_after_the_node_applied_reads_back_and_does_not_send_again(node, settings):
    settings.DAZNODE_SOURCE_TIMEOUT = timedelta(seconds=0.5)
    channel = open_channels(1)[0]
    before, taken = live_policy(node, channel), updates_taken(node, channel)
    node.faults.inject("hang_after_apply", path="/v1/chanpolicy", count=4, hang_s=30)
    decision = decision_apply(decision=make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 40), actor="tester")
    assert decision.status == Decision.Status.APPLIED, "the read-back found the node holding it"
    assert updates_taken(node, channel) == taken + 1, "sent exactly once: LND gossips every update it takes"
    assert live_policy(node, channel).fee_rate_ppm == before.fee_rate_ppm + 40
    channel.refresh_from_db()
    assert channel.policy().same_terms(live_policy(node, channel))
    assert audit_actions(decision) == [AuditEntry.Action.POLICY_APPLIED]


def test_an_update_lost_before_the_node_took_it_is_sent_again_after_a_read(node):
    channel = open_channels(1)[0]
    before, taken = live_policy(node, channel), updates_taken(node, channel)
    node.faults.inject("drop", path="/v1/chanpolicy", count=1)  # the connection cut before LND saw it
    decision = decision_apply(decision=make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 15), actor="tester")
    assert decision.status == Decision.Status.APPLIED
    assert updates_taken(node, channel) == taken + 1
    assert live_policy(node, channel).fee_rate_ppm == before.fee_rate_ppm + 15


def test_a_policy_changed_outside_since_the_decision_is_not_overwritten(node):
    channel = open_channels(1)[0]
    decision = make_decision(channel)
    change_outside(node, channel, 777)
    decision = decision_apply(decision=decision, actor="tester")
    assert decision.status == Decision.Status.FAILED
    assert "changed outside Daznode" in decision.failure_reason
    assert live_policy(node, channel).fee_rate_ppm == 777
    assert AuditEntry.Action.EXTERNAL_CHANGE in audit_actions(decision)
    assert not PolicyBackup.objects.filter(decision=decision).exists(), "nothing was sent, so nothing backed up"


def test_when_the_node_is_down_nothing_is_sent_and_the_decision_says_why(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    node.faults.inject("drop", count=100)
    decision = decision_apply(decision=make_decision(channel), actor="tester")
    node.faults.clear()
    assert decision.status == Decision.Status.FAILED
    assert decision.failure_reason.startswith("nothing was sent: no LND source of our node")
    assert live_policy(node, channel) == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": Decision.Kind.CLOSE_CHANNEL, "proposed_policy": None}, "Daznode never closes a channel"),
        ({"kind": Decision.Kind.NO_ACTION, "proposed_policy": None}, "nothing to apply"),
        ({"status": Decision.Status.APPLIED}, "not pending or approved"),
        ({"status": Decision.Status.BLOCKED}, "not pending or approved"),
    ],
)
def test_it_refuses_what_may_not_be_applied_and_sends_nothing(node, fields, message):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = make_decision(channel, **fields)
    with pytest.raises(ApplyRefused, match=message):
        decision_apply(decision=decision, actor="tester")
    assert live_policy(node, channel) == before
    assert not decision.audit_entries.exists()


def test_the_kill_switch_stops_every_application(node, settings):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    KillSwitch.objects.update_or_create(pk=1, defaults={"engaged": True})
    with pytest.raises(ApplyRefused, match="kill switch"):
        decision_apply(decision=make_decision(channel), actor="tester")
    KillSwitch.objects.filter(pk=1).update(engaged=False)
    settings.DAZNODE_KILL_SWITCH = True
    with pytest.raises(ApplyRefused, match="kill switch"):
        decision_apply(decision=make_decision(channel), actor="tester")
    assert live_policy(node, channel) == before


def test_two_workers_racing_for_one_decision_apply_it_exactly_once(node):
    channel = open_channels(1)[0]
    decision = make_decision(channel)
    barrier, outcomes = threading.Barrier(2), []

    def worker(name: str) -> None:
        try:
            barrier.wait()
            outcomes.append(decision_apply(decision=Decision.objects.get(pk=decision.pk), actor=name).status)
        except ApplyRefused:  # claimed by the other first, or found applied (and the channel in its cooldown)
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(f"worker-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted([Decision.Status.APPLIED, "refused"])
    assert AuditEntry.objects.filter(decision=decision, action=AuditEntry.Action.POLICY_APPLIED).count() == 1
    assert PolicyBackup.objects.filter(decision=decision).count() == 1


def test_a_failure_in_the_middle_of_a_batch_leaves_the_others_applied(node):
    channels = open_channels(3)
    befores = [live_policy(node, c) for c in channels]
    decisions = [make_decision(c, fee_rate_ppm=b.fee_rate_ppm + 20) for c, b in zip(channels, befores, strict=True)]
    node.faults.fail_policy_updates([channels[1].chan_point])
    done = decisions_apply(decisions=decisions, actor="tester", all_or_nothing=False)
    assert [d.status for d in done] == [Decision.Status.APPLIED, Decision.Status.FAILED, Decision.Status.APPLIED]
    assert live_policy(node, channels[0]).fee_rate_ppm == befores[0].fee_rate_ppm + 20
    assert live_policy(node, channels[1]) == befores[1]
    assert live_policy(node, channels[2]).fee_rate_ppm == befores[2].fee_rate_ppm + 20


def test_an_all_or_nothing_batch_undoes_the_applied_ones_when_one_fails(node):
    channels = open_channels(3)
    befores = [live_policy(node, c) for c in channels]
    decisions = [make_decision(c, fee_rate_ppm=b.fee_rate_ppm + 20) for c, b in zip(channels, befores, strict=True)]
    node.faults.fail_policy_updates([channels[1].chan_point])
    done = decisions_apply(decisions=decisions, actor="tester", all_or_nothing=True)
    assert [d.status for d in done] == [
        Decision.Status.ROLLED_BACK,
        Decision.Status.FAILED,
        Decision.Status.FAILED,
    ]
    assert "not attempted" in done[2].failure_reason
    for channel, before in zip(channels, befores, strict=True):
        assert live_policy(node, channel).same_terms(before)
        assert Channel.objects.get(pk=channel.pk).policy().same_terms(before)


def test_when_even_the_restore_fails_the_reason_says_the_policy_is_unknown(node, settings):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    edge = f"/v1/graph/edge/{channel.chan_id}"
    node.faults.inject("malformed_json", path="/v1/chanpolicy", count=1)  # applied, the answer garbled
    node.faults.inject("malformed_json", path=edge, skip=1, count=2)  # the read-back garbled too: unknown
    node.faults.inject("unavailable", path="/v1/chanpolicy", count=100)  # and the restore cannot get through
    decision = decision_apply(decision=make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 40), actor="tester")
    assert decision.status == Decision.Status.FAILED
    assert "RESTORING BACKUP" in decision.failure_reason and "rollback_channel" in decision.failure_reason
    assert live_policy(node, channel).fee_rate_ppm == before.fee_rate_ppm + 40, "the node kept the new policy"
    entry = decision.audit_entries.get(action=AuditEntry.Action.APPLY_FAILED)
    assert entry.after["fee_rate_ppm"] == before.fee_rate_ppm + 40, "the audit row says what the node holds"
    channel.refresh_from_db()
    assert channel.fee_rate_ppm == before.fee_rate_ppm + 40, "the stored row follows the node, not the wish"


def test_the_limits_in_force_when_applying_win_over_those_when_deciding(node, settings):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = make_decision(channel)
    denied = {"deny_channels": frozenset({channel.chan_id})}
    settings.DAZNODE_DECISION_LIMITS = {**settings.DAZNODE_DECISION_LIMITS, **denied}
    blocked = r"blocked by the safety limits in force now: channel \d+ is on the deny list"
    with pytest.raises(ApplyRefused, match=blocked):
        decision_apply(decision=decision, actor="tester")
    decision.refresh_from_db()
    assert decision.status == Decision.Status.BLOCKED and decision.rejections[0]["rule"] == "deny_list"
    assert live_policy(node, channel) == before


def test_a_second_change_of_a_channel_within_the_cooldown_is_blocked_when_applied(node):
    channel = open_channels(1)[0]
    decision_apply(decision=make_decision(channel), actor="tester")
    channel.refresh_from_db()
    with pytest.raises(ApplyRefused, match="cooldown of 24 h"):
        decision_apply(decision=make_decision(channel), actor="tester")


def test_a_batch_leaves_a_decision_another_worker_holds_to_that_worker(node):
    channels = open_channels(3)
    befores = [live_policy(node, c) for c in channels]
    decisions = [make_decision(c, fee_rate_ppm=b.fee_rate_ppm + 20) for c, b in zip(channels, befores, strict=True)]
    node.faults.fail_policy_updates([channels[1].chan_point])
    # The third is claimed by another worker while this batch runs (claimed after the list was taken).
    Decision.objects.filter(pk=decisions[2].pk).update(status=Decision.Status.APPLYING, claimed_by="other-worker")
    done = decisions_apply(decisions=decisions, actor="tester", all_or_nothing=True)
    assert [d.status for d in done] == [
        Decision.Status.ROLLED_BACK,
        Decision.Status.FAILED,
        Decision.Status.APPLYING,
    ]
    assert done[2].claimed_by == "other-worker" and not done[2].audit_entries.exists(), "theirs, untouched"
    assert live_policy(node, channels[2]) == befores[2]


def test_a_policy_daznode_itself_put_back_since_the_decision_fails_it_as_stale_not_as_external(node, settings):
    settings.DAZNODE_DECISION_LIMITS = {**settings.DAZNODE_DECISION_LIMITS, "cooldown": timedelta(0)}
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    first = decision_apply(decision=make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 20), actor="tester")
    channel.refresh_from_db()
    second = make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 40)  # decided from the applied policy
    assert decision_rollback(decision=first, actor="tester").changed  # Daznode itself puts the backup back
    taken = updates_taken(node, channel)

    second = decision_apply(decision=second, actor="tester")

    assert second.status == Decision.Status.FAILED
    assert "changed by Daznode's own rollback, restore or recovery since the decision" in second.failure_reason
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.EXTERNAL_CHANGE).exists(), "nobody outside"
    assert updates_taken(node, channel) == taken and live_policy(node, channel).same_terms(before)


def test_a_change_outside_the_sync_already_recorded_is_not_recorded_twice_when_applying(node, settings):
    settings.DAZNODE_DECISION_LIMITS = {**settings.DAZNODE_DECISION_LIMITS, "cooldown": timedelta(0)}
    channel = open_channels(1)[0]
    decision = make_decision(channel)
    change_outside(node, channel, 777)
    node_sync()
    decision = decision_apply(decision=decision, actor="tester")
    assert decision.status == Decision.Status.FAILED and "changed outside Daznode" in decision.failure_reason
    assert AuditEntry.objects.filter(action=AuditEntry.Action.EXTERNAL_CHANGE).count() == 1


def test_a_failure_is_recorded_with_its_audit_row_or_not_at_all(node, monkeypatch):
    channel = open_channels(1)[0]
    decision = make_decision(channel)
    node.faults.inject("drop", count=100)  # the node is down: nothing is sent, the decision fails

    def audit_log_unwritable(*args, **kwargs):
        raise DatabaseError("the audit row could not be written")

    monkeypatch.setattr("decisions.executor.audit", audit_log_unwritable)
    with pytest.raises(DatabaseError):
        decision_apply(decision=decision, actor="tester")
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLYING, "not failed without its audit row: recovery settles it"
    assert decision.failure_reason == ""
