"""The channels list's figures: our channels filtered, sorted and a page at a time, each row with its latest score,
last decision and recent forwards.

The list's cost does not grow with the history: a channel's latest score and last decision are each one probe of an
index ((channel, -computed_at), (channel, -created_at)), made for the page's rows only, and for every channel only
when the list is sorted or filtered by them. One channel's page reads decisions.dashboard.channel_figures.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import BigIntegerField, Case, F, FloatField, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Cast, Coalesce, Lower

from channels.models import Channel, ChannelActivity
from channels.selectors import scores_newest_first
from daznode.lightning import parse_chan_id
from decisions.dashboard.days import days_label, days_start, in_last_days
from decisions.dashboard.queue_selectors import KIND_LABEL_OF, STATUS_LABEL_OF, policy_value, status_badge
from decisions.models import Decision

PAGE_SIZE = 100
DRAINED_BELOW = 0.2  # local share under 20 %: little left to forward out
FULL_ABOVE = 0.8  # over 80 %: little room to receive
RECENT_DAYS = 7  # the list's forwards and fees, and the channel page's days: today and the six before
RECENT_LABEL = days_label(RECENT_DAYS)  # "7 days", as the overview and the widgets say it

STATES = {"open": "Open", "active": "Active", "inactive": "Inactive", "closed": "Closed", "all": "All"}
DEFAULT_STATE = "open"
LIQUIDITY = {
    "drained": f"Drained (local under {DRAINED_BELOW:.0%})",
    "balanced": "Balanced",
    "full": f"Full (local over {FULL_ABOVE:.0%})",
}
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


def recent_start(now: datetime) -> datetime:
    """Midnight UTC six days before today's: with today, RECENT_DAYS UTC days, as every page counts them."""
    return days_start(now=now, days=RECENT_DAYS)


def _last_decision() -> QuerySet[Decision]:
    return Decision.objects.filter(channel=OuterRef("pk")).order_by("-created_at", "-id")


def _recent_sum(field: str, now: datetime) -> Coalesce:
    sums = (
        ChannelActivity.objects.filter(in_last_days(now=now, days=RECENT_DAYS), channel=OuterRef("pk"))
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
    return {
        "peer_alias": lambda: Lower("peer__alias"),
        "local_share": _local_share,
        "score_total": lambda: Subquery(scores_newest_first().values("total_score")[:1]),
        "decision_at": lambda: Subquery(_last_decision().values("created_at")[:1]),
        "decision_kind": lambda: Subquery(_last_decision().values("kind")[:1]),
        "forwards_out_recent": lambda: _recent_sum("forwards_out_count", now),
        "fees_earned_recent_msat": lambda: _recent_sum("fees_earned_msat", now),
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
        return KIND_LABEL_OF.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return STATUS_LABEL_OF.get(self.status, self.status)

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
        return policy_value("base_fee_msat", self.channel.base_fee_msat)

    @property
    def inbound_base_fee_text(self) -> str:
        return policy_value("inbound_base_fee_msat", self.channel.inbound_base_fee_msat)


def channel_rows(*, ids: list[int], now: datetime) -> list[ChannelRow]:
    """The rows of one page, in the order of `ids`: one query, whatever the history's length."""
    decision = _last_decision()
    channels = (
        Channel.objects.filter(id__in=ids)
        .select_related("peer")
        .annotate(
            score_total=Subquery(scores_newest_first().values("total_score")[:1]),
            score_at=Subquery(scores_newest_first().values("computed_at")[:1]),
            decision_pk=Subquery(decision.values("id")[:1]),
            decision_kind=Subquery(decision.values("kind")[:1]),
            decision_status=Subquery(decision.values("status")[:1]),
            decision_at=Subquery(decision.values("created_at")[:1]),
            forwards_out_recent=_recent_sum("forwards_out_count", now),
            fees_earned_recent_msat=_recent_sum("fees_earned_msat", now),
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
