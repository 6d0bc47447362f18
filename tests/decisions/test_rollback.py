"""Rolling back one decision or a channel to a point in time, on the simulated node."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from decisions.executor import decision_apply
from decisions.models import AuditEntry, Decision, PolicyBackup
from decisions.rollback import ExternalChangeConflict, RollbackError, channel_rollback, decision_rollback
from decisions.sync import node_sync
from tests.decisions.conftest import change_outside, live_policy, make_decision, open_channels

# Applies and rollbacks as live mode does them (test_live_anyway.py: the other modes).
pytestmark = pytest.mark.usefixtures("live_mode")


@pytest.fixture
def no_cooldown(settings):
    """These tests change one channel twice in a row, which the 24-hour cooldown rightly refuses."""
    settings.DAZNODE_DECISION_LIMITS = {**settings.DAZNODE_DECISION_LIMITS, "cooldown": timedelta(0)}


def applied(channel, fee_rate_ppm: int) -> Decision:
    channel.refresh_from_db()
    decision = decision_apply(decision=make_decision(channel, fee_rate_ppm=fee_rate_ppm), actor="tester")
    assert decision.status == Decision.Status.APPLIED
    return decision


def test_it_puts_back_the_policy_a_decision_replaced_and_audits_it(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = applied(channel, before.fee_rate_ppm + 50)

    result = decision_rollback(decision=decision, actor="operator-ann", reason="fees too high")

    assert result.changed and live_policy(node, channel).same_terms(before)
    decision.refresh_from_db()
    assert decision.status == Decision.Status.ROLLED_BACK and decision.rolled_back_at is not None
    entry = decision.audit_entries.get(action=AuditEntry.Action.ROLLED_BACK)
    assert (entry.actor, entry.reason) == ("operator-ann", "fees too high")
    assert (
        entry.before["fee_rate_ppm"] == before.fee_rate_ppm + 50 and entry.after["fee_rate_ppm"] == before.fee_rate_ppm
    )
    assert PolicyBackup.objects.filter(decision=decision).count() == 2, "one before applying, one before rolling back"
    channel.refresh_from_db()
    assert channel.fee_rate_ppm == before.fee_rate_ppm


def test_rolling_back_twice_changes_nothing_the_second_time(node):
    channel = open_channels(1)[0]
    decision = applied(channel, live_policy(node, channel).fee_rate_ppm + 30)
    decision_rollback(decision=decision, actor="tester")
    audit_rows = AuditEntry.objects.count()
    again = decision_rollback(decision=decision, actor="tester")
    assert not again.changed and "already rolled back" in again.message
    assert AuditEntry.objects.count() == audit_rows


def test_it_refuses_to_overwrite_a_change_made_outside_daznode_unless_forced(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = applied(channel, before.fee_rate_ppm + 30)
    change_outside(node, channel, 999)

    with pytest.raises(ExternalChangeConflict, match="changed outside Daznode"):
        decision_rollback(decision=decision, actor="tester")
    assert live_policy(node, channel).fee_rate_ppm == 999
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED, "a refused rollback leaves the decision as it was"
    assert AuditEntry.objects.filter(channel=channel, action=AuditEntry.Action.EXTERNAL_CHANGE).count() == 1

    result = decision_rollback(decision=decision, actor="tester", force=True)
    assert result.changed and live_policy(node, channel).same_terms(before)


def test_the_sync_records_an_external_change_and_a_channel_rollback_then_needs_force(node):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    moment = timezone.now()
    change_outside(node, channel, 888)
    node_sync()
    entry = AuditEntry.objects.get(channel=channel, action=AuditEntry.Action.EXTERNAL_CHANGE)
    assert (entry.before["fee_rate_ppm"], entry.after["fee_rate_ppm"]) == (before.fee_rate_ppm, 888)

    with pytest.raises(ExternalChangeConflict):
        channel_rollback(channel=channel, to=moment, actor="tester")
    assert live_policy(node, channel).fee_rate_ppm == 888
    result = channel_rollback(channel=channel, to=moment, actor="tester", force=True)
    assert result.changed and live_policy(node, channel).same_terms(before)


def test_a_channel_goes_back_to_its_policy_at_a_point_in_time(node, no_cooldown):
    channel = open_channels(1)[0]
    original = live_policy(node, channel)
    first = applied(channel, original.fee_rate_ppm + 20)
    middle = timezone.now()
    second = applied(channel, original.fee_rate_ppm + 40)

    result = channel_rollback(channel=channel, to=middle, actor="tester")
    assert result.changed and live_policy(node, channel).fee_rate_ppm == original.fee_rate_ppm + 20
    second.refresh_from_db()
    first.refresh_from_db()
    assert (first.status, second.status) == (Decision.Status.APPLIED, Decision.Status.ROLLED_BACK)

    repeat = channel_rollback(channel=channel, to=middle, actor="tester")
    assert not repeat.changed

    channel_rollback(channel=channel, to=middle - timedelta(hours=1), actor="tester")
    assert live_policy(node, channel).same_terms(original)


def test_a_decision_with_a_later_change_on_its_channel_is_not_rolled_back_alone(node, no_cooldown):
    channel = open_channels(1)[0]
    base = live_policy(node, channel).fee_rate_ppm
    first = applied(channel, base + 20)
    applied(channel, base + 40)
    with pytest.raises(RollbackError, match="roll that back first"):
        decision_rollback(decision=first, actor="tester")
    assert live_policy(node, channel).fee_rate_ppm == base + 40


def test_only_an_applied_decision_can_be_rolled_back(node):
    decision = make_decision(open_channels(1)[0])
    with pytest.raises(RollbackError, match="only an applied decision"):
        decision_rollback(decision=decision, actor="tester")


def test_a_rollback_that_the_node_does_not_take_leaves_the_decision_applied(node):
    channel = open_channels(1)[0]
    decision = applied(channel, live_policy(node, channel).fee_rate_ppm + 20)
    node.faults.fail_policy_updates([channel.chan_point])
    with pytest.raises(RollbackError, match="did not take"):
        decision_rollback(decision=decision, actor="tester")
    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED
    assert decision.audit_entries.filter(action=AuditEntry.Action.APPLY_FAILED).exists()


def test_the_commands_roll_back_and_refuse_bad_input_with_a_message(node, capsys):
    channel = open_channels(1)[0]
    before = live_policy(node, channel)
    decision = applied(channel, before.fee_rate_ppm + 20)
    call_command("rollback_decision", str(decision.pk))
    assert "rolled back" in capsys.readouterr().out and live_policy(node, channel).same_terms(before)
    for args, message in [
        (["rollback_decision", "abc"], "whole number"),
        (["rollback_decision", "999999"], "there is no decision 999999"),
        (["rollback_channel", str(channel.chan_id), "--to", "yesterday"], "ISO 8601"),
        (["rollback_channel", str(channel.chan_id), "--to", "2026-11-20T08:00:00"], "time zone"),
        (["rollback_channel", "1", "--to", "2026-11-20T08:00:00Z"], "there is no channel 1"),
        (["rollback_channel", str(channel.chan_id), "--to", "2999-01-01T00:00:00Z"], "in the future"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command(*args)
    moment = (timezone.now() - timedelta(days=1)).isoformat()
    call_command("rollback_channel", str(channel.chan_id), "--to", moment)
    assert "already has that policy" in capsys.readouterr().out, "rolled back already: a repeat is a no-op"
