"""A write after which the node cannot be read, over real HTTP to the simulated LND: the update is taken but its
answer is garbled, every read-back is garbled, and the put-back gets 503s. Nothing is recorded as the node's policy
(nothing was read); the journal row is released unsettled, the decision stays claimed with a note, the sync holds
the channel, and recovery's next run (without waiting for the in-flight bound) reads the node and settles it."""

import pytest
from django.utils import timezone

from daznode.lightning import Policy
from decisions.engine import Thresholds
from decisions.executor import decision_apply, decisions_apply
from decisions.models import AuditEntry, Decision, PolicyWrite
from decisions.policy_change import UNREAD_NOTE
from decisions.recovery import RECOVERY_ACTOR, recover_policy_writes
from decisions.rollback import WriteLeftToRecovery, decision_rollback
from decisions.services import judge_channels
from decisions.sync import node_sync
from tests.decisions.conftest import live_policy, make_decision, open_channels

# The writes themselves, as live mode does them (test_live_anyway.py: the other modes).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("live_mode")]

ALWAYS_RAISE = Thresholds(
    no_action_min=1, decrease_max=1, increase_max=1, rebalance_low=0, drained_ratio=0, full_ratio=1, rebalance_high=1
)


def node_unreadable_after_the_update(sim, channel) -> None:
    """The update is taken, its answer garbled; every read after the first (the live policy) garbled; every
    put-back answered 503."""
    sim.faults.inject("malformed_json", path="/v1/chanpolicy", count=1)
    sim.faults.inject("malformed_json", path=f"/v1/graph/edge/{channel.chan_id}", skip=1, count=100)
    sim.faults.inject("unavailable", path="/v1/chanpolicy", count=100)


def lnd_down_after_the_update(sim, channel) -> None:
    """The update is taken, its answer garbled, then LND stops answering at all (getinfo and the live read pass):
    the reads after it fail until the client's circuit breaker opens mid-write."""
    sim.faults.inject("malformed_json", path="/v1/chanpolicy", count=1)
    sim.faults.inject("drop", skip=2, count=1000)


def external_changes() -> int:
    return AuditEntry.objects.filter(action=AuditEntry.Action.EXTERNAL_CHANGE).count()


def stored_is_live(sim, channel) -> bool:
    channel.refresh_from_db()
    return channel.policy().same_terms(live_policy(sim, channel))


def unread_apply(sim, faults=node_unreadable_after_the_update) -> tuple[Decision, Policy]:
    channel = open_channels(1)[0]
    before = live_policy(sim, channel)
    faults(sim, channel)
    decision = decision_apply(decision=make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 40), actor="tester")
    return decision, before


@pytest.mark.parametrize("faults", [node_unreadable_after_the_update, lnd_down_after_the_update])
def test_an_apply_whose_outcome_is_unread_stays_applying_and_records_no_policy(node, faults):
    decision, before = unread_apply(node, faults)
    node.faults.clear()
    channel = decision.channel

    assert decision.status == Decision.Status.APPLYING
    assert UNREAD_NOTE in decision.failure_reason, "the API and the admin show why it is still applying"
    assert live_policy(node, channel).same_terms(Policy.from_dict(decision.proposed_policy)), "the node took it"
    write = PolicyWrite.objects.get(decision=decision)
    assert write.settled_at is None and write.released_at is not None and write.outcome == ""
    assert not decision.audit_entries.exists(), "nothing read, nothing recorded"
    channel.refresh_from_db()
    assert channel.policy().same_terms(before), "the stored policy is the last one read, not a guess"


def test_the_sync_holds_an_unread_write_and_recovery_settles_it_at_its_next_run(node):
    decision, _ = unread_apply(node)
    channel = decision.channel
    node.faults.clear()

    report = node_sync()
    assert report.external_changes == () and external_changes() == 0, "Daznode's own write, not the node's"

    recovered = recover_policy_writes()  # the default bound: a released write is not in flight
    decision.refresh_from_db()
    assert recovered.took == [PolicyWrite.objects.get(decision=decision).pk]
    assert decision.status == Decision.Status.APPLIED and decision.failure_reason == ""
    [entry] = decision.audit_entries.all()
    assert (entry.action, entry.actor) == (AuditEntry.Action.POLICY_APPLIED, RECOVERY_ACTOR)
    assert "left unknown by its writer" in entry.reason
    assert stored_is_live(node, channel)
    assert not PolicyWrite.objects.filter(settled_at__isnull=True).exists()
    node_sync()
    assert external_changes() == 0
    [judged] = judge_channels(now=timezone.now(), chan_ids=[channel.chan_id], thresholds=ALWAYS_RAISE)
    [cooldown] = [r for r in judged.rejections if r.rule == "cooldown"]
    assert cooldown.values["last_change_at"] == entry.at.isoformat(), "counted from Daznode's own change"


