"""What the decisions queue reads, and how a decision reads for people: the groups that wait for the operator, the
history a page at a time, one decision with its backups and audit trail, and the policy formatting the channel
pages share (POLICY_FIELDS, policy_value, policy_rows).

Every query is bounded by the page, never by the number of decisions (see waiting_groups, decision_history).
"""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, Count, F, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.shortcuts import get_object_or_404
from django.urls import reverse

from channels.scoring import HEURISTICS
from daznode.context_processors import MODE_LABELS
from daznode.lightning import Policy
from daznode.templatetags.daznode_format import MISSING, ppm
from decisions.engine import FEE_CHANGES, RECOMMENDATIONS
from decisions.models import KIND_CHOICES, AuditEntry, Decision, PolicyBackup

WAITING_SHOWN = 20
HISTORY_PAGE_SIZE = 50
FEE_KINDS = [kind.value for kind in FEE_CHANGES]
RECOMMENDATION_KINDS = [kind.value for kind in RECOMMENDATIONS]
KIND_LABEL_OF = dict(KIND_CHOICES)
STATUS_LABEL_OF = dict(Decision.Status.choices)
# The fields a row of the queue shows of a fee change; the decision's page shows every field.
ROW_DIFF_FIELDS = ("fee_rate_ppm", "base_fee_msat")

S = Decision.Status
STATUS_BADGES: dict[str, str] = {
    S.PENDING: "badge-warn",
    S.APPROVED: "badge-info",
    S.APPLYING: "badge-info",
    S.APPLIED: "badge-ok",
    S.FAILED: "badge-danger",
    S.ROLLING_BACK: "badge-info",
    S.BLOCKED: "badge-warn",
}


def status_badge(status: str) -> str:
    """The badge's class of a decision's status, the same on every page; "" (plain) for the settled ones."""
    return STATUS_BADGES.get(status, "")


@dataclass(frozen=True)
class Action:
    name: str
    label: str  # the button
    done: str  # the past tense, for messages
    style: str = ""
    writes_node: bool = False


ACTIONS = {
    "approve": Action("approve", "Approve", "approved", "button-primary"),
    "reject": Action("reject", "Reject", "rejected"),
    "apply": Action("apply", "Apply", "applied", "button-primary", writes_node=True),
    "rollback": Action("rollback", "Roll back", "rolled back", "button-danger", writes_node=True),
}


def decision_actions(decision: Decision) -> list[Action]:
    """What an operator may ask of a decision in its status (the domain still has the last word)."""
    names = []
    if decision.status == S.PENDING:
        names += ["approve", "reject"]
    if decision.changes_policy and decision.status in Decision.OPEN_STATUSES:
        names.append("apply")
    if decision.status == S.APPLIED and decision.changes_policy:
        names.append("rollback")
    return [ACTIONS[name] for name in names]


# Policies as people read them


# The order the pages list them in; the channel page's backups table shows the first five by position.
POLICY_FIELDS = (
    ("fee_rate_ppm", "Fee rate"),
    ("base_fee_msat", "Base fee"),
    ("inbound_fee_rate_ppm", "Inbound fee rate"),
    ("inbound_base_fee_msat", "Inbound base fee"),
    ("time_lock_delta", "Time lock delta"),
    ("min_htlc_msat", "Min HTLC"),
    ("max_htlc_msat", "Max HTLC"),
    ("disabled", "Disabled"),
)


def policy_value(name: str, value: object) -> str:
    """One field of a stored policy, in its unit (base fees and HTLC limits in msat, as LND shows them: a base fee
    of 500 msat is not "0 sat"). A value of another type than the field's (stored JSON) is shown as unknown."""
    if name == "disabled":
        return MISSING if value is None else ("yes" if value else "no")
    if not isinstance(value, int) or isinstance(value, bool):
        return MISSING
    if name.endswith("_ppm"):
        return ppm(value)
    if name.endswith("_msat"):
        return f"{value:,} msat"
    return f"{value:,} blocks"


@dataclass(frozen=True)
class PolicyRow:
    name: str
    label: str
    old: str
    new: str
    changed: bool


