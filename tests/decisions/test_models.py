import pytest
from django.db import DatabaseError, connection, transaction

from channels.models import Channel, Node
from daznode.models import AppendOnlyError
from decisions.models import AuditEntry, Decision, PolicyBackup


@pytest.fixture
def channel(db):
    peer = Node.objects.create(pubkey="02" + "ab" * 32, alias="peer")
    return Channel.objects.create(
        chan_id=1 << 40,
        chan_point="cd" * 32 + ":0",
        peer=peer,
        capacity_sat=1_000_000,
        base_fee_msat=1000,
        fee_rate_ppm=100,
        time_lock_delta=80,
        min_htlc_msat=1000,
        max_htlc_msat=990_000_000,
    )


@pytest.fixture
def entry(channel):
    return AuditEntry.objects.create(
        actor="system",
        action=AuditEntry.Action.EXTERNAL_CHANGE,
        channel=channel,
        before={"fee_rate_ppm": 100},
        after={"fee_rate_ppm": 500},
        reason="seen",
    )


def test_an_audit_entry_cannot_be_changed_or_deleted_through_the_orm(entry):
    entry.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(pk=entry.pk).reason == "seen"


def test_a_policy_backup_cannot_be_changed(channel):
    backup = PolicyBackup.objects.create(channel=channel, policy=channel.policy().to_dict(), read_from="lnd")
    with pytest.raises(AppendOnlyError):
        PolicyBackup.objects.filter(pk=backup.pk).update(policy={})
    assert PolicyBackup.objects.get(pk=backup.pk).policy["fee_rate_ppm"] == 100


@pytest.mark.parametrize(
    "sql", ["UPDATE decisions_auditentry SET reason = 'rewritten'", "DELETE FROM decisions_auditentry"]
)
def test_postgresql_refuses_raw_changes_to_the_audit_log(entry, sql):
    if connection.vendor != "postgresql":
        pytest.skip("the database trigger exists on PostgreSQL only; SQLite relies on the ORM guard")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEntry.objects.get(pk=entry.pk).reason == "seen"


def test_a_channel_with_history_cannot_be_deleted(entry, channel):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        channel.delete()


def test_a_decision_records_its_lifecycle(channel):
    decision = Decision.objects.create(
        channel=channel,
        kind=Decision.Kind.INCREASE_FEES,
        total_score=0.2,
        reasons=["drained: 5% local"],
        current_policy=channel.policy().to_dict(),
    )
    assert (decision.status, decision.mode, decision.actor) == ("pending", "dry_run", "system")
    decision.status = Decision.Status.APPROVED
    decision.save()
    assert Decision.objects.get(pk=decision.pk).status == Decision.Status.APPROVED
