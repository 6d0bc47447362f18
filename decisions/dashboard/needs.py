"""What needs the operator, as the overview, the stats JSON and Umbrel's "needs you" widget list it: one `Need` per
thing to do, a sentence and the page where the operator acts on it, the most urgent first (`overview_needs`).

The figures it judges come from decisions.dashboard.figures (read once for the whole overview); what only the
needs look at (interrupted policy writes, failed restores and rollbacks in the write journal) is aggregated here,
one query each. A failure needs the operator only until something later settles it: a newer decision on the
channel, or a later write or recorded change of its policy.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet
from django.urls import reverse

from decisions.conf import mode_label
from decisions.models import POLICY_CHANGING_ACTIONS, AuditEntry, KillSwitch, Mode, PolicyWrite
from decisions.policy_change import write_in_flight_bound
from sources.snapshots import StaleReason

if TYPE_CHECKING:  # figures imports this module to build the overview: its types only, for the signatures
    from decisions.dashboard.figures import GraphFigures, SourceState

RECENT = timedelta(days=7)  # a failure older than this no longer asks for the operator on the overview
QUEUE = "the decision queue"
KILL_SWITCH_ANCHOR = "#kill-switch"  # the queue page's kill switch section, where its form is
# A write after which the node was read: what the channel holds is known again.
KNOWN_OUTCOMES = (PolicyWrite.Outcome.TOOK, PolicyWrite.Outcome.KEPT, PolicyWrite.Outcome.RESTORED)
ROLLBACK_PURPOSES = (PolicyWrite.Purpose.ROLLBACK, PolicyWrite.Purpose.CHANNEL_ROLLBACK)
SOURCES = "Sources"
STALE_REASONS = {
    StaleReason.EXPIRED: "older than its time to live",
    StaleReason.FETCH_FAILED: "the latest fetch from its source failed",
    StaleReason.SOURCE_DOWN: "its source failed its latest health check",
}


class Severity:
    DANGER, WARN, INFO = "danger", "warn", "info"


SEVERITY_ORDER = {Severity.DANGER: 0, Severity.WARN: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Need:
    """One thing that needs the operator: a sentence, and the page where they act on it."""

    key: str
    severity: str
    count: int
    title: str  # a few words, for Umbrel's widget
    text: str  # the sentence the overview shows
    url: str
    place: str  # where the link leads, for its text: "the decision queue"


def overview_needs(
    *,
    now: datetime,
    kill_switch_engaged: bool,
    decision_counts: dict,
    sources: "tuple[SourceState, ...]",
    graph: "GraphFigures | None",
) -> tuple[Need, ...]:
    """Every need, the most urgent first. `decision_counts` is figures' one count of the decisions that wait or
    failed (with the smallest id of each, for a link to the decision itself when there is only one)."""
    needs = [
        *_kill_switch_needs(kill_switch_engaged),
        *_decision_needs(decision_counts),
        *_write_needs(now=now),
        *_rollback_needs(now=now),
        *_source_needs(sources),
        *_graph_needs(graph),
    ]
    return tuple(sorted(needs, key=lambda need: SEVERITY_ORDER[need.severity]))


def _decisions_link(count: int, decision_id: int | None) -> tuple[str, str]:
    """One decision: its own page; several: the queue."""
    if count == 1 and decision_id is not None:
        return reverse("ui:decision", args=[decision_id]), "the decision"
    return reverse("ui:decisions"), QUEUE


def _channel_link(count: int, chan_id: int | None) -> tuple[str, str]:
    if count == 1 and chan_id is not None:
        return reverse("ui:channel", args=[chan_id]), "the channel"
    return reverse("ui:decisions"), QUEUE


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def kill_switch_url() -> str:
    """The kill switch's section of the queue page: the switch itself (ui:kill-switch) only takes a POST."""
    return reverse("ui:decisions") + KILL_SWITCH_ANCHOR


