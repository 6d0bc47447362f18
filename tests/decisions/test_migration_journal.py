"""Migration 0005's data step: decisions the version before the write journal left `applying` get an unsettled
write each, one per channel (the journal's constraint), so that recovery settles them by reading the node."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from channels.models import Channel, Node
from decisions.models import AuditEntry, Decision, PolicyBackup, PolicyWrite

journal_writes_left_applying = importlib.import_module(
    "decisions.migrations.0005_policy_write_journal"
).journal_writes_left_applying

POLICY = {"base_fee_msat": 1000, "fee_rate_ppm": 100, "time_lock_delta": 80, "min_htlc_msat": 1000}


@pytest.fixture
def peer(db) -> Node:
    return Node.objects.create(pubkey="02" + "ab" * 32, alias="peer")


def channel(peer: Node, number: int) -> Channel:
    return Channel.objects.create(
        chan_id=(1 << 40) + number,
        chan_point=f"{'cd' * 32}:{number}",
        peer=peer,
        capacity_sat=1_000_000,
        base_fee_msat=1000,
        fee_rate_ppm=100,
        time_lock_delta=80,
        min_htlc_msat=1000,
        max_htlc_msat=990_000_000,
    )


def left_applying(channel: Channel, *, fee_rate_ppm: int, backed_up_ago: timedelta | None) -> Decision:
    """What the old executor left: claimed, and (when it got that far) its backup stored before sending."""
    decision = Decision.objects.create(
        channel=channel,
        kind=Decision.Kind.INCREASE_FEES,
        current_policy=POLICY,
        proposed_policy={**POLICY, "fee_rate_ppm": fee_rate_ppm},
        status=Decision.Status.APPLYING,
        mode=Decision.Mode.LIVE,
        claimed_by="system",
    )
    if backed_up_ago is not None:
        PolicyBackup.objects.create(
            channel=channel, decision=decision, policy=POLICY, read_from="lnd", taken_at=timezone.now() - backed_up_ago
        )
    return decision


def test_it_journals_only_the_newest_write_of_a_channel_and_fails_the_older(peer):
    first, second = channel(peer, 1), channel(peer, 2)
    # Created newest first: the newest write is the latest backup, whatever the ids say.
    newer = left_applying(first, fee_rate_ppm=140, backed_up_ago=timedelta(minutes=5))
    older = left_applying(first, fee_rate_ppm=120, backed_up_ago=timedelta(hours=2))
    alone = left_applying(second, fee_rate_ppm=130, backed_up_ago=timedelta(hours=1))
    unsent = left_applying(second, fee_rate_ppm=150, backed_up_ago=None)

    journal_writes_left_applying(apps, None)  # before the fix: IntegrityError on one_unsettled_policy_write_per_channel

    writes = PolicyWrite.objects.filter(settled_at__isnull=True)
    assert sorted(writes.values_list("decision_id", flat=True)) == sorted([newer.pk, alone.pk])
    write = writes.get(decision=newer)
    assert (write.purpose, write.target["fee_rate_ppm"], write.backup.decision_id) == ("apply", 140, newer.pk)
    older.refresh_from_db()
    assert older.status == Decision.Status.FAILED
    assert f"backup {write.backup_id}" in older.failure_reason and "newer decision" in older.failure_reason
    entry = AuditEntry.objects.get(decision=older)
    assert entry.action == AuditEntry.Action.APPLY_FAILED and entry.reason == older.failure_reason
    for decision in (newer, alone, unsent):
        decision.refresh_from_db()
        assert decision.status == Decision.Status.APPLYING, "left to recovery, which reads the node"
    assert not PolicyWrite.objects.filter(decision=unsent).exists(), "nothing was sent: no write to settle"
