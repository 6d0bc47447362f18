"""Recovery of interrupted policy writes: every write left unsettled in the journal (models.PolicyWrite) is
settled by reading the node, whatever wrote it (an apply, a decision's rollback, a channel rollback, recovery's
own put-back) and wherever it was interrupted (SIGKILL, OOM, a time limit, a power cut).

Each journal row says "Daznode was moving this channel from `before` to `target`"; only the node can tell how far:

    it holds the target    the write took: recorded as done, with its purpose (applied, rolled back)
    it holds `before`      it never took: the decision failed, or the rollback was not done (applied again)
    it holds anything else `before` is put back (decisions.policy_change, journalled as a recovery write)

A row is settled only once it is older than write_in_flight_bound() (the worst case of one write, from
DAZNODE_SOURCE_TIMEOUT), at a worker's start as on the schedule, so that a write another process still has in flight
is never settled under it; or at its next run when its writer released it (released_at: the node could not be read
after the write, and the writer, done with it, recorded nothing). A row is claimed with a conditional UPDATE before
the node is read, and the writer settles its own row with the same condition: the writer and recovery never both
settle one write. A decision claimed but left with nothing sent (no journal row) is failed, or applied again for a
rollback; a fee cycle whose write recovery settled, or older than the task time limit without a finish time, is
closed as interrupted. Until then the sync leaves the channel's policy alone (decisions.sync): Daznode's own write
is never recorded as a change made outside Daznode. Settled rows are pruned after SETTLED_WRITES_KEPT.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from daznode.actors import system_actor
from daznode.lightning import Policy
from decisions.audit import audit
from decisions.models import AuditEntry, Decision, FeeCycle, PolicyWrite
from decisions.policy_change import (
    ChangeResult,
    Outcome,
    Purpose,
    policy_change,
    policy_store,
    policy_write_record,
    write_in_flight_bound,
    write_settle,
)
from decisions.rollback import rolled_back_settle
from decisions.writer import NodeWriter, node_writer
from sources.clients.errors import SourceError

logger = logging.getLogger(__name__)

RECOVERY_ACTOR = system_actor("recovery")
SETTLED_WRITES_KEPT = timedelta(days=30)  # the audit log and the backups keep the history; this is the journal
INTERRUPTED_CYCLE = "interrupted: the cycle's process stopped before it finished; recovery closed it"
TOOK_ACTION = {
    Purpose.APPLY: AuditEntry.Action.POLICY_APPLIED,
    Purpose.ROLLBACK: AuditEntry.Action.ROLLED_BACK,
    Purpose.CHANNEL_ROLLBACK: AuditEntry.Action.ROLLED_BACK,
}


@dataclass
class RecoveryReport:
    """Journal row ids by what the node held, and the decision ids claimed with nothing sent."""

    took: list[int] = field(default_factory=list)
    not_taken: list[int] = field(default_factory=list)
    restored: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)  # the node's policy could not be established: tried again
    unsent: list[int] = field(default_factory=list)
    cycles_closed: int = 0
    pruned: int = 0
    error: str = ""
    cycles: set[int] = field(default_factory=set)

    def as_dict(self) -> dict:
        return {
            "took": self.took,
            "not_taken": self.not_taken,
            "restored": self.restored,
            "unknown": self.unknown,
            "unsent": self.unsent,
            "cycles_closed": self.cycles_closed,
            "pruned": self.pruned,
            "error": self.error,
        }


def cycle_interrupted_after() -> timedelta:
    """A cycle without a finish time older than this is not running: the fee-cycle task would have been killed."""
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)


def recover_policy_writes(*, older_than: timedelta | None = None, now: datetime | None = None) -> RecoveryReport:
    """Settle every journalled write unsettled since before `now - older_than` (default: write_in_flight_bound();
    zero only when the operator knows no process is writing), fail what was claimed with nothing sent, close the
    interrupted cycles and prune the settled journal."""
    now = now or timezone.now()
    cutoff = now - (write_in_flight_bound() if older_than is None else older_than)
    report = RecoveryReport()
    _settle_unsent(cutoff, report)
    token = f"{RECOVERY_ACTOR} {uuid.uuid4().hex[:12]}"  # this run's claims: an expired one is not settled
    claimed = _claim(cutoff=cutoff, now=now, token=token)
    if claimed:
        try:
            with node_writer(actor=RECOVERY_ACTOR) as node:
                for journal in claimed:
                    _reconcile(journal, node, token, report)
        except SourceError as exc:  # no writer: they stay unsettled, and the next run tries again
            report.error = str(exc)
            logger.warning("recovery could not reach our node: %s", exc)
            for journal in claimed:
                if _unclaim(journal, token):
                    report.unknown.append(journal.pk)
    report.cycles_closed = _close_interrupted_cycles(now=now, cycles=report.cycles)
    report.pruned, _ = PolicyWrite.objects.filter(settled_at__lt=now - SETTLED_WRITES_KEPT).delete()
    return report


def _claim(*, cutoff: datetime, now: datetime, token: str) -> list[PolicyWrite]:
    """The interrupted writes (older than the cutoff) and those their writer released, each claimed for this run by
    a conditional UPDATE: unsettled, and unclaimed or claimed by a recovery that died (a claim older than the
    cutoff)."""
    not_in_flight = Q(started_at__lte=cutoff) | Q(released_at__isnull=False)
    rows = PolicyWrite.objects.filter(not_in_flight, settled_at__isnull=True, recovers__isnull=True).filter(
        Q(claimed_by="") | Q(claimed_at__lte=cutoff)
    )
    claimed = []
    for row in rows.select_related("channel", "decision").order_by("started_at", "id"):
        taken = PolicyWrite.objects.filter(
            pk=row.pk, settled_at__isnull=True, claimed_by=row.claimed_by, claimed_at=row.claimed_at
        ).update(claimed_by=token, claimed_at=now)
        if taken == 1:
            claimed.append(row)
    return claimed


def _unclaim(journal: PolicyWrite, token: str) -> bool:
    """Not settled: unclaimed again, so that the next run (or its writer) takes it."""
    return (
        PolicyWrite.objects.filter(pk=journal.pk, claimed_by=token, settled_at__isnull=True).update(
            claimed_by="", claimed_at=None
        )
        == 1
    )


def _settle_claimed(
    journal: PolicyWrite, token: str, outcome: str, now: datetime, *, put_back: PolicyWrite | None = None
) -> bool:
    """In the recording transaction: settle the row this run claimed, and any put-back an earlier, killed recovery
    left under it. False when the claim was lost (this run outlived the bound): then nothing is recorded."""
    settled = PolicyWrite.objects.filter(pk=journal.pk, claimed_by=token, settled_at__isnull=True).update(
        settled_at=now, outcome=outcome
    )
    if settled:
        leftovers = PolicyWrite.objects.filter(recovers=journal, settled_at__isnull=True)
        if put_back is not None:
            leftovers = leftovers.exclude(pk=put_back.pk)
        leftovers.update(claimed_by=token, claimed_at=now, settled_at=now, outcome=Outcome.UNKNOWN)
    return settled == 1


def _reconcile(journal: PolicyWrite, node: NodeWriter, token: str, report: RecoveryReport) -> None:
    before, target = Policy.from_dict(journal.before), Policy.from_dict(journal.target)
    try:
        live = node.read(journal.channel)
    except SourceError as exc:
        logger.warning("recovery: channel %s of write %s unreadable: %s", journal.channel.chan_id, journal.pk, exc)
        _unclaim(journal, token)
        report.unknown.append(journal.pk)
        return
    if live.same_terms(target):
        done = _took(journal, live, token, source=node.source.name)
        (report.took if done else report.unknown).append(journal.pk)
    elif live.same_terms(before):
        done = _not_taken(journal, live, token, source=node.source.name)
        (report.not_taken if done else report.unknown).append(journal.pk)
    else:
        done = _put_back(journal, node, live, token, report)
    if done and journal.decision is not None and journal.decision.cycle_id:
        report.cycles.add(journal.decision.cycle_id)


def _what(journal: PolicyWrite) -> str:
    return f"the {journal.get_purpose_display().lower()} by {journal.actor} (write {journal.pk})"


def _ended(journal: PolicyWrite, interrupted: str) -> str:
    """Which write, and how it ended for its writer, as an audit reason says it."""
    if journal.released_at is not None:
        return f"{_what(journal)} was left unknown by its writer (the node could not be read after it)"
    return f"{_what(journal)} {interrupted}"


def _took(journal: PolicyWrite, live: Policy, token: str, *, source: str) -> bool:
    now = timezone.now()
    with transaction.atomic():
        if not _settle_claimed(journal, token, Outcome.TOOK, now):
            return False
        if journal.purpose == Purpose.APPLY:
            if journal.decision_id is not None:  # an apply's journal always names its decision
                Decision.objects.filter(pk=journal.decision_id).update(
                    status=Decision.Status.APPLIED, applied_at=now, failure_reason="", updated_at=now
                )
        else:
            rolled_back_settle(
                channel=journal.channel, decision=journal.decision, rollback_to=journal.rollback_to, took=True
            )
        policy_store(channel=journal.channel, policy=live, set_at=now)
        audit(
            TOOK_ACTION[Purpose(journal.purpose)],
            actor=RECOVERY_ACTOR,
            channel=journal.channel,
            decision=journal.decision,
            before=journal.before,
            after=live,
            reason=f"{_ended(journal, 'was interrupted after the node took it')}; found on the node by recovery",
            source=source,
            at=now,
        )
    return True


def _not_taken(journal: PolicyWrite, live: Policy, token: str, *, source: str) -> bool:
    reason = f"{_ended(journal, 'was interrupted before the node took it')}; the node keeps its previous policy"
    now = timezone.now()
    with transaction.atomic():
        if not _settle_claimed(journal, token, Outcome.KEPT, now):
            return False
        _undone(journal, reason, now)
        policy_store(channel=journal.channel, policy=live, set_at=now)
        audit(
            AuditEntry.Action.APPLY_FAILED,
            actor=RECOVERY_ACTOR,
            channel=journal.channel,
            decision=journal.decision,
            before=live,
            after=live,
            reason=reason,
            source=source,
            at=now,
        )
    return True


def _undone(journal: PolicyWrite, reason: str, now: datetime) -> None:
    """The write is not in force: an apply failed, a rollback was not done (its decision applied again)."""
    if journal.purpose == Purpose.APPLY:
        if journal.decision_id is not None:  # an apply's journal always names its decision
            Decision.objects.filter(pk=journal.decision_id).update(
                status=Decision.Status.FAILED, failure_reason=reason, updated_at=now
            )
    else:
        rolled_back_settle(
            channel=journal.channel, decision=journal.decision, rollback_to=journal.rollback_to, took=False
        )


def _put_back(journal: PolicyWrite, node: NodeWriter, live: Policy, token: str, report: RecoveryReport) -> bool:
    """The node holds neither: put back the policy the interrupted write started from, the one careful way."""
    before = Policy.from_dict(journal.before)
    write = policy_change(
        node=node,
        channel=journal.channel,
        live=live,
        target=before,
        purpose=Purpose.RECOVERY,
        actor=RECOVERY_ACTOR,
        decision=journal.decision,
        recovers=journal,
    )
    if write.found is None:  # still unknown: settle the put-back, leave the write for the next run
        write_settle(write.journal, outcome=write.outcome, by=RECOVERY_ACTOR)
        _unclaim(journal, token)
        report.unknown.append(journal.pk)
        return False
    return _record_put_back(journal, write, token, report)


def _record_put_back(journal: PolicyWrite, write: ChangeResult, token: str, report: RecoveryReport) -> bool:
    took = write.outcome == Outcome.TOOK
    reason = f"{_ended(journal, 'was interrupted')}; the node held neither its target nor backup {journal.backup_id}"
    reason = f"{reason}; backup {journal.backup_id} was put back" if took else f"{reason}: {write.summary()}"
    now = timezone.now()
    with transaction.atomic():
        outcome = Outcome.RESTORED if took else Outcome.UNKNOWN
        if not _settle_claimed(journal, token, outcome, now, put_back=write.journal):
            return False
        write_settle(write.journal, outcome=write.outcome, by=RECOVERY_ACTOR, now=now)
        _undone(journal, reason, now)
        policy_write_record(
            write,
            channel=journal.channel,
            actor=RECOVERY_ACTOR,
            action=AuditEntry.Action.APPLY_FAILED,
            reason=reason,
            decision=journal.decision,
        )
    (report.restored if took else report.unknown).append(journal.pk)
    return True


def _settle_unsent(cutoff: datetime, report: RecoveryReport) -> None:
    """Decisions claimed (applying, rolling back) by a process that stopped before it journalled a write: nothing
    was sent. Claimed again by a conditional UPDATE, so that two recoveries never both settle one."""
    unsettled = PolicyWrite.objects.filter(decision=OuterRef("pk"), settled_at__isnull=True)
    stuck = Decision.objects.filter(
        status__in=(Decision.Status.APPLYING, Decision.Status.ROLLING_BACK), updated_at__lte=cutoff
    ).exclude(Exists(unsettled))
    for decision in stuck:
        applying = decision.status == Decision.Status.APPLYING
        what = "applying" if applying else "rolling back"
        reason = f"{what} was interrupted before anything was sent; nothing sent now, the next cycle decides"
        with transaction.atomic():
            now = timezone.now()
            settled = Decision.objects.filter(
                pk=decision.pk, status=decision.status, updated_at=decision.updated_at
            ).update(
                status=Decision.Status.FAILED if applying else Decision.Status.APPLIED,
                failure_reason=reason if applying else decision.failure_reason,
                updated_at=now,
            )
            if not settled:
                continue
            audit(
                AuditEntry.Action.APPLY_FAILED,
                actor=RECOVERY_ACTOR,
                channel=decision.channel,
                decision=decision,
                reason=reason,
                at=now,
            )
        report.unsent.append(decision.pk)
        if decision.cycle_id:
            report.cycles.add(decision.cycle_id)


def _close_interrupted_cycles(*, now: datetime, cycles: set[int]) -> int:
    """Cycles whose write recovery settled (their process is gone), and those unfinished beyond the time limit."""
    interrupted = Q(pk__in=cycles) | Q(started_at__lte=now - cycle_interrupted_after())
    closed = 0
    for cycle in FeeCycle.objects.filter(interrupted, finished_at__isnull=True):
        summary = {**cycle.summary, "error": INTERRUPTED_CYCLE}
        closed += FeeCycle.objects.filter(pk=cycle.pk, finished_at__isnull=True).update(
            finished_at=now, summary=summary
        )
    return closed
