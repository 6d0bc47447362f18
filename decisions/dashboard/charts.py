"""The dashboard's charts over HTTP, cached so that a page view never waits on matplotlib.

Each chart's SVG is cached under a key made from what it shows: the figures themselves when they are a few dozen
rows (routing per day, balances), the newest score id when they are thousands (scores). New data means a new key
and a new drawing; unchanged data costs one or two cheap queries and no matplotlib. The key is also the ETag, so a
browser revalidating with If-None-Match gets 304. The overview's charts are drawn ahead, off the request path, by
the render_charts task after each fee cycle and each scoring (charts_warm); a channel's are drawn on first view.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date

from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.views import View

from daznode.roles import Role
from decisions.dashboard import chart_data, chart_drawing
from decisions.dashboard.access import RoleRequiredMixin
from decisions.dashboard.chart_data import ChartChannel

DRAWING_VERSION = 1  # raise when the drawing changes, so that SVGs of the old look are no longer served
CACHE_TIMEOUT_S = 2 * 24 * 3600  # keys change with the data: this only bounds how long an unused chart stays
CACHE_CONTROL = "private, max-age=60"
# The SVG needs nothing but its own inline <style>: no script, no fetch, even when opened on its own.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


@dataclass(frozen=True)
class Plan:
    """A chart's cache key, known from cheap queries, and how to draw it when the cache does not have it."""

    key: str
    draw: Callable[[], bytes]


def earnings_plan(*, today: date) -> Plan:
    days = chart_data.routing_per_day(today=today)
    window = chart_data.ROUTING_DAYS
    return Plan(_key("earnings", today, days), lambda: chart_drawing.earnings_svg(days, window_days=window))


def volume_plan(*, today: date) -> Plan:
    days = chart_data.routing_per_day(today=today)
    window = chart_data.ROUTING_DAYS
    return Plan(_key("volume", today, days), lambda: chart_drawing.volume_svg(days, window_days=window))


def scores_plan(*, today: date) -> Plan:
    version = chart_data.scores_version()
    return Plan(_key("scores", version), lambda: chart_drawing.scores_svg(chart_data.latest_total_scores()))


def liquidity_plan(*, today: date) -> Plan:
    channels = chart_data.channel_balances()
    return Plan(_key("liquidity", channels), lambda: chart_drawing.liquidity_svg(channels))


def channel_scores_plan(*, channel: ChartChannel, today: date) -> Plan:
    version = chart_data.channel_scores_version(channel_id=channel.id)
    window = chart_data.SCORE_HISTORY_DAYS

    def draw() -> bytes:
        days = chart_data.channel_score_history(channel_id=channel.id, today=today, days=window)
        return chart_drawing.channel_scores_svg(days, alias=channel.alias, chan_id=channel.chan_id, window_days=window)

    return Plan(_key("channel-scores", channel, today, version), draw)


def channel_forwards_plan(*, channel: ChartChannel, today: date) -> Plan:
    days = chart_data.channel_forwards_per_day(channel_id=channel.id, today=today)
    window = chart_data.FORWARDS_DAYS

    def draw() -> bytes:
        return chart_drawing.channel_forwards_svg(
            days, alias=channel.alias, chan_id=channel.chan_id, window_days=window
        )

    return Plan(_key("channel-forwards", channel, today, days), draw)


OVERVIEW_CHARTS: dict[str, Callable[..., Plan]] = {
    "earnings": earnings_plan,
    "volume": volume_plan,
    "scores": scores_plan,
    "liquidity": liquidity_plan,
}
CHANNEL_CHARTS: dict[str, Callable[..., Plan]] = {
    "scores": channel_scores_plan,
    "forwards": channel_forwards_plan,
}


def chart_svg(plan: Plan) -> bytes:
    svg = cache.get(plan.key)
    if svg is None:
        svg = plan.draw()
        cache.set(plan.key, svg, CACHE_TIMEOUT_S)
    return svg


def charts_warm(*, today: date | None = None) -> dict[str, list[str]]:
    """Draw the overview's charts whose data changed since they were last drawn; the others are left cached."""
    today = today or utc_today()
    drawn, cached = [], []
    for name, plan_for in OVERVIEW_CHARTS.items():
        plan = plan_for(today=today)
        if cache.get(plan.key) is None:
            cache.set(plan.key, plan.draw(), CACHE_TIMEOUT_S)
            drawn.append(name)
        else:
            cached.append(name)
    return {"drawn": drawn, "cached": cached}


def utc_today() -> date:
    return timezone.now().astimezone(UTC).date()


def chart_response(request: HttpRequest, plan: Plan) -> HttpResponse:
    etag = f'"{plan.key}"'
    response = get_conditional_response(request, etag=etag)
    if response is None:
        response = HttpResponse(chart_svg(plan), content_type="image/svg+xml")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


class ChartView(RoleRequiredMixin, View):
    required_roles = Role.VIEWER

    def get(self, request: HttpRequest, name: str) -> HttpResponse:
        plan_for = OVERVIEW_CHARTS.get(name)
        if plan_for is None:
            raise Http404(f"There is no chart named {name!r}.")
        return chart_response(request, plan_for(today=utc_today()))


class ChannelChartView(RoleRequiredMixin, View):
    required_roles = Role.VIEWER

    def get(self, request: HttpRequest, chan_id: str, name: str) -> HttpResponse:
        plan_for = CHANNEL_CHARTS.get(name)
        if plan_for is None:
            raise Http404(f"There is no channel chart named {name!r}.")
        channel = chart_data.chart_channel(chan_id=chan_id)
        if channel is None:
            raise Http404("No such channel.")
        return chart_response(request, plan_for(channel=channel, today=utc_today()))


def _key(name: str, *parts: object) -> str:
    """`chart-<name>-<digest of what the chart shows>`: the cache key and the ETag (ASCII, no quotes)."""
    digest = hashlib.sha256(repr((DRAWING_VERSION, name, parts)).encode()).hexdigest()[:32]
    return f"chart-{name}-{digest}"
