"""The figures behind the dashboard's charts: one query each, aggregated in the database, returned as the plain
values chart_drawing draws. Days are UTC days, as ChannelActivity's periods are."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from django.db.models import Avg, Count, Max, OuterRef, Subquery, Sum
from django.db.models.functions import TruncDate

from channels.models import Channel, ChannelActivity, ChannelScore
from channels.scoring import HEURISTICS
from daznode.lightning import parse_chan_id
from decisions.dashboard.chart_drawing import ChannelBalance, DailyForwards, DailyRouting, DailyScores
from decisions.dashboard.days import days_start

ROUTING_DAYS = 30
FORWARDS_DAYS = 30
SCORE_HISTORY_DAYS = 90
PUBKEY_SHOWN = 12


@dataclass(frozen=True)
class ChartChannel:
    id: int
    chan_id: int
    alias: str  # the peer's, or the start of its pubkey


def routing_per_day(*, today: date, days: int = ROUTING_DAYS) -> list[DailyRouting]:
    """Fees, volume and forwards of all our channels per day, every day of the window (zero when none); an empty
    list when nothing was forwarded in the whole window."""
    rows = (
        ChannelActivity.objects.filter(period_start__gte=_window_start(today, days))
        .annotate(day=TruncDate("period_start", tzinfo=UTC))
        .values("day")
        .annotate(fees=Sum("fees_earned_msat"), amount=Sum("amount_out_msat"), forwards=Sum("forwards_out_count"))
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    if not by_day:
        return []
    return [
        DailyRouting(day, row["fees"], row["amount"], row["forwards"])
        if (row := by_day.get(day))
        else DailyRouting(day, 0, 0, 0)
        for day in _days(today, days)
    ]


def scores_version() -> tuple[int | None, int, int | None]:
    """What the score distribution depends on, cheaply: the newest score and the set of open channels."""
    newest = ChannelScore.objects.aggregate(newest=Max("id"))["newest"]
    channels = Channel.objects.filter(closed_at__isnull=True).aggregate(count=Count("id"), ids=Sum("id"))
    return newest, channels["count"], channels["ids"]


def latest_total_scores() -> list[float]:
    """The latest total score of every open channel that has one (one indexed lookup per channel, in one query)."""
    latest = ChannelScore.objects.filter(channel=OuterRef("pk")).order_by("-computed_at", "-id").values("total_score")
    totals = Channel.objects.filter(closed_at__isnull=True).annotate(total=Subquery(latest[:1]))
    return [total for total in totals.values_list("total", flat=True) if total is not None]


def channel_balances() -> list[ChannelBalance]:
    rows = (
        Channel.objects.filter(closed_at__isnull=True)
        .order_by("chan_id")
        .values_list(
            "chan_id",
            "peer__alias",
            "peer__pubkey",
            "capacity_sat",
            "local_balance_sat",
            "pending_outgoing_sat",
            "remote_balance_sat",
            "pending_incoming_sat",
        )
    )
    return [
        ChannelBalance(
            label=alias or f"{pubkey[:PUBKEY_SHOWN]}…",
            capacity_sat=capacity,
            local_sat=local + pending_out,
            remote_sat=remote + pending_in,
        )
        for _chan_id, alias, pubkey, capacity, local, pending_out, remote, pending_in in rows
    ]


def chart_channel(*, chan_id: str) -> ChartChannel | None:
    """The channel a chart URL names (LND's integer or BLOCKxTXxOUT), or None when malformed or unknown."""
    try:
        value = parse_chan_id(chan_id)
    except ValueError:
        return None
    row = Channel.objects.filter(chan_id=value).values_list("id", "peer__alias", "peer__pubkey").first()
    if row is None:
        return None
    channel_id, alias, pubkey = row
    return ChartChannel(id=channel_id, chan_id=value, alias=alias or f"{pubkey[:PUBKEY_SHOWN]}…")


def channel_scores_version(*, channel_id: int) -> int | None:
    """The channel's newest score (the index on channel, -computed_at finds it at once)."""
    newest = ChannelScore.objects.filter(channel_id=channel_id).order_by("-computed_at", "-id")
    return newest.values_list("id", flat=True).first()


def channel_score_history(*, channel_id: int, today: date, days: int = SCORE_HISTORY_DAYS) -> list[DailyScores]:
    """Daily means of a channel's total and sub-scores over the window: about 90 rows from about 2,000 hourly ones."""
    means = {name: Avg(f"{name}_score") for name in HEURISTICS}
    rows = (
        ChannelScore.objects.filter(channel_id=channel_id, computed_at__gte=_window_start(today, days))
        .annotate(day=TruncDate("computed_at", tzinfo=UTC))
        .values("day")
        .annotate(total=Avg("total_score"), **means)
        .order_by("day")
    )
    return [_daily_scores(cast(Mapping[str, Any], row)) for row in rows]


def _daily_scores(row: Mapping[str, Any]) -> DailyScores:
    return DailyScores(day=row["day"], total=row["total"], sub_scores=tuple((name, row[name]) for name in HEURISTICS))


def channel_forwards_per_day(*, channel_id: int, today: date, days: int = FORWARDS_DAYS) -> list[DailyForwards]:
    """Forwards out of and into one channel per day, every day of the window; empty when none in the window."""
    rows = (
        ChannelActivity.objects.filter(channel_id=channel_id, period_start__gte=_window_start(today, days))
        .annotate(day=TruncDate("period_start", tzinfo=UTC))
        .values("day")
        .annotate(out_count=Sum("forwards_out_count"), in_count=Sum("forwards_in_count"))
        .order_by("day")
    )
    by_day = {row["day"]: row for row in rows}
    if not by_day:
        return []
    return [
        DailyForwards(day, row["out_count"], row["in_count"]) if (row := by_day.get(day)) else DailyForwards(day, 0, 0)
        for day in _days(today, days)
    ]


def _window_start(today: date, days: int) -> datetime:
    """The dashboard's one rule for "the last N days" (days.py): the last N UTC days, today included."""
    return days_start(now=datetime.combine(today, time.min, tzinfo=UTC), days=days)


def _days(today: date, days: int) -> list[date]:
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
