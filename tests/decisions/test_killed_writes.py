"""A real process killed (SIGKILL) while its policy write hangs after the simulated LND took it: the state it
leaves, then recovery by the command, and nothing recorded as a change made outside Daznode afterwards.

The fee cycle and the rollback run as child processes over loopback against the simulator served by this test,
sharing its test database (SQLite file or PostgreSQL)."""

import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from auth_vault.crypto import generate_key_entry
from daznode.lightning import Policy
from decisions.cycle import fee_cycle
from decisions.engine import Thresholds
from decisions.executor import decision_apply
from decisions.models import AuditEntry, Decision, FeeCycle, PolicyWrite
from decisions.policy_change import write_in_flight_bound
from decisions.recovery import INTERRUPTED_CYCLE, RECOVERY_ACTOR
from decisions.services import judge_channels
from decisions.sync import node_sync
from tests.conftest import child_env, run_manage, running, test_database_url, wait_until
from tests.decisions.conftest import live_policy, make_decision, open_channels

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("live_mode")]

ALWAYS_RAISE = Thresholds(
    no_action_min=1, decrease_max=1, increase_max=1, rebalance_low=0, drained_ratio=0, full_ratio=1, rebalance_high=1
)
# The children wait on the hung answer far longer than the test needs to kill them; this process agrees with them
# on the bound that derives from it.
SOURCE_TIMEOUT = timedelta(seconds=60)
HANG_AFTER_APPLY = {"kind": "hang_after_apply", "count": 1, "path": "/v1/chanpolicy", "hang_s": 90}


@pytest.fixture
def vault_keys(settings) -> str:
    """One keyring for this process and its children, so that a child can decrypt the macaroon stored here."""
    settings.DAZNODE_VAULT_KEYS = generate_key_entry("k1")
    return settings.DAZNODE_VAULT_KEYS


@pytest.fixture
def ours(vault_keys, node):
    return node


@pytest.fixture
def env(vault_keys, tmp_path, settings) -> dict[str, str]:
    settings.DAZNODE_SOURCE_TIMEOUT = SOURCE_TIMEOUT
    return child_env(
        DAZNODE_DATA_DIR=str(tmp_path),
        DATABASE_URL=test_database_url(),
        REDIS_URL=None,
        DAZNODE_VAULT_KEYS=vault_keys,
        DAZNODE_SOURCE_TIMEOUT=f"{SOURCE_TIMEOUT.total_seconds():.0f}s",
        DAZNODE_DECISION_MODE="live",  # as this process (live_mode): the children's rollback needs no --live-anyway
    )


def killed_mid_write(sim, env: dict[str, str], log, *args: str) -> None:
    """Run `manage.py *args`, wait until the node has taken its policy update (the answer then hangs), SIGKILL it."""
    taken = len(sim.node.applied_updates)
    sim.faults.configure({"inject": [HANG_AFTER_APPLY]})
    with running([sys.executable, "manage.py", *args], env=env, log=log) as process:
        wait_until(
            lambda: len(sim.node.applied_updates) > taken,
            timeout=120,
            what="the node to take the policy update",
            log=log,
        )
        process.kill()
        process.wait()
    assert len(sim.node.applied_updates) == taken + 1, "killed after exactly one update was taken"


def recover_by_command(env: dict[str, str]) -> str:
    """The bound has passed (as when recovery next runs on its schedule); the command settles what is left."""
    young = run_manage("recover_policy_writes", env=env)
    assert young.returncode == 0, young.stderr
    assert "0 took" in young.stdout, "a write younger than the bound may still be in flight: left alone"
    long_ago = timezone.now() - write_in_flight_bound() - timedelta(minutes=1)
    PolicyWrite.objects.filter(settled_at__isnull=True).update(started_at=long_ago)
    result = run_manage("recover_policy_writes", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def external_changes() -> int:
    return AuditEntry.objects.filter(action=AuditEntry.Action.EXTERNAL_CHANGE).count()


def stored_is_live(sim, channel) -> bool:
    channel.refresh_from_db()
    return channel.policy().same_terms(live_policy(sim, channel))


def assert_not_blocked_by_an_external_change(channel, own_change: AuditEntry) -> None:
    """The next cycle may hold the channel in its cooldown for Daznode's own change, never for one "outside"."""
    cycle = fee_cycle(mode="dry_run")
    assert cycle.error == "" and external_changes() == 0
    [judged] = judge_channels(now=timezone.now(), chan_ids=[channel.chan_id], thresholds=ALWAYS_RAISE)
    [cooldown] = [rejection for rejection in judged.rejections if rejection.rule == "cooldown"]
    assert cooldown.values["last_change_at"] == own_change.at.isoformat(), "counted from Daznode's own change"


def test_a_fee_cycle_killed_after_the_node_took_its_update_is_recovered(ours, env, tmp_path):
    killed_mid_write(ours, env, tmp_path / "fee_cycle.log", "fee_cycle", "--mode", "live")

    decision = Decision.objects.get(status=Decision.Status.APPLYING)
    channel = decision.channel
    assert live_policy(ours, channel).same_terms(Policy.from_dict(decision.proposed_policy)), "the node took it"
    assert not decision.audit_entries.filter(action=AuditEntry.Action.POLICY_APPLIED).exists()
    assert decision.cycle.finished_at is None
    assert PolicyWrite.objects.get(settled_at__isnull=True).decision == decision
    node_sync()
    assert external_changes() == 0, "an unsettled write of Daznode's is not someone else's change"

    assert "1 took, 0 not taken" in recover_by_command(env)

    decision.refresh_from_db()
    assert decision.status == Decision.Status.APPLIED
    [entry] = decision.audit_entries.filter(action=AuditEntry.Action.POLICY_APPLIED)
    assert entry.actor == RECOVERY_ACTOR
    assert stored_is_live(ours, channel)
    cycle = FeeCycle.objects.get(pk=decision.cycle_id)
    assert cycle.finished_at is not None and cycle.summary["error"] == INTERRUPTED_CYCLE
    node_sync()
    assert external_changes() == 0
    assert_not_blocked_by_an_external_change(channel, entry)


def test_a_rollback_killed_after_the_node_took_it_is_recovered(ours, env, tmp_path):
    channel = open_channels(1)[0]
    before = live_policy(ours, channel)
    decision = decision_apply(decision=make_decision(channel, fee_rate_ppm=before.fee_rate_ppm + 30), actor="ann")
    assert decision.status == Decision.Status.APPLIED

    killed_mid_write(ours, env, tmp_path / "rollback.log", "rollback_decision", str(decision.pk))

    decision.refresh_from_db()
    assert decision.status == Decision.Status.ROLLING_BACK
    assert live_policy(ours, channel).same_terms(before), "the node took the rollback"
    assert not decision.audit_entries.filter(action=AuditEntry.Action.ROLLED_BACK).exists()
    assert PolicyWrite.objects.get(settled_at__isnull=True).purpose == PolicyWrite.Purpose.ROLLBACK
    node_sync()
    assert external_changes() == 0

    assert "1 took, 0 not taken" in recover_by_command(env)

    decision.refresh_from_db()
    assert decision.status == Decision.Status.ROLLED_BACK and decision.rolled_back_at is not None
    [entry] = decision.audit_entries.filter(action=AuditEntry.Action.ROLLED_BACK)
    assert entry.actor == RECOVERY_ACTOR and Policy.from_dict(entry.after).same_terms(before)
    assert stored_is_live(ours, channel)
    node_sync()
    assert external_changes() == 0
    assert_not_blocked_by_an_external_change(channel, entry)
