"""The dashboard's one rule for "the last N days" of forwards: the last N UTC days, today so far included.

ChannelActivity rows are periods of a UTC day (or of an hour), so a window of whole UTC days counts each row whole
or not at all: a row counts when its period starts on one of those days. "7 days" is today and the six days before;
"Today" is today since 00:00 UTC. The overview, /umbrel-ui/api/stats, the widgets, the channel list and the channel
page all count with this rule, so the same label shows the same figure everywhere.
"""

from datetime import UTC, datetime, timedelta

from django.db.models import Q

RULE = "UTC days, today so far included"


def days_start(*, now: datetime, days: int) -> datetime:
    """Midnight UTC of the first of the last `days` UTC days (days=1: today's midnight)."""
    if days < 1:
        raise ValueError(f"a window is at least one day, not {days}")
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days - 1)


def in_last_days(*, now: datetime, days: int) -> Q:
    """The ChannelActivity rows of the last `days` UTC days, by the day their period starts."""
    return Q(period_start__gte=days_start(now=now, days=days), period_start__lt=now)


def days_label(days: int) -> str:
    """What a figure over the last `days` UTC days is called on every page: "Today", or "7 days"."""
    return "Today" if days == 1 else f"{days} days"
