"""Numbers for people, in every Daznode page: `{% load daznode_format %}`.

sats (and msat where sats would round a figure away) with thousands separators, fee rates in ppm, shares as
percentages, scores to two decimals, times relative with the absolute time on hover, and a node's alias with its
pubkey on hover. A missing value shows as "—", never
as 0: an unknown figure is not a zero.
"""

from collections.abc import Callable
from datetime import datetime
from functools import wraps

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

register = template.Library()
MISSING = "—"
PUBKEY_SHOWN = 12
MSAT_PER_SAT = 1000
JUST_NOW_S = 60


def unknown_as_missing(show: Callable[..., str]) -> Callable[..., str]:
    """A filter that shows "—" for a value nobody knows (None, or an empty form value), and formats the rest."""

    @wraps(show)
    def filter_(value, *args) -> str:
        return MISSING if value is None or value == "" else show(value, *args)

    return filter_


@register.filter
@unknown_as_missing
def sats(value) -> str:
    """1234567 -> "1,234,567 sat"."""
    return f"{int(value):,} sat"


@register.filter
@unknown_as_missing
def msat(value) -> str:
    """Base fees and HTLC limits stay in msat: as sats, a 500 msat base fee would read "0 sat"."""
    return f"{int(value):,} msat"


@register.filter
@unknown_as_missing
def msat_as_sats(value) -> str:
    """Millisatoshis shown as whole sats (rounded down, as LND reports fees)."""
    return sats(int(value) // MSAT_PER_SAT)


@register.filter
@unknown_as_missing
def ppm(value) -> str:
    return f"{int(value):,} ppm"


@register.filter
@unknown_as_missing
def percent(value, digits: int = 0) -> str:
    """A share in [0, 1] as a percentage: 0.4567 -> "46 %"."""
    return f"{float(value) * 100:.{int(digits)}f} %"


@register.filter
@unknown_as_missing
def score(value) -> str:
    return f"{float(value):.2f}"


@register.filter
def when(value: datetime | None) -> str:
    """ "3 hours ago · 27 Nov 11:02" (or "in 2 minutes · ..."): relative for reading at a glance, absolute for
    what happened when, visible on a phone too; the full time with seconds and zone in the title and datetime."""
    if value is None:
        return MISSING
    now = timezone.now()
    if abs((now - value).total_seconds()) < JUST_NOW_S:
        relative = "just now"
    elif value <= now:
        relative = f"{timesince(value, now, depth=1)} ago"
    else:
        relative = f"in {timeuntil(value, now, depth=1)}"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}<span class="abs-time"> · {}</span></time>',
        local.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
        relative.replace("\xa0", " "),
        f"{local.day} {local:%b %H:%M}" if local.year == timezone.localtime(now).year else f"{local:%Y-%m-%d %H:%M}",
    )


@register.filter
def node_label(node) -> str:
    """A node's alias, its pubkey on hover (and in data-pubkey, for copying); the pubkey's start without alias."""
    if node is None:
        return MISSING
    label = node.alias or f"{node.pubkey[:PUBKEY_SHOWN]}…"
    return format_html('<span class="node" title="{}" data-pubkey="{}">{}</span>', node.pubkey, node.pubkey, label)
