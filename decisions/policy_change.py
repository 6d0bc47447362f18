"""Changing one channel's policy on the node: the one way the executor, a rollback and recovery all do it.

    journal the write -> back up the live policy -> send the complete policy -> read it back
    -> on anything else, put the backup back -> settle the journal row with the record of what the node holds

The read is the only truth. An answer that leaves the node's state uncertain (a timeout, a cut connection, a
garbled body, a 5xx after sending) is followed by a read before anything is concluded, on the way forward and
on the way back (the put-back). A policy is sent again only when that read shows the node does not have it,
and at most MAX_SENDS times: LND gossips every update it accepts, so a blind resend is one more announcement to
the whole network, and a refusal (LND listing the channel in failed_updates, a 4xx) would only be repeated.

Every write is journalled first (models.PolicyWrite, committed in its own transaction before anything is sent),
and settled by the writer with a conditional UPDATE in the transaction that records the outcome. A process
killed at any instant in between leaves the row unsettled: the sync leaves the channel alone and recovery
(decisions.recovery) settles it by reading the node once it is older than write_in_flight_bound(). Only a policy
read from the node is ever recorded: when nothing could be read after a write (LND down, the circuit open, every
read garbled), the writer does not settle its row but releases it (write_release), and recovery settles it at
its next run, by reading the node, without waiting for the bound.
"""

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from channels.models import Channel
from daznode.lightning import Policy
from decisions.audit import audit
from decisions.models import AuditEntry, Decision, PolicyBackup, PolicyWrite
from decisions.writer import READ_ATTEMPTS, NodeWriter
from sources.clients.errors import CircuitOpenError, ContractViolation, SourceError, SourceTimeout, SourceUnavailable
from sources.clients.http import ClientConfig

logger = logging.getLogger(__name__)

MAX_SENDS = 3
UNREAD_NOTE = (
    "the node could not be read back after it, so what it holds is unknown: recovery (recover_policy_writes) reads "
    "it at its next run and settles this; the channel is held until then"
)
Outcome = PolicyWrite.Outcome
Purpose = PolicyWrite.Purpose
_CLIENT_DEFAULTS = ClientConfig(name="defaults", base_url="")  # sources.connect builds every client with these
# A read is retried by the HTTP layer (network errors, 5xx) with backoff between attempts.
HTTP_READ_ATTEMPTS = 1 + _CLIENT_DEFAULTS.max_retries
BACKOFF_MAX_S = _CLIENT_DEFAULTS.backoff_max_s


def write_in_flight_bound() -> timedelta:
    """The longest one policy write can take, derived from DAZNODE_SOURCE_TIMEOUT: a write (or recovery's claim of
    one) older than this is no longer in flight, its process is gone. Each request may wait up to a timeout for the
    client-side rate limit, then take its own timeout; a read is READ_ATTEMPTS reads of HTTP_READ_ATTEMPTS tries;
    the forward write and the put-back are up to MAX_SENDS sends, each followed by a read; recovery reads once
    before it writes."""
    request_s = 2 * settings.DAZNODE_SOURCE_TIMEOUT.total_seconds()
    read_s = READ_ATTEMPTS * HTTP_READ_ATTEMPTS * (request_s + BACKOFF_MAX_S)
    one_way_s = MAX_SENDS * (request_s + read_s)
    return timedelta(seconds=read_s + 2 * one_way_s)


class ChannelBusy(Exception):
    """Another write to the channel is in flight or awaits recovery: nothing was sent."""