def test_an_unread_write_stays_released_while_the_node_still_cannot_be_read(node):
    decision, _ = unread_apply(node)
    write = PolicyWrite.objects.get(decision=decision)

    report = recover_policy_writes()  # the channel's reads are still garbled
    assert report.unknown == [write.pk] and report.took == []
    write.refresh_from_db()
    decision.refresh_from_db()
    assert write.settled_at is None and write.released_at is not None and write.claimed_by == ""
    assert decision.status == Decision.Status.APPLYING
    assert not decision.audit_entries.exists()

    node.faults.clear()
    assert recover_policy_writes().took == [write.pk], "tried again at the next run"
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED


def test_a_rollback_whose_outcome_is_unread_stays_rolling_back_until_recovery(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = decision_apply(decision=make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 30), actor="tester")
    assert decision.status == Decision.Status.APPLIED
    node_unreadable_after_the_update(node, channel)

    with pytest.raises(WriteLeftToRecovery, match="recover_policy_writes"):
        decision_rollback(decision=decision, actor="tester")

    decision.refresh_from_db()
    assert decision.status == Decision.Status.ROLLING_BACK and UNREAD_NOTE in decision.failure_reason
    assert live_policy(node, channel).same_terms(before), "the node took the rollback"
    write = PolicyWrite.objects.get(decision=decision, purpose=PolicyWrite.Purpose.ROLLBACK)
    assert write.settled_at is None and write.released_at is not None
    assert not decision.audit_entries.filter(action=AuditEntry.Action.ROLLED_BACK).exists()
    channel.refresh_from_db()
    assert channel.policy().same_terms(Policy.from_dict(decision.proposed_policy)), "the last policy read"

    node.faults.clear()
    node_sync()
    assert external_changes() == 0
    assert recover_policy_writes().took == [write.pk]
    decision.refresh_from_db()
    assert decision.status == Decision.Status.ROLLED_BACK and decision.failure_reason == ""
    assert decision.audit_entries.get(action=AuditEntry.Action.ROLLED_BACK).actor == RECOVERY_ACTOR
    assert stored_is_live(node, channel)
    node_sync()
    assert external_changes() == 0


def test_an_all_or_nothing_batch_stops_and_undoes_at_a_write_whose_outcome_is_unread(node):
    channels = open_channels(3)
    befores = [live_policy(node, c) for c in channels]
    decisions = [make_decision(c, fee_rate_ppm=b.fee_rate_ppm + 20) for c, b in zip(channels, befores, strict=True)]
    # The second update only: taken but garbled, its reads garbled, its put-back refused with a 503.
    node.faults.inject("malformed_json", path="/v1/chanpolicy", skip=1, count=1)
    node.faults.inject("unavailable", path="/v1/chanpolicy", skip=1, count=1)
    node.faults.inject("malformed_json", path=f"/v1/graph/edge/{channels[1].chan_id}", skip=1, count=100)

    done = decisions_apply(decisions=decisions, actor="tester", all_or_nothing=True)

    assert [d.status for d in done] == [
        Decision.Status.ROLLED_BACK,
        Decision.Status.APPLYING,
        Decision.Status.FAILED,
    ]
    assert "not attempted" in done[2].failure_reason
    assert live_policy(node, channels[0]).same_terms(befores[0])
    assert live_policy(node, channels[2]).same_terms(befores[2])
    node.faults.clear()
    assert len(recover_policy_writes().took) == 1, "the unread one is settled from what the node holds"
    done[1].refresh_from_db()
    assert done[1].status == Decision.Status.APPLIED
