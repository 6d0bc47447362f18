"""Uncertain answers to policy writes, over real HTTP to the simulated LND: every one is followed by a read, on
the way forward and on the way back, so that the database always says what the node holds and the next sync
finds nothing Daznode did not record."""

import pytest
from django.utils import timezone

from channels.models import Channel
from daznode.lightning import Policy
from decisions.cycle import fee_cycle
from decisions.engine import Thresholds
from decisions.executor import decision_apply
from decisions.models import AuditEntry, Decision
from decisions.rollback import decision_rollback
from decisions.services import judge_channels
from decisions.sync import node_sync
from tests.decisions.conftest import live_policy, make_decision, open_channels

# The writes themselves, as live mode does them (test_live_anyway.py: the other modes).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("live_mode")]

GARBLED_UPDATES = {"kind": "malformed_json", "count": 4, "path": "/v1/chanpolicy"}
ALWAYS_RAISE = Thresholds(
    no_action_min=1, decrease_max=1, increase_max=1, rebalance_low=0, drained_ratio=0, full_ratio=1, rebalance_high=1
)


def stored_matches_node(sim) -> list[int]:
    """The open channels whose stored policy is not the node's."""
    return [
        channel.chan_id
        for channel in Channel.objects.filter(closed_at__isnull=True)
        if not channel.policy().same_terms(live_policy(sim, channel))
    ]


def external_changes() -> int:
    return AuditEntry.objects.filter(action=AuditEntry.Action.EXTERNAL_CHANGE).count()


def test_a_live_cycle_with_garbled_answers_records_what_the_node_took(node):
    node.faults.configure({"inject": [GARBLED_UPDATES]})
    taken = len(node.node.applied_updates)
    report = fee_cycle(mode="live")
    applied = [d for d in report.decisions if d.status == Decision.Status.APPLIED]
    assert applied, "every answer to an update was garbled, and the node took each one"
    assert not [d for d in report.decisions if d.status == Decision.Status.FAILED]
    assert len(node.node.applied_updates) - taken == len(applied), "each sent once, garbled answer or not"
    for decision in applied:
        assert live_policy(node, decision.channel).same_terms(Policy.from_dict(decision.proposed_policy))
        assert decision.audit_entries.filter(action=AuditEntry.Action.POLICY_APPLIED).count() == 1
    assert stored_matches_node(node) == []
    assert report.cycle.finished_at is not None
    node_sync()
    assert external_changes() == 0, "Daznode's own writes are not someone else's change"


def test_a_put_back_whose_answer_is_garbled_but_taken_ends_restored(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    node.faults.configure({"inject": [GARBLED_UPDATES]})
    # The read after the update is garbled twice: the node's policy is unknown, so the backup goes back, and the
    # answer to that is garbled as well; the read after it finds the backup in place.
    node.faults.inject("malformed_json", path=f"/v1/graph/edge/{channel.chan_id}", skip=1, count=2)
    decision = decision_apply(decision=make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 40), actor="tester")

    assert decision.status == Decision.Status.FAILED
    assert "restored from backup" in decision.failure_reason and "FAILED" not in decision.failure_reason
    assert live_policy(node, channel).same_terms(before)
    channel.refresh_from_db()
    assert channel.policy().same_terms(before), "the database records the backup the node holds"
    entry = decision.audit_entries.get()
    assert entry.action == AuditEntry.Action.APPLY_FAILED and Policy.from_dict(entry.after).same_terms(before)

    node.faults.clear()
    node_sync()
    assert external_changes() == 0, "Daznode's own restore is not a change made outside"
    [judged] = judge_channels(now=timezone.now(), chan_ids=[channel.chan_id], thresholds=ALWAYS_RAISE)
    assert judged.proposal.changes_policy and "cooldown" not in [r.rule for r in judged.rejections]


def test_a_rollback_whose_answer_is_garbled_but_taken_is_rolled_back(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = decision_apply(decision=make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 30), actor="tester")
    assert decision.status == Decision.Status.APPLIED
    node.faults.configure({"inject": [GARBLED_UPDATES]})
    result = decision_rollback(decision=decision, actor="tester")
    decision.refresh_from_db()
    assert result.changed and decision.status == Decision.Status.ROLLED_BACK
    assert live_policy(node, channel).same_terms(before)
    channel.refresh_from_db()
    assert channel.policy().same_terms(before)
    node.faults.clear()
    node_sync()
    assert external_changes() == 0


def test_a_cycle_that_breaks_while_applying_still_gets_its_finish_time(node, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug while applying")

    monkeypatch.setattr("decisions.cycle.decisions_apply", broken)
    with pytest.raises(RuntimeError):
        fee_cycle(mode="live")
    from decisions.models import FeeCycle

    cycle = FeeCycle.objects.latest()
    assert cycle.finished_at is not None and "a bug while applying" in cycle.summary["error"]