def _kill_switch_needs(engaged: bool) -> list[Need]:
    if not engaged:
        return []
    switch = KillSwitch.objects.filter(pk=1).first()
    why = f" ({switch.reason})" if switch is not None and switch.engaged and switch.reason else ""
    source = " DAZNODE_KILL_SWITCH engages it from the environment." if settings.DAZNODE_KILL_SWITCH else ""
    text = f"The kill switch is on{why}: Daznode changes no policy, not even one you apply.{source}"
    return [Need("kill_switch", Severity.DANGER, 1, "Kill switch on", text, kill_switch_url(), "the kill switch")]


def _decision_needs(counts: dict) -> list[Need]:
    needs = []
    if n := counts["recommendations"]:
        title = _plural(n, "recommendation to review", "recommendations to review")
        text = (
            f"{_plural(n, 'recommendation waits', 'recommendations wait')} for your approval (rebalance or close a "
            "channel): Daznode only recommends them, you act with your own tools."
        )
        link = _decisions_link(n, counts["recommendation_id"])
        needs.append(Need("recommendations", Severity.WARN, n, title, text, *link))
    if n := counts["fee_changes"]:
        title = _plural(n, "fee change to apply", "fee changes to apply")
        text = f"{_plural(n, 'fee change waits', 'fee changes wait')} to be applied."
        if settings.DAZNODE_DECISION_MODE != Mode.LIVE:
            text += (
                f" Daznode is in {mode_label()} mode: nothing reaches your node unless you apply one and confirm "
                "“apply live anyway”."
            )
        needs.append(Need("fee_changes", Severity.INFO, n, title, text, *_decisions_link(n, counts["fee_change_id"])))
    return needs + _failed_decision_needs(counts)


def _failed_decision_needs(counts: dict) -> list[Need]:
    """A failed decision is never applied again: the operator reads why, and the next cycle decides afresh (its
    newer decision clears the failure). Only a failure after which a policy was sent asks them to act now."""
    needs = []
    afresh = "A failed decision is not applied again: the next fee cycle decides afresh for its channel."
    if n := counts["failed_sent"]:
        title = _plural(n, "failed apply", "failed applies")
        text = (
            f"{_plural(n, 'decision', 'decisions')} failed to apply in the last {RECENT.days} days after Daznode sent "
            f"the policy: read why on the decision, which says what the node holds. {afresh}"
        )
        link = _decisions_link(n, counts["failed_sent_id"])
        needs.append(Need("failed_decisions", Severity.DANGER, n, title, text, *link))
    if n := counts["failed_unsent"]:
        title = _plural(n, "apply not sent", "applies not sent")
        text = (
            f"{_plural(n, 'decision', 'decisions')} could not be applied in the last {RECENT.days} days and nothing "
            "was sent (for instance, the policy had changed since the decision): read why if it repeats. "
            f"{afresh}"
        )
        link = _decisions_link(n, counts["failed_unsent_id"])
        needs.append(Need("unsent_decisions", Severity.INFO, n, title, text, *link))
    return needs


def _write_needs(*, now: datetime) -> list[Need]:
    """Policy writes that left a channel's policy in doubt: interrupted ones waiting for recovery, and put-backs
    that failed with no later write that settled the channel."""
    waiting = Q(settled_at__isnull=True) & (
        Q(released_at__isnull=False) | Q(started_at__lt=now - write_in_flight_bound())
    )
    later_known = _later_known_write()
    unrestored = Q(outcome=PolicyWrite.Outcome.UNKNOWN, settled_at__gte=now - RECENT) & ~Q(Exists(later_known))
    writes = PolicyWrite.objects.filter(waiting | unrestored).aggregate(
        waiting=Count("channel", distinct=True, filter=waiting),
        waiting_chan=Min("channel__chan_id", filter=waiting),
        unrestored=Count("channel", distinct=True, filter=unrestored),
        unrestored_chan=Min("channel__chan_id", filter=unrestored),
    )
    needs = []
    if n := writes["waiting"]:
        title = _plural(n, "write to recover", "writes to recover")
        text = (
            f"A policy write on {_plural(n, 'channel', 'channels')} was interrupted and waits for recovery: what the "
            "node holds there is unknown until recovery reads it at its next run."
        )
        link = _channel_link(n, writes["waiting_chan"])
        needs.append(Need("writes_awaiting_recovery", Severity.DANGER, n, title, text, *link))
    if n := writes["unrestored"]:
        title = _plural(n, "failed restore", "failed restores")
        text = (
            f"Putting the previous policy back failed on {_plural(n, 'channel', 'channels')} in the last "
            f"{RECENT.days} days: check the node's policy there and roll the channel back."
        )
        needs.append(
            Need("failed_restores", Severity.DANGER, n, title, text, *_channel_link(n, writes["unrestored_chan"]))
        )
    return needs