@dataclass(frozen=True)
class ChangeResult:
    """What became of one change: the policy before, the one sent, what the node holds as far as it could be read
    (None: it could not), why the change did not simply take, and its journal row."""

    outcome: Outcome
    before: Policy
    sent: Policy
    found: Policy | None
    backup: PolicyBackup
    journal: PolicyWrite
    problem: str = ""

    @property
    def known(self) -> bool:
        """The node was read after the last thing sent: what it holds can be recorded."""
        return self.found is not None

    def summary(self) -> str:
        if self.outcome == Outcome.TOOK:
            return "the node took the policy"
        found = self.found
        if found is None:
            return f"{self.problem}; {UNREAD_NOTE}"
        outcome = {
            Outcome.KEPT: "the node kept its previous policy",
            Outcome.RESTORED: f"the previous policy was restored from backup {self.backup.pk}",
            Outcome.UNKNOWN: (
                f"RESTORING BACKUP {self.backup.pk} FAILED: the node holds neither it nor the policy sent "
                f"(fee rate {found.fee_rate_ppm} ppm); check it and use rollback_channel"
            ),
        }[self.outcome]
        return f"{self.problem}; {outcome}"


def channel_write_unsettled(channel: Channel) -> bool:
    """A write to the channel is in flight, or was interrupted and awaits recovery."""
    return PolicyWrite.objects.filter(channel=channel, settled_at__isnull=True).exists()


def unsettled_write_channels() -> set[int]:
    return set(PolicyWrite.objects.filter(settled_at__isnull=True).values_list("channel_id", flat=True))


def _uncertain(exc: SourceError) -> bool:
    """The request may have reached LND and been carried out, though the answer says otherwise or nothing."""
    if isinstance(exc, CircuitOpenError):
        return False  # refused before sending
    return isinstance(exc, (SourceTimeout, SourceUnavailable, ContractViolation))


def policy_put(*, node: NodeWriter, channel: Channel, policy: Policy) -> tuple[Policy | None, str]:
    """Send `policy` until the node holds it, at most MAX_SENDS times, reading back after every answer.

    Returns what the node holds at the last read (None when it could not be read) and "" when that is `policy`,
    otherwise why not."""
    problem = ""
    for _ in range(MAX_SENDS):
        resend = False
        try:
            node.send(channel, policy)
        except SourceError as exc:
            problem, resend = f"the update failed: {exc}", _uncertain(exc)
        found = node.read_or_none(channel)
        if found is not None and found.same_terms(policy):
            return found, ""
        if found is None:
            return None, problem or "the node could not be read back after the update"
        if not resend:
            return found, problem or f"verification mismatch: {_mismatch(policy, found)}"
        logger.warning("channel %s: not taken after %s; sending it again", channel.chan_id, problem)
    return found, problem


def policy_change(
    *,
    node: NodeWriter,
    channel: Channel,
    live: Policy,
    target: Policy,
    purpose: str,
    actor: str,
    decision: Decision | None = None,
    rollback_to: datetime | None = None,
    recovers: PolicyWrite | None = None,
) -> ChangeResult:
    """Journal and back up `live`, send `target` complete (keeping the node's `disabled` flag, which LND manages)
    and verify; when the node ends with anything but `target` or `live`, put `live` back the same careful way.
    The caller settles the journal row (write_settle) in the transaction that records the result. Raises
    ChannelBusy, having sent nothing, when another write to the channel is unsettled."""
    to_send = replace(target, disabled=live.disabled)
    journal = _journal(
        node=node,
        channel=channel,
        live=live,
        to_send=to_send,
        purpose=purpose,
        actor=actor,
        decision=decision,
        rollback_to=rollback_to,
        recovers=recovers,
    )
    backup = journal.backup
    found, problem = policy_put(node=node, channel=channel, policy=to_send)
    if not problem:
        return ChangeResult(Outcome.TOOK, live, to_send, found, backup, journal)
    if found is not None and found.same_terms(live):
        return ChangeResult(Outcome.KEPT, live, to_send, found, backup, journal, problem)
    restored, restore_problem = policy_put(node=node, channel=channel, policy=live)
    if not restore_problem:
        return ChangeResult(Outcome.RESTORED, live, to_send, restored, backup, journal, problem)
    logger.error("channel %s: putting back backup %s failed: %s", channel.chan_id, backup.pk, restore_problem)
    # Only the read after the put-back counts: an earlier one may predate a put-back the node took.
    return ChangeResult(Outcome.UNKNOWN, live, to_send, restored, backup, journal, problem)