def policy_rows(old: object, new: object, *, only_changed: bool = False) -> list[PolicyRow]:
    """Field by field, what a policy was and what it becomes. A side that is not a dict (None: not known) changes
    nothing; pass {} for "nothing before", so that every field the other side sets counts as changed."""
    before_policy = old if isinstance(old, dict) else None
    after_policy = new if isinstance(new, dict) else None
    rows = []
    for name, label in POLICY_FIELDS:
        before, after = (before_policy or {}).get(name), (after_policy or {}).get(name)
        changed = before_policy is not None and after_policy is not None and before != after
        if changed or not only_changed:
            rows.append(PolicyRow(name, label, policy_value(name, before), policy_value(name, after), changed))
    return rows


@dataclass(frozen=True)
class Links:
    """Where a row links to, built by concatenation from two reversed prefixes: reversing five URLs for each of
    a hundred rows was a fifth of the queue's time."""

    decisions: str
    channels: str

    @classmethod
    def current(cls) -> "Links":
        return cls(reverse("ui:decisions"), reverse("ui:channels"))


def decorate(decision: Decision, links: Links | None = None) -> Decision:
    """What the templates show of a decision beyond its fields."""
    links = links or Links.current()
    url = f"{links.decisions}/{decision.pk}"
    decision.url = url  # type: ignore[attr-defined]
    decision.channel_url = f"{links.channels}/{decision.channel.chan_id}"  # type: ignore[attr-defined]
    decision.actions = [(action, f"{url}/{action.name}") for action in decision_actions(decision)]  # type: ignore[attr-defined]
    decision.badge = status_badge(decision.status)  # type: ignore[attr-defined]
    decision.mode_label = MODE_LABELS.get(decision.mode, decision.mode)  # type: ignore[attr-defined]
    decision.diff_rows = [  # type: ignore[attr-defined]
        row
        for row in policy_rows(decision.current_policy, decision.proposed_policy, only_changed=True)
        if row.name in ROW_DIFF_FIELDS
    ]
    return decision


def decorate_all(decisions) -> list[Decision]:
    links = Links.current()
    return [decorate(decision, links) for decision in decisions]


# Selectors


@dataclass(frozen=True)
class WaitingGroup:
    title: str
    help: str
    count: int
    query: str  # the history's filter that lists all of them
    decisions: list[Decision] = field(default_factory=list)


WAITING = (
    (
        "recommendations",
        Q(status=S.PENDING, kind__in=RECOMMENDATION_KINDS),
        "Recommendations to approve",
        "Daznode never closes a channel or moves funds: approve to say you will act with your node's tools.",
        "status=pending",
    ),
    (
        "fee_changes",
        Q(status=S.PENDING, kind__in=FEE_KINDS),
        "Fee changes to apply",
        "Proposed fee changes, validated against the safety limits: apply one, or approve it to apply later.",
        "status=pending",
    ),
    (
        "approved",
        Q(status=S.APPROVED),
        "Approved",
        "Approved fee changes wait to be applied; approved recommendations wait for you to act on your node.",
        "status=approved",
    ),
)


def _queue_rows() -> QuerySet[Decision]:
    return (
        Decision.objects.select_related("channel__peer")
        .defer("sub_scores", "rejections", "channel__peer__first_seen_at")
        .order_by("-created_at", "-id")
    )


def waiting_groups(*, shown: int = WAITING_SHOWN) -> list[WaitingGroup]:
    """The non-empty groups of what waits for the operator, newest first, with their sizes: one query, whatever
    the number of groups or decisions (a window numbers the rows of each group and counts them)."""
    group = Case(*(When(where, then=Value(key)) for key, where, *_ in WAITING), default=Value(""))
    newest = [F("created_at").desc(), F("id").desc()]
    rows = (
        _queue_rows()
        .filter(status__in=Decision.OPEN_STATUSES)
        .annotate(
            group=group,
            rank=Window(RowNumber(), partition_by=[group], order_by=newest),
            group_size=Window(Count("pk"), partition_by=[group]),
        )
        .filter(rank__lte=shown)
        .exclude(group="")
    )
    by_group: dict[str, list[Decision]] = {}
    for decision in decorate_all(rows):
        by_group.setdefault(decision.group, []).append(decision)  # type: ignore[attr-defined]
    return [
        WaitingGroup(title, help_text, found[0].group_size, query, found)  # type: ignore[attr-defined]
        for key, _, title, help_text, query in WAITING
        if (found := by_group.get(key))
    ]