def _later_known_write() -> QuerySet[PolicyWrite]:
    """A write on the same channel, started after the outer one, after which the node was read."""
    return PolicyWrite.objects.filter(
        channel=OuterRef("channel"), started_at__gt=OuterRef("started_at"), outcome__in=KNOWN_OUTCOMES
    )


def _rollback_needs(*, now: datetime) -> list[Need]:
    """Rollbacks the node did not take: it kept, or had put back, the policy the rollback meant to replace. Not an
    apply refused by the safety limits (nothing was sent, its decision is blocked), not a failed decision (counted
    apart), not a put-back that left the node holding neither (a failed restore, _write_needs). Until a later write
    on the channel was read back, or a later change of its policy was recorded (an "already in place" rollback, a
    change made outside Daznode)."""
    later_change = AuditEntry.objects.filter(
        channel=OuterRef("channel"), at__gt=OuterRef("settled_at"), action__in=POLICY_CHANGING_ACTIONS
    )
    failed = PolicyWrite.objects.filter(
        purpose__in=ROLLBACK_PURPOSES,
        outcome__in=(PolicyWrite.Outcome.KEPT, PolicyWrite.Outcome.RESTORED),
        settled_at__gte=now - RECENT,
    ).exclude(Exists(_later_known_write()) | Exists(later_change))
    found = failed.aggregate(
        count=Count("channel", distinct=True), decision_id=Min("decision_id"), chan_id=Min("channel__chan_id")
    )
    if not (n := found["count"]):
        return []
    title = _plural(n, "failed rollback", "failed rollbacks")
    text = (
        f"A rollback failed on {_plural(n, 'channel', 'channels')} in the last {RECENT.days} days: the node kept "
        "the policy the rollback meant to replace. Read why, then roll back again."
    )
    link = _decisions_link(n, found["decision_id"]) if found["decision_id"] else _channel_link(n, found["chan_id"])
    return [Need("failed_rollbacks", Severity.DANGER, n, title, text, *link)]


def _source_needs(sources: "tuple[SourceState, ...]") -> list[Need]:
    needs = []
    for source in (source for source in sources if source.down):
        if source.circuit == "open":
            text = f"Source “{source.name}” is down: its circuit is open after repeated failures, so it is not called."
        else:
            text = f"Source “{source.name}” failed its latest health check" + (
                f": {source.error}" if source.error else "."
            )
        needs.append(
            Need("source_down", Severity.DANGER, 1, f"{source.name} down", text, reverse("ui:sources"), SOURCES)
        )
    return needs


def _graph_needs(graph: "GraphFigures | None") -> list[Need]:
    url = reverse("ui:sources")
    if graph is None:
        text = "There is no network graph yet: channels are scored and fees decided only once one is fetched."
        return [Need("no_graph", Severity.WARN, 1, "No graph yet", text, url, SOURCES)]
    if not graph.stale:
        return []
    why = STALE_REASONS.get(graph.stale_reason, graph.stale_reason)
    text = f"The network graph is stale ({why}): scores and decisions rest on a graph that may be out of date."
    return [Need("stale_graph", Severity.WARN, 1, "Stale graph", text, url, SOURCES)]
