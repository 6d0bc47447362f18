"""What the channels pages show: the list (filtered, sorted, a page at a time) and one channel's figures.

Reads only. The list's cost does not grow with the history: a channel's latest score and last decision are each
one probe of an index ((channel, -computed_at), (channel, -created_at)), made for the page's rows only, and for
every channel only when the list is sorted or filtered by them. The peer's policy toward us comes from the graph
snapshot the latest score was computed on, read once per snapshot and cached; the competition's fees are the ones
the competitiveness heuristic stored with the score.
"""

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import (
    BigIntegerField,
    Case,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Lower, TruncDate

from channels.models import Channel, ChannelActivity, ChannelScore
from channels.scoring import HEURISTICS
from daznode.lightning import parse_chan_id
from daznode.templatetags.daznode_format import MISSING, ppm
from decisions.engine import KIND_LABELS
from decisions.models import POLICY_CHANGING_ACTIONS, AuditEntry, Decision, PolicyBackup
from sources.graph import DIRECTION_FIELDS, CompactGraph
from sources.models import GraphSnapshot

PAGE_SIZE = 100
DRAINED_BELOW = 0.2  # local share under 20 %: little left to forward out
FULL_ABOVE = 0.8  # over 80 %: little room to receive
RECENT_DAYS = 7  # the list's forwards and fees, and the channel page's days: today and the six before
DECISIONS_SHOWN = 20
HISTORY_SHOWN = 20
# Snapshots never change once stored: the cache's lifetime only bounds how long an old one's entry stays around.
PEER_POLICIES_CACHE_SECONDS = 24 * 3600
PEER_POLICIES_CACHE_KEY = "dashboard:peer-policies:v1:{snapshot_id}:{content_hash}"

STATES = {"open": "Open", "active": "Active", "inactive": "Inactive", "closed": "Closed", "all": "All"}
DEFAULT_STATE = "open"
LIQUIDITY = {
    "drained": f"Drained (local under {DRAINED_BELOW:.0%})",
    "balanced": "Balanced",
    "full": f"Full (local over {FULL_ABOVE:.0%})",
}
KINDS = {kind.value: label for kind, label in KIND_LABELS.items()}
STATUS_LABELS = dict(Decision.Status.choices)
# Column (?sort=, "-" for descending) -> the field or annotation it sorts on.
SORTS = {
    "peer": "peer_alias",
    "capacity": "capacity_sat",
    "local": "local_share",
    "fee_out": "fee_rate_ppm",
    "fee_in": "inbound_fee_rate_ppm",
    "score": "score_total",
    "decision": "decision_at",
    "active": "active",
    "forwards": "forwards_out_recent",
    "fees": "fees_earned_recent_msat",
    "chan_id": "chan_id",
}
DEFAULT_SORT = "-capacity"
STATUS_BADGES: dict[str, str] = {
    Decision.Status.APPLIED: "badge-ok",
    Decision.Status.PENDING: "badge-warn",
    Decision.Status.APPROVED: "badge-warn",
    Decision.Status.FAILED: "badge-danger",
    Decision.Status.BLOCKED: "badge-danger",
}
POLICY_LABELS = {
    "fee_rate_ppm": "Fee rate",
    "base_fee_msat": "Base fee",
    "inbound_fee_rate_ppm": "Inbound fee rate",
    "inbound_base_fee_msat": "Inbound base fee",
    "time_lock_delta": "Time lock delta",
    "min_htlc_msat": "Min HTLC",
    "max_htlc_msat": "Max HTLC",
    "disabled": "Disabled",
}


# ----- formatting shared by the rows (units the template filters do not cover) -----


def msat_text(value: object) -> str:
    """Base fees and HTLC limits in msat, the unit LND shows them in (a base fee of 500 msat is not "0 sat")."""
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        return MISSING
    return f"{value:,} msat"


def policy_value_text(name: str, value: object) -> str:
    if name == "disabled":
        return MISSING if value is None else ("yes" if value else "no")
    if name.endswith("_ppm"):
        return ppm(value) if isinstance(value, int) and not isinstance(value, bool) else MISSING
    if name.endswith("_msat"):
        return msat_text(value)
    return MISSING if value is None else str(value)


def heuristic_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def status_badge(status: str) -> str:
    return STATUS_BADGES.get(status, "badge-info")


def recent_start(now: datetime) -> datetime:
    """Midnight UTC six days before today's: with today, RECENT_DAYS daily buckets."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=RECENT_DAYS - 1)


# ----- the list -----


def _latest_score() -> QuerySet[ChannelScore]:
    return ChannelScore.objects.filter(channel=OuterRef("pk")).order_by("-computed_at", "-id")


def _last_decision() -> QuerySet[Decision]:
    return Decision.objects.filter(channel=OuterRef("pk")).order_by("-created_at", "-id")


def _recent_sum(field: str, since: datetime) -> Coalesce:
    sums = (
        ChannelActivity.objects.filter(channel=OuterRef("pk"), period_start__gte=since)
        .values("channel")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(Subquery(sums, output_field=BigIntegerField()), Value(0))


def _local_share() -> Case:
    """Channel.local_ratio() in SQL: HTLCs we have in flight count as ours."""
    ours = Cast(F("local_balance_sat") + F("pending_outgoing_sat"), FloatField())
    return Case(
        When(capacity_sat=0, then=Value(0.0)),
        default=ours / Cast(F("capacity_sat"), FloatField()),
        output_field=FloatField(),
    )


def _annotations(*, now: datetime) -> dict:
    """What the list may filter or sort on beyond the columns, each built only when asked for."""
    since = recent_start(now)
    return {
        "peer_alias": lambda: Lower("peer__alias"),
        "local_share": _local_share,
        "score_total": lambda: Subquery(_latest_score().values("total_score")[:1]),
        "decision_at": lambda: Subquery(_last_decision().values("created_at")[:1]),
        "decision_kind": lambda: Subquery(_last_decision().values("kind")[:1]),
        "forwards_out_recent": lambda: _recent_sum("forwards_out_count", since),
        "fees_earned_recent_msat": lambda: _recent_sum("fees_earned_msat", since),
    }


def _search(q: str) -> Q:
    found = Q(peer__alias__icontains=q) | Q(peer__pubkey__icontains=q.lower())
    try:
        return found | Q(chan_id=parse_chan_id(q))
    except ValueError:
        return found


def _state_filter(state: str) -> Q:
    open_ = Q(closed_at__isnull=True)
    return {
        "open": open_,
        "active": open_ & Q(active=True),
        "inactive": open_ & Q(active=False),
        "closed": Q(closed_at__isnull=False),
        "all": Q(),
    }[state]


def _liquidity_filter(liquidity: str) -> Q:
    return {
        "drained": Q(local_share__lt=DRAINED_BELOW),
        "balanced": Q(local_share__gte=DRAINED_BELOW, local_share__lte=FULL_ABOVE),
        "full": Q(local_share__gt=FULL_ABOVE),
    }[liquidity]


def channel_list(
    *, q: str = "", state: str = DEFAULT_STATE, liquidity: str = "", kind: str = "", sort: str = DEFAULT_SORT, now
) -> QuerySet[Channel]:
    """Our channels, filtered and ordered, with only the annotations the filters and the order need. The values
    are the ones the page accepts (it checks them first). Channels never scored or never decided sort last both
    ways; chan_id breaks ties, so that pages never overlap."""
    field = SORTS[sort.removeprefix("-")]
    needed = {field, "local_share" if liquidity else "", "decision_kind" if kind else ""}
    available = _annotations(now=now)
    channels = Channel.objects.annotate(**{name: make() for name, make in available.items() if name in needed})
    channels = channels.filter(_state_filter(state))
    if q:
        channels = channels.filter(_search(q))
    if liquidity:
        channels = channels.filter(_liquidity_filter(liquidity))
    if kind:
        channels = channels.filter(Q(decision_kind=kind))
    ordered = F(field).desc(nulls_last=True) if sort.startswith("-") else F(field).asc(nulls_last=True)
    return channels.order_by(ordered, "chan_id")


@dataclass(frozen=True)
class LastDecision:
    pk: int
    kind: str
    status: str
    created_at: datetime

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def badge(self) -> str:
        return status_badge(self.status)


@dataclass(frozen=True)
class ChannelRow:
    channel: Channel
    local_ratio: float
    score_total: float | None
    score_at: datetime | None
    last_decision: LastDecision | None
    forwards_out_recent: int
    fees_earned_recent_msat: int

    @property
    def local_percent(self) -> int:
        """For the bar's width."""
        return round(self.local_ratio * 100)

    @property
    def base_fee_text(self) -> str:
        return msat_text(self.channel.base_fee_msat)

    @property
    def inbound_base_fee_text(self) -> str:
        return msat_text(self.channel.inbound_base_fee_msat)


def channel_rows(*, ids: list[int], now: datetime) -> list[ChannelRow]:
    """The rows of one page, in the order of `ids`: one query, whatever the history's length."""
    since = recent_start(now)
    decision = _last_decision()
    channels = (
        Channel.objects.filter(id__in=ids)
        .select_related("peer")
        .annotate(
            score_total=Subquery(_latest_score().values("total_score")[:1]),
            score_at=Subquery(_latest_score().values("computed_at")[:1]),
            decision_pk=Subquery(decision.values("id")[:1]),
            decision_kind=Subquery(decision.values("kind")[:1]),
            decision_status=Subquery(decision.values("status")[:1]),
            decision_at=Subquery(decision.values("created_at")[:1]),
            forwards_out_recent=_recent_sum("forwards_out_count", since),
            fees_earned_recent_msat=_recent_sum("fees_earned_msat", since),
        )
    )
    by_id = {channel.id: channel for channel in channels}
    return [_row(by_id[pk]) for pk in ids if pk in by_id]


def _row(channel) -> ChannelRow:
    last = None
    if channel.decision_pk is not None:
        last = LastDecision(channel.decision_pk, channel.decision_kind, channel.decision_status, channel.decision_at)
    return ChannelRow(
        channel=channel,
        local_ratio=channel.local_ratio(),
        score_total=channel.score_total,
        score_at=channel.score_at,
        last_decision=last,
        forwards_out_recent=channel.forwards_out_recent,
        fees_earned_recent_msat=channel.fees_earned_recent_msat,
    )


# ----- one channel -----


def channel_by_chan_id(*, chan_id: int) -> Channel | None:
    return Channel.objects.select_related("peer").filter(chan_id=chan_id).first()


def channel_latest_score(*, channel: Channel) -> ChannelScore | None:
    return channel.scores.order_by("-computed_at", "-id").first()


@dataclass(frozen=True)
class SubScore:
    name: str
    label: str
    value: float
    weight: float | None
    reason: str

    @property
    def contribution(self) -> float | None:
        return None if self.weight is None else self.value * self.weight


def score_breakdown(*, score: ChannelScore) -> list[SubScore]:
    weights = score.weights if isinstance(score.weights, dict) else {}
    reasons = score.reasons if isinstance(score.reasons, dict) else {}
    return [
        SubScore(
            name=name,
            label=heuristic_label(name),
            value=value,
            weight=_number(weights.get(name)),
            reason=str(reasons.get(name, "")),
        )
        for name, value in score.sub_scores().items()
    ]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Competition:
    """Our fee rate against what the peer's other partners charge toward it (as scored), and the network's."""

    our_fee_rate_ppm: int
    competitor_rates_ppm: tuple[int, ...]
    network_median_ppm: float | None
    as_of: datetime | None

    @property
    def median_ppm(self) -> float | None:
        return statistics.median(self.competitor_rates_ppm) if self.competitor_rates_ppm else None

    @property
    def lowest_ppm(self) -> int | None:
        return min(self.competitor_rates_ppm, default=None)

    @property
    def highest_ppm(self) -> int | None:
        return max(self.competitor_rates_ppm, default=None)

    @property
    def cheaper_count(self) -> int:
        """How many competitors charge less than we do."""
        return sum(1 for rate in self.competitor_rates_ppm if rate < self.our_fee_rate_ppm)

    @property
    def versus_median(self) -> float | None:
        """Our rate over the median, minus one: 0.25 is 25 % dearer, -0.5 half the price."""
        median = self.median_ppm
        return None if not median else self.our_fee_rate_ppm / median - 1

    @property
    def versus_median_size(self) -> float | None:
        versus = self.versus_median
        return None if versus is None else abs(versus)


def channel_competition(*, channel: Channel, score: ChannelScore | None) -> Competition:
    fees = score.inputs.get("fees") if score is not None and isinstance(score.inputs, dict) else None
    fees = fees if isinstance(fees, dict) else {}
    rates = fees.get("peer_inbound_fee_rates_ppm")
    rates = rates if isinstance(rates, list) else []
    return Competition(
        our_fee_rate_ppm=channel.fee_rate_ppm,
        competitor_rates_ppm=tuple(
            sorted(rate for rate in rates if isinstance(rate, int) and not isinstance(rate, bool) and rate >= 0)
        ),
        network_median_ppm=_number(fees.get("network_median_fee_rate_ppm")),
        as_of=score.computed_at if score is not None else None,
    )


@dataclass(frozen=True)
class PeerPolicy:
    """The peer's side of the channel as the graph showed it: what it charges to forward toward us."""

    base_fee_msat: int | None
    fee_rate_ppm: int | None
    time_lock_delta: int | None
    disabled: bool | None
    as_of: datetime


def _known(value: int) -> int | None:
    return None if value < 0 else value  # -1: the direction has no policy in the graph


def _peer_policies(snapshot_id: int) -> dict:
    """The peer's (base, rate, time lock delta, disabled) for each of our channels in the snapshot, and which
    channels that covers (a channel opened since is read again). The compact form only: a snapshot without it is
    not worth parsing its whole document for one page."""
    peers = dict(Channel.objects.values_list("chan_id", "peer__pubkey"))
    found: dict[int, tuple[int, ...]] = {}
    result = {"covered": set(peers), "policies": found}
    compact = GraphSnapshot.objects.filter(id=snapshot_id).values_list("compact", flat=True).first()
    if not compact:
        return result
    try:
        graph = CompactGraph.from_bytes(bytes(compact))
    except ValueError:
        return result
    edges = graph.edges
    for j, chan_id in enumerate(edges["channel_id"]):
        peer = peers.get(chan_id)
        if peer is not None:
            side = "node1" if graph.pubkeys[edges["node1"][j]] == peer else "node2"
            found[chan_id] = tuple(edges[f"{side}_{name}"][j] for name in DIRECTION_FIELDS)
    return result


def peer_policy_toward_us(*, channel: Channel, score: ChannelScore | None) -> PeerPolicy | None:
    """From the snapshot the latest score was computed on (the one the competition figures come from), read
    once per snapshot for all our channels and cached."""
    if score is None or score.snapshot_id is None:
        return None
    snapshot = GraphSnapshot.objects.filter(id=score.snapshot_id).values("fetched_at", "content_hash").first()
    if snapshot is None:
        return None
    key = PEER_POLICIES_CACHE_KEY.format(snapshot_id=score.snapshot_id, content_hash=snapshot["content_hash"])
    cached = cache.get(key)
    if cached is None or channel.chan_id not in cached["covered"]:
        cached = _peer_policies(score.snapshot_id)
        cache.set(key, cached, PEER_POLICIES_CACHE_SECONDS)
    values = cached["policies"].get(channel.chan_id)
    if values is None:
        return None
    base, rate, delta, disabled = values
    return PeerPolicy(
        base_fee_msat=_known(base),
        fee_rate_ppm=_known(rate),
        time_lock_delta=_known(delta),
        disabled=None if disabled < 0 else bool(disabled),
        as_of=snapshot["fetched_at"],
    )


@dataclass(frozen=True)
class DayForwards:
    day: date
    forwards_in_count: int
    forwards_out_count: int
    failed_forwards_count: int
    amount_out_msat: int
    fees_earned_msat: int


DAY_FIELDS = ("forwards_in_count", "forwards_out_count", "failed_forwards_count", "amount_out_msat", "fees_earned_msat")


def channel_recent_days(*, channel: Channel, now: datetime) -> list[DayForwards]:
    """Today and the six days before (UTC), newest first, a day without forwards as zeros."""
    since = recent_start(now)
    sums = (
        ChannelActivity.objects.filter(channel=channel, period_start__gte=since)
        .annotate(day=TruncDate("period_start", tzinfo=UTC))
        .values("day")
        .annotate(**{name: Sum(name) for name in DAY_FIELDS})
    )
    by_day: dict[date, Any] = {row["day"]: row for row in sums}
    days = [since.date() + timedelta(days=offset) for offset in range(RECENT_DAYS)]
    return [_day(day, by_day.get(day, {})) for day in reversed(days)]


def _day(day: date, sums: dict[str, Any]) -> DayForwards:
    return DayForwards(
        day=day,
        forwards_in_count=sums.get("forwards_in_count") or 0,
        forwards_out_count=sums.get("forwards_out_count") or 0,
        failed_forwards_count=sums.get("failed_forwards_count") or 0,
        amount_out_msat=sums.get("amount_out_msat") or 0,
        fees_earned_msat=sums.get("fees_earned_msat") or 0,
    )


@dataclass(frozen=True)
class FieldChange:
    label: str
    before: str
    after: str


def policy_changes(before: object, after: object) -> list[FieldChange]:
    """The fields two stored policies (dicts) differ in, formatted; every field when `before` is unknown."""
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    return [
        FieldChange(label, policy_value_text(name, old.get(name)), policy_value_text(name, new.get(name)))
        for name, label in POLICY_LABELS.items()
        if old.get(name) != new.get(name)
    ]


@dataclass(frozen=True)
class PolicyEvent:
    entry: AuditEntry
    changes: list[FieldChange]


def channel_policy_events(*, channel: Channel, limit: int = HISTORY_SHOWN) -> tuple[list[PolicyEvent], bool]:
    """The audit rows after which the node held a new policy, newest first, and whether there are more."""
    entries = list(
        AuditEntry.objects.filter(channel=channel, action__in=POLICY_CHANGING_ACTIONS).order_by("-at", "-id")[
            : limit + 1
        ]
    )
    events = [PolicyEvent(entry, policy_changes(entry.before, entry.after)) for entry in entries[:limit]]
    return events, len(entries) > limit


def policy_fields(policy: object) -> list[tuple[str, str]]:
    """A stored policy (dict) as (label, value) pairs, formatted."""
    stored = policy if isinstance(policy, dict) else {}
    return [(label, policy_value_text(name, stored.get(name))) for name, label in POLICY_LABELS.items()]


@dataclass(frozen=True)
class Backup:
    backup: PolicyBackup
    fields: list[tuple[str, str]]


def channel_backups(*, channel: Channel, limit: int = HISTORY_SHOWN) -> tuple[list[Backup], bool]:
    """The policies saved before Daznode changed the channel, newest first, and whether there are more."""
    backups = list(PolicyBackup.objects.filter(channel=channel).order_by("-taken_at", "-id")[: limit + 1])
    return [Backup(backup, policy_fields(backup.policy)) for backup in backups[:limit]], len(backups) > limit


@dataclass(frozen=True)
class DecisionView:
    decision: Decision
    changes: list[FieldChange]
    sub_scores: list[tuple[str, float]]
    rejections: list[str]

    @property
    def badge(self) -> str:
        return status_badge(self.decision.status)


def _decision_view(decision: Decision) -> DecisionView:
    stored = decision.sub_scores if isinstance(decision.sub_scores, dict) else {}
    sub_scores = [
        (heuristic_label(name), value) for name in HEURISTICS if (value := _number(stored.get(name))) is not None
    ]
    rejections = decision.rejections if isinstance(decision.rejections, list) else []
    return DecisionView(
        decision=decision,
        changes=policy_changes(decision.current_policy, decision.proposed_policy) if decision.proposed_policy else [],
        sub_scores=sub_scores,
        rejections=[str(item.get("message", item)) if isinstance(item, dict) else str(item) for item in rejections],
    )


def channel_decisions(*, channel: Channel, limit: int = DECISIONS_SHOWN) -> tuple[list[DecisionView], bool]:
    """The channel's decisions, newest first, and whether there are more than `limit`."""
    decisions = list(Decision.objects.filter(channel=channel).order_by("-created_at", "-id")[: limit + 1])
    return [_decision_view(decision) for decision in decisions[:limit]], len(decisions) > limit


def days_total(days: list[DayForwards]) -> DayForwards | None:
    """The days summed (dated the oldest day), for the table's total line."""
    if not days:
        return None
    return DayForwards(
        day=min(day.day for day in days), **{name: sum(getattr(day, name) for day in days) for name in DAY_FIELDS}
    )