@dataclass(frozen=True)
class HistoryPage:
    """One page of the history, newest first, and where the pages beside it start (keyset pagination: no COUNT
    and no OFFSET over months of decisions)."""

    decisions: list[Decision]
    newer_after: int | None  # ?after= of the newer page, None when this is the newest
    older_before: int | None  # ?before= of the older page, None when this is the oldest


def decision_history(
    *, lookups: dict[str, Any], hide_no_action: bool, before: int | None = None, after: int | None = None
) -> HistoryPage:
    """Newest first by id, the order decisions are stored in, which the primary key's index serves without a sort."""
    rows = _queue_rows().filter(**lookups)
    if hide_no_action:
        rows = rows.exclude(kind=Decision.Kind.NO_ACTION)
    size = HISTORY_PAGE_SIZE
    if after is not None:
        window = list(rows.filter(pk__gt=after).order_by("pk")[: size + 1])
        page = window[:size][::-1]
        newer, older = len(window) > size, rows.filter(pk__lte=after).exists()
        edge_before: int | None = after + 1
        edge_after = None
    else:
        window = list((rows.filter(pk__lt=before) if before is not None else rows).order_by("-pk")[: size + 1])
        page = window[:size]
        newer, older = before is not None and rows.filter(pk__gte=before).exists(), len(window) > size
        edge_before, edge_after = None, (before - 1 if before is not None else None)
    return HistoryPage(
        decorate_all(page),
        newer_after=(page[0].pk if page else edge_after) if newer else None,
        older_before=(page[-1].pk if page else edge_before) if older else None,
    )


def decision_get(*, pk: int) -> Decision:
    decision = get_object_or_404(Decision.objects.select_related("channel__peer", "score", "cycle"), pk=pk)
    return decorate(decision)


def decision_backups(*, decision: Decision) -> list[PolicyBackup]:
    return list(decision.policy_backups.order_by("taken_at", "id"))


def decision_audit_trail(*, decision: Decision) -> list[AuditEntry]:
    return list(decision.audit_entries.order_by("at", "id"))


def changed_outside_since(*, decision: Decision) -> AuditEntry | None:
    """The newest change made outside Daznode to the decision's channel after it was applied, if any."""
    if decision.applied_at is None:
        return None
    rows = AuditEntry.objects.filter(
        channel=decision.channel_id, action=AuditEntry.Action.EXTERNAL_CHANGE, at__gt=decision.applied_at
    )
    return rows.order_by("-at", "-id").first()


def rollback_target(decision: Decision) -> dict | None:
    """The policy a rollback puts back: the backup taken just before the decision was applied."""
    backup = decision.policy_backups.order_by("taken_at", "id").first()
    return backup.policy if backup is not None else decision.current_policy


def rollback_needs_force(decision: Decision) -> bool:
    """The channel's policy is not the one the decision set (changed outside Daznode since)."""
    if decision.status != S.APPLIED or not decision.proposed_policy:
        return False
    if changed_outside_since(decision=decision) is not None:
        return True
    return not decision.channel.policy().same_terms(Policy.from_dict(decision.proposed_policy))


# Explanation


@dataclass(frozen=True)
class SubScore:
    """One heuristic's score of a channel, with its weight in the total and the heuristic's reason."""

    name: str
    label: str
    value: float | None
    weight: float | None
    reason: str

    @property
    def contribution(self) -> float | None:
        return None if self.weight is None or self.value is None else self.value * self.weight


def heuristic_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def sub_score_rows(decision: Decision) -> list[SubScore]:
    """The heuristics' scores when decided, with their weights and reasons from the score row when it still exists."""
    score = decision.score
    weights = score.weights if score is not None else {}
    reasons = score.reasons if score is not None else {}
    values = decision.sub_scores or {}
    names = [name for name in HEURISTICS if name in values] + sorted(set(values) - set(HEURISTICS))
    return [
        SubScore(name, heuristic_label(name), values[name], weights.get(name), reasons.get(name, "")) for name in names
    ]


def rejection_rows(decision: Decision) -> list[dict]:
    return [
        {
            "rule": rejection.get("rule", ""),
            "message": rejection.get("message", ""),
            "values": ", ".join(f"{key} = {value}" for key, value in (rejection.get("values") or {}).items()),
        }
        for rejection in decision.rejections or []
    ]


def audit_rows(entries: list[AuditEntry]) -> list[dict]:
    return [{"entry": entry, "diff": policy_rows(entry.before, entry.after, only_changed=True)} for entry in entries]
