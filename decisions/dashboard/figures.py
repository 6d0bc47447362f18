"""The node's figures as the overview, the stats JSON and Umbrel's widgets show them: one read, `overview_figures`.

Everything is aggregated in the database, so the number of queries does not grow with the number of channels,
days or decisions; only the circuit breakers are read once per enabled source (a handful, configured by hand).

Forwards are stored per period (a UTC day, or an hour): a window ("Today", "7 days", "30 days") is the last N UTC
days, today so far included, and counts the periods that start in it (decisions.dashboard.days, the rule every page
uses); `covered_from` says where it starts.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Aggregate, Case, Count, Exists, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value, When

from channels.models import Channel, ChannelActivity, Node
from daznode.context_processors import MODE_LABELS
from daznode.lightning import MSAT_PER_SAT
from decisions.dashboard.days import days_label, days_start, in_last_days
from decisions.dashboard.needs import RECENT, Need, overview_needs
from decisions.dashboard.queue_selectors import FEE_KINDS, KIND_LABEL_OF, RECOMMENDATION_KINDS, STATUS_LABEL_OF
from decisions.engine import Kind
from decisions.executor import kill_switch_engaged
from decisions.models import Decision, FeeCycle, PolicyBackup
from sources.connect import breaker_for
from sources.models import GraphSnapshot, HealthCheck, Source
from sources.snapshots import snapshot_staleness

WINDOWS = (("today", 1), ("7d", 7), ("30d", 30))  # key (in /umbrel-ui/api/stats), UTC days
CHANGES_SHOWN = 20  # lines of the latest cycle on the overview; the queue lists them all


@dataclass(frozen=True)
class ChannelFigures:
    open_count: int
    active_count: int
    capacity_sat: int
    local_balance_sat: int
    remote_balance_sat: int
    ever_synced: bool  # any channel row at all: without one, forwarding figures are unknown, not zero

    @property
    def inactive_count(self) -> int:
        return self.open_count - self.active_count

    @property
    def balance_total_sat(self) -> int:
        return self.local_balance_sat + self.remote_balance_sat

    @property
    def local_share(self) -> float | None:
        """Our share of the balances (local / (local + remote)); reserves and in-flight HTLCs are in neither."""
        total = self.local_balance_sat + self.remote_balance_sat
        return self.local_balance_sat / total if total else None

    @property
    def remote_share(self) -> float | None:
        share = self.local_share
        return None if share is None else 1 - share


@dataclass(frozen=True)
class RoutingWindow:
    key: str  # "7d"
    days: int  # UTC days, today included
    start: datetime  # midnight UTC of its first day: the earliest period counted starts there or later
    end: datetime  # now
    fees_earned_msat: int | None  # None: our node was never synced
    amount_out_msat: int | None
    forwards_out_count: int | None

    @property
    def label(self) -> str:
        return days_label(self.days)

    @property
    def covered_from(self) -> datetime:
        return self.start

    @property
    def fees_earned_sat(self) -> int | None:
        return None if self.fees_earned_msat is None else self.fees_earned_msat // MSAT_PER_SAT


@dataclass(frozen=True)
class SourceState:
    name: str
    kind: str
    enabled: bool
    status: str  # up, down or unknown (never checked), from its latest health check
    circuit: str  # closed, open or half_open
    checked_at: datetime | None
    error: str

    @property
    def down(self) -> bool:
        return self.enabled and (self.status == "down" or self.circuit == "open")


@dataclass(frozen=True)
class GraphFigures:
    snapshot_id: int
    source_name: str
    fetched_at: datetime
    expires_at: datetime
    stale: bool
    stale_reason: str  # a StaleReason, "" when fresh
    stale_since: datetime | None


@dataclass(frozen=True)
class ChangeLine:
    """A decision of the latest cycle that proposes something: a fee change or a recommendation."""

    decision_id: int
    chan_id: int
    peer: Node
    kind: str
    kind_label: str
    status: str
    status_label: str
    old_fee_rate_ppm: int | None
    new_fee_rate_ppm: int | None
    why: str
    blocked_by: str  # the first safety limit it broke, "" when none


@dataclass(frozen=True)
class CycleFigures:
    cycle: FeeCycle
    counts: tuple[tuple[str, str, int], ...]  # (kind label, status label, count)
    decision_count: int
    changes: tuple[ChangeLine, ...]  # at most CHANGES_SHOWN
    change_count: int

    @property
    def duration(self) -> timedelta | None:
        return None if self.cycle.finished_at is None else self.cycle.finished_at - self.cycle.started_at

    @property
    def duration_s(self) -> float | None:
        duration = self.duration
        return None if duration is None else duration.total_seconds()

    @property
    def mode_label(self) -> str:
        return MODE_LABELS.get(self.cycle.mode, self.cycle.mode)

    @property
    def error(self) -> str:
        return str(self.cycle.summary.get("error") or "") if isinstance(self.cycle.summary, dict) else ""

    @property
    def notes(self) -> list[str]:
        notes = self.cycle.summary.get("notes") if isinstance(self.cycle.summary, dict) else None
        return [str(note) for note in notes] if isinstance(notes, list) else []


@dataclass(frozen=True)
class OverviewFigures:
    now: datetime
    node: Node | None
    mode: str
    kill_switch_engaged: bool
    channels: ChannelFigures
    routing: tuple[RoutingWindow, ...]
    pending_recommendation_count: int
    waiting_fee_change_count: int
    needs: tuple[Need, ...]
    sources: tuple[SourceState, ...]
    graph: GraphFigures | None
    cycle: CycleFigures | None

    @property
    def mode_label(self) -> str:
        return MODE_LABELS.get(self.mode, self.mode)

    def window(self, key: str) -> RoutingWindow:
        return next(window for window in self.routing if window.key == key)


def overview_figures(*, now: datetime) -> OverviewFigures:
    channels = channel_figures()
    decisions = _decision_counts(now=now)
    sources = source_states()
    graph = graph_figures(now=now)
    engaged = kill_switch_engaged()
    needs = overview_needs(
        now=now, kill_switch_engaged=engaged, decision_counts=decisions, sources=sources, graph=graph
    )
    return OverviewFigures(
        now=now,
        node=Node.objects.filter(is_ours=True).first(),
        mode=settings.DAZNODE_DECISION_MODE,
        kill_switch_engaged=engaged,
        channels=channels,
        routing=routing_windows(now=now, known=channels.ever_synced),
        pending_recommendation_count=decisions["recommendations"],
        waiting_fee_change_count=decisions["fee_changes"],
        needs=needs,
        sources=sources,
        graph=graph,
        cycle=latest_cycle_figures(),
    )


def channel_figures() -> ChannelFigures:
    is_open = Q(closed_at__isnull=True)
    totals = Channel.objects.aggregate(
        every=Count("id"),
        open=Count("id", filter=is_open),
        active=Count("id", filter=is_open & Q(active=True)),
        capacity_sat=Sum("capacity_sat", filter=is_open, default=0),
        local_sat=Sum("local_balance_sat", filter=is_open, default=0),
        remote_sat=Sum("remote_balance_sat", filter=is_open, default=0),
    )
    return ChannelFigures(
        open_count=totals["open"],
        active_count=totals["active"],
        capacity_sat=int(totals["capacity_sat"]),
        local_balance_sat=int(totals["local_sat"]),
        remote_balance_sat=int(totals["remote_sat"]),
        ever_synced=totals["every"] > 0,
    )


def routing_windows(*, now: datetime, known: bool = True) -> tuple[RoutingWindow, ...]:
    """Fees earned, amount sent out and forwards out over each window, closed channels included (what they earned
    was earned), in one query. `known=False` (no channel ever synced) gives None figures: unknown, not zero."""
    aggregates: dict[str, Aggregate] = {}
    for key, days in WINDOWS:
        counted = in_last_days(now=now, days=days)
        aggregates[f"{key}_fees"] = Sum("fees_earned_msat", filter=counted, default=0)
        aggregates[f"{key}_amount"] = Sum("amount_out_msat", filter=counted, default=0)
        aggregates[f"{key}_forwards"] = Sum("forwards_out_count", filter=counted, default=0)
    longest = max(days for _, days in WINDOWS)
    totals = ChannelActivity.objects.filter(in_last_days(now=now, days=longest)).aggregate(**aggregates)
    return tuple(
        RoutingWindow(
            key=key,
            days=days,
            start=days_start(now=now, days=days),
            end=now,
            fees_earned_msat=int(totals[f"{key}_fees"]) if known else None,
            amount_out_msat=int(totals[f"{key}_amount"]) if known else None,
            forwards_out_count=int(totals[f"{key}_forwards"]) if known else None,
        )
        for key, days in WINDOWS
    )


def _decision_counts(*, now: datetime) -> dict[str, int]:
    """Open recommendations and fee changes, and the recent failures, in one query (status is indexed). A failure
    counts until a newer decision on its channel exists (the next cycle decided afresh); it counts apart when a
    policy was sent (backed up first) and when nothing was sent (a stale policy, the node unreachable, ...)."""
    pending_recommendation = Q(status=Decision.Status.PENDING, kind__in=RECOMMENDATION_KINDS)
    waiting_fee_change = Q(status__in=Decision.OPEN_STATUSES, kind__in=FEE_KINDS)
    newer = Decision.objects.filter(channel=OuterRef("channel"), created_at__gt=OuterRef("created_at"))
    failed = Q(status=Decision.Status.FAILED, updated_at__gte=now - RECENT) & ~Q(Exists(newer))
    sent = Q(Exists(PolicyBackup.objects.filter(decision=OuterRef("pk"))))
    failed_sent, failed_unsent = failed & sent, failed & ~sent
    counts = Decision.objects.filter(pending_recommendation | waiting_fee_change | failed).aggregate(
        recommendations=Count("id", filter=pending_recommendation),
        recommendation_id=Min("id", filter=pending_recommendation),
        fee_changes=Count("id", filter=waiting_fee_change),
        fee_change_id=Min("id", filter=waiting_fee_change),
        failed_sent=Count("id", filter=failed_sent),
        failed_sent_id=Min("id", filter=failed_sent),
        failed_unsent=Count("id", filter=failed_unsent),
        failed_unsent_id=Min("id", filter=failed_unsent),
    )
    return counts


def source_states() -> tuple[SourceState, ...]:
    """Every source with its latest health check (one query) and its circuit breaker (one read each)."""
    latest = HealthCheck.objects.filter(source=OuterRef("pk")).order_by("-checked_at", "-id")
    rows: QuerySet[Source] = Source.objects.annotate(
        last_ok=Subquery(latest.values("ok")[:1]),
        last_at=Subquery(latest.values("checked_at")[:1]),
        last_error=Subquery(latest.values("error")[:1]),
    ).order_by("priority", "name")
    states = []
    for source in rows:
        last_ok = source.last_ok  # type: ignore[attr-defined]
        states.append(
            SourceState(
                name=source.name,
                kind=source.get_kind_display(),
                enabled=source.enabled,
                status="unknown" if last_ok is None else ("up" if last_ok else "down"),
                circuit=breaker_for(source).state() if source.enabled else "closed",
                checked_at=source.last_at,  # type: ignore[attr-defined]
                error=(source.last_error or "") if last_ok is False else "",  # type: ignore[attr-defined]
            )
        )
    return tuple(states)


def graph_figures(*, now: datetime) -> GraphFigures | None:
    snapshot = (
        GraphSnapshot.objects.select_related("source")
        .only("id", "source__name", "fetched_at", "expires_at")
        .order_by("-fetched_at", "-id")
        .first()
    )
    if snapshot is None:
        return None
    staleness = snapshot_staleness(snapshot, now=now)
    return GraphFigures(
        snapshot_id=snapshot.pk,
        source_name=snapshot.source.name if snapshot.source else "",
        fetched_at=snapshot.fetched_at,
        expires_at=snapshot.expires_at,
        stale=staleness.stale,
        stale_reason=staleness.reason,
        stale_since=staleness.since,
    )


def latest_cycle_figures() -> CycleFigures | None:
    cycle = FeeCycle.objects.order_by("-started_at", "-id").first()
    if cycle is None:
        return None
    grouped = (
        Decision.objects.filter(cycle=cycle).values("kind", "status").annotate(n=Count("id")).order_by("kind", "status")
    )
    counts = tuple(
        (KIND_LABEL_OF.get(row["kind"], row["kind"]), STATUS_LABEL_OF.get(row["status"], row["status"]), row["n"])
        for row in grouped
    )
    proposing = Decision.objects.filter(cycle=cycle).exclude(kind=Kind.NO_ACTION.value)
    recommendation_first = Case(When(kind__in=RECOMMENDATION_KINDS, then=Value(0)), default=Value(1))
    shown = proposing.select_related("channel__peer").order_by(recommendation_first, "kind", "channel__chan_id", "id")
    shown = shown.defer("sub_scores", "rejections")[:CHANGES_SHOWN]
    return CycleFigures(
        cycle=cycle,
        counts=counts,
        decision_count=sum(n for _, _, n in counts),
        changes=tuple(_change_line(decision) for decision in shown),
        change_count=sum(row["n"] for row in grouped if row["kind"] != Kind.NO_ACTION.value),
    )


def _change_line(decision: Decision) -> ChangeLine:
    current, proposed = decision.current_policy or {}, decision.proposed_policy or {}
    return ChangeLine(
        decision_id=decision.pk,
        chan_id=decision.channel.chan_id,
        peer=decision.channel.peer,
        kind=decision.kind,
        kind_label=decision.get_kind_display(),
        status=decision.status,
        status_label=decision.get_status_display(),
        old_fee_rate_ppm=current.get("fee_rate_ppm") if proposed else None,
        new_fee_rate_ppm=proposed.get("fee_rate_ppm"),
        why=decision_why(decision.reasons),
        blocked_by=_blocked_by(decision.reasons),
    )


def _blocked_by(reasons: object) -> str:
    found = (r for r in reasons if isinstance(r, str) and r.startswith("Blocked:")) if isinstance(reasons, list) else ()
    return next(iter(found), "")


def decision_why(reasons: object) -> str:
    """The one sentence that says why: the engine's first sentence gives the score, the second what it concluded."""
    if not isinstance(reasons, list):
        return ""
    sentences = [r for r in reasons if isinstance(r, str) and not r.startswith("Blocked:")]
    if not sentences:
        return ""
    return sentences[1] if len(sentences) > 1 else sentences[0]