def _journal(*, node: NodeWriter, channel: Channel, live: Policy, to_send: Policy, recovers, **row) -> PolicyWrite:
    """The backup and the journal row, committed before anything is sent (callers hold no transaction open
    around a write): whatever happens next, recovery finds them."""
    try:
        with transaction.atomic():
            backup = PolicyBackup.objects.create(
                channel=channel, decision=row["decision"], policy=live.to_dict(), read_from=node.source.name
            )
            return PolicyWrite.objects.create(
                channel=channel,
                backup=backup,
                before=live.to_dict(),
                target=to_send.to_dict(),
                source=node.source.name,
                recovers=recovers,
                **row,
            )
    except IntegrityError:  # one_unsettled_policy_write_per_channel: someone else is writing this channel
        raise ChannelBusy(
            f"another policy write to channel {channel.chan_id} is in flight or awaits recovery; nothing was sent"
        ) from None


def write_settle(journal: PolicyWrite, *, outcome: str, by: str, now: datetime | None = None) -> bool:
    """Settle the writer's own journal row, unless recovery claimed it first (then recovery's record stands and
    the writer records nothing). Call it first inside the transaction that records the outcome."""
    settled = PolicyWrite.objects.filter(pk=journal.pk, settled_at__isnull=True, claimed_by="").update(
        claimed_by=by, claimed_at=now or timezone.now(), settled_at=now or timezone.now(), outcome=outcome
    )
    if not settled:
        logger.warning("policy write %s on channel %s was settled by recovery first", journal.pk, journal.channel_id)
    return settled == 1


def write_release(journal: PolicyWrite, *, now: datetime | None = None) -> bool:
    """The writer gives up its unsettled row: nothing could be read after the write, so there is nothing true to
    record. The row stays unsettled (the channel held) and, no longer in flight, is settled by recovery's next run.
    False when recovery claimed it first. Call it inside the transaction that notes this on the decision."""
    released = PolicyWrite.objects.filter(pk=journal.pk, settled_at__isnull=True, claimed_by="").update(
        released_at=now or timezone.now()
    )
    if released:
        logger.warning(
            "policy write %s on channel %s: the node could not be read back; left to recovery",
            journal.pk,
            journal.channel_id,
        )
    return released == 1


def policy_write_record(
    write: ChangeResult, *, channel: Channel, actor: str, action: str, reason: str, decision: Decision | None = None
) -> AuditEntry:
    """Store what the node holds on the channel row and audit the change: `action` when it took, APPLY_FAILED
    (with the outcome) otherwise. Only for a write whose outcome was read (`write.known`); call it inside the
    transaction that also settles the decision."""
    if write.found is None:
        raise ValueError("nothing was read from the node after the write: release it (write_release) instead")
    now = timezone.now()
    policy_store(channel=channel, policy=write.found, set_at=now)
    took = write.outcome == Outcome.TOOK
    return audit(
        action if took else AuditEntry.Action.APPLY_FAILED,
        actor=actor,
        channel=channel,
        decision=decision,
        before=write.before,
        after=write.found,
        reason=reason if took else f"{reason}: {write.summary()}" if reason else write.summary(),
        source=write.backup.read_from,
        at=now,
    )


def _mismatch(expected: Policy, found: Policy) -> str:
    return "; ".join(
        f"{name} sent {value}, node has {found.terms()[name]}"
        for name, value in expected.terms().items()
        if found.terms()[name] != value
    )


def policy_store(*, channel: Channel, policy: Policy, set_at: datetime | None = None) -> None:
    """The node's policy as Daznode now knows it; `set_at` when Daznode set it (newer than any earlier readout)."""
    channel.set_policy(policy)
    if set_at is not None:
        channel.policy_set_at = set_at
    channel.save()
