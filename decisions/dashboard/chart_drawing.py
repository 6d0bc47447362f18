"""The dashboard's charts as SVG: plain figures in, SVG bytes out (no ORM, no clock, no cache).

Drawn with matplotlib's object API (a Figure saved through its SVG canvas, no pyplot: no GUI backend, safe in a
threaded web server) and imported only when a chart is drawn, so Django's start and the pages that draw nothing do
not pay the half second matplotlib takes to import.

An SVG shown in an <img> cannot inherit the page's CSS, so it carries its own: matplotlib draws in the light
scheme's colours and a <style> recolours text, axes, grid and series under `prefers-color-scheme: dark`. Text stays
<text> (svg.fonttype "none") so it can be recoloured and read; the root has role="img", a <title> and a <desc> that
says in words what the chart shows. Output is deterministic (fixed svg.hashsalt, no metadata) and self-contained.
"""

import io
import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple
from xml.sax.saxutils import escape

from daznode.templatetags.daznode_format import MSAT_PER_SAT, percent, sats, score

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 3.2, 100  # 800 x 320 px: the pages' <img class="chart" width="800" height="320">
NO_DATA = "No data yet"
LIQUIDITY_ROWS = 15  # the most bars that stay readable in 320 px; more channels: the largest by capacity
SHORTEN_FROM = 10_000  # axis ticks in sat: exact below, 12k / 1.5M above
SCORE_BINS = 10  # histogram of scores 0..1 in bins of 0.1
DAY_TICKS = 6  # day labels on a time axis
LABEL_CHARS = 18  # a peer's alias on an axis, cut beyond this
TITLE_ALIAS_CHARS = 16  # a peer's alias in a title, cut beyond this: the title must fit the chart's width
# Fixed margins (fractions of the figure), much cheaper than a layout engine: the tick labels' widths are bounded
# (compact sat, two-digit scores, cut aliases), so each chart knows the room it needs.
MARGINS = {"left": 0.09, "right": 0.98, "top": 0.88, "bottom": 0.17}
LEGEND_RIGHT = 0.87  # room for a legend outside the axes, on the right


class Colour(NamedTuple):
    """One colour as drawn on a light card (#ffffff) and as recoloured on a dark one (#181b22)."""

    light: str
    dark: str


# The dashboard's palette (static/dashboard/dashboard.css) and, for series, the Okabe-Ito colour-blind-safe hues,
# each darkened or lightened to keep 3:1 against its card. Each light value is unique: the dark <style> finds
# the elements by it.
TEXT = Colour("#1b1f27", "#e6e8ec")
MUTED = Colour("#4f5868", "#a3aab8")
GRID = Colour("#d5d9e0", "#2e3440")
ACCENT = Colour("#c2610c", "#f7a440")
SURFACE = Colour("#ffffff", "#181b22")  # the card: edges that separate adjacent bars
SECOND = Colour("#0072b2", "#56b4e9")
SUB_SCORE_COLOURS = (
    SECOND,
    Colour("#007a5a", "#3ccf9e"),
    Colour("#a3367f", "#f08cc8"),
    Colour("#5e3fa6", "#b9a2f5"),
    Colour("#8a6d00", "#e6d05a"),
    Colour("#b3263e", "#ff8a9a"),
    Colour("#0e6f80", "#6fd3e8"),
    Colour("#5c6370", "#c2c7d0"),
)
PALETTE = (TEXT, MUTED, GRID, ACCENT, SURFACE, SECOND, *SUB_SCORE_COLOURS)
NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
RC_PARAMS: dict["RcKeyType", Any] = {
    # Aliases come from the public graph: "$...$" must stay text, never matplotlib's maths (a parse error, a 500).
    "text.parse_math": False,
    "svg.fonttype": "none",  # <text>, not glyph paths: smaller, recolourable, readable by screen readers
    "svg.hashsalt": "daznode",  # clip-path ids from a fixed salt: the same figures give the same bytes
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Verdana"],  # DejaVu measures the text; the browser falls back to sans-serif
    "font.size": 10,
    "text.color": TEXT.light,
    "axes.labelcolor": TEXT.light,
    "axes.edgecolor": MUTED.light,
    "axes.titlecolor": TEXT.light,
    "axes.titlesize": 12,
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED.light,
    "ytick.color": MUTED.light,
    "grid.color": GRID.light,
    "legend.frameon": False,
}


@dataclass(frozen=True)
class DailyRouting:
    """One UTC day of forwarding through all our channels."""

    day: date
    fees_earned_msat: int
    amount_out_msat: int
    forwards_out_count: int


@dataclass(frozen=True)
class ChannelBalance:
    label: str
    capacity_sat: int
    local_sat: int  # counting the HTLCs we have in flight as still ours
    remote_sat: int

    @property
    def local_share(self) -> float:
        return min(1.0, self.local_sat / self.capacity_sat) if self.capacity_sat else 0.0

    @property
    def remote_share(self) -> float:
        return min(1.0 - self.local_share, self.remote_sat / self.capacity_sat) if self.capacity_sat else 0.0


@dataclass(frozen=True)
class DailyScores:
    """A channel's mean scores over one UTC day: total and the sub-scores in HEURISTICS order."""

    day: date
    total: float
    sub_scores: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class DailyForwards:
    day: date
    forwards_out_count: int
    forwards_in_count: int


def earnings_svg(days: Sequence[DailyRouting], *, window_days: int) -> bytes:
    title = f"Fees earned per day, last {window_days} days"
    if not days:
        return no_data_svg(title=title, desc=f"{title}: no data yet, no forwards recorded.")
    total_msat = sum(day.fees_earned_msat for day in days)
    best = max(reversed(days), key=lambda day: day.fees_earned_msat)  # the latest of equal days
    best_text = f"best day {best.day} with {sats(best.fees_earned_msat // MSAT_PER_SAT)}" if total_msat else "none"
    desc = f"{title} ({_span(days)}): {sats(total_msat // MSAT_PER_SAT)} in total, {best_text}."
    figure, axes = _figure()
    axes.bar(range(len(days)), [day.fees_earned_msat / MSAT_PER_SAT for day in days], color=ACCENT.light, width=0.8)
    _day_axis(axes, [day.day for day in days])
    _value_axis(axes, "fees earned (sat)", _sat_tick)
    axes.set_title(title)
    return _svg(figure, title=title, desc=desc)


def volume_svg(days: Sequence[DailyRouting], *, window_days: int) -> bytes:
    title = f"Volume routed per day, last {window_days} days"
    if not days:
        return no_data_svg(title=title, desc=f"{title}: no data yet, no forwards recorded.")
    total_msat = sum(day.amount_out_msat for day in days)
    forwards = sum(day.forwards_out_count for day in days)
    busiest = max(reversed(days), key=lambda day: day.amount_out_msat)
    desc = (
        f"{title} ({_span(days)}): {sats(total_msat // MSAT_PER_SAT)} in {forwards:,} forwards, "
        f"busiest day {busiest.day} with {sats(busiest.amount_out_msat // MSAT_PER_SAT)}."
    )
    figure, axes = _figure()
    axes.bar(range(len(days)), [day.amount_out_msat / MSAT_PER_SAT for day in days], color=SECOND.light, width=0.8)
    _day_axis(axes, [day.day for day in days])
    _value_axis(axes, "volume (sat)", _sat_tick)
    axes.set_title(title)
    return _svg(figure, title=title, desc=desc)


def scores_svg(total_scores: Sequence[float]) -> bytes:
    title = "Latest total score of our open channels"
    if not total_scores:
        return no_data_svg(title=title, desc=f"{title}: no data yet, no channel has been scored.")
    counts = [0] * SCORE_BINS
    for value in total_scores:
        counts[min(SCORE_BINS - 1, max(0, math.floor(value * SCORE_BINS)))] += 1
    top = max(range(SCORE_BINS), key=counts.__getitem__)
    desc = (
        f"{title}, {len(total_scores):,} channels: median {score(statistics.median(total_scores))}, "
        f"lowest {score(min(total_scores))}, highest {score(max(total_scores))}; the most ({counts[top]:,}) "
        f"between {score(top / SCORE_BINS)} and {score((top + 1) / SCORE_BINS)}."
    )
    figure, axes = _figure()
    edges = [index / SCORE_BINS for index in range(SCORE_BINS)]
    axes.bar(edges, counts, width=1 / SCORE_BINS, align="edge", color=ACCENT.light, edgecolor=SURFACE.light, lw=1)
    axes.set_xlim(0, 1)
    axes.set_xticks([index / SCORE_BINS for index in range(SCORE_BINS + 1)])
    axes.set_xlabel("total score (0 to 1)")
    _value_axis(axes, "channels", _count_tick)
    axes.set_title(title)
    return _svg(figure, title=title, desc=desc)


def liquidity_svg(channels: Sequence[ChannelBalance]) -> bytes:
    title = "Local and remote balance per channel"
    if not channels:
        return no_data_svg(title=title, desc=f"{title}: no data yet, no open channel.")
    shown = sorted(channels, key=lambda channel: channel.capacity_sat, reverse=True)[:LIQUIDITY_ROWS]
    if len(shown) < len(channels):
        title = f"Balance of the {len(shown)} largest of {len(channels):,} channels"
    shown.sort(key=lambda channel: channel.local_share)  # barh draws bottom-up: the fullest on top
    desc = f"{title}, as a share of each channel's capacity: {_liquidity_summary(channels)}"
    figure, axes = _figure(left=0.27, right=LEGEND_RIGHT)
    rows = range(len(shown))
    local = [channel.local_share * 100 for channel in shown]
    axes.barh(rows, local, color=ACCENT.light, height=0.7, label="local (ours)")
    axes.barh(rows, [c.remote_share * 100 for c in shown], left=local, color=SECOND.light, height=0.7, label="remote")
    axes.set_yticks(list(rows), [_channel_label(channel) for channel in shown], fontsize=8)
    axes.tick_params(axis="y", length=0)
    axes.set_xlim(0, 100)
    axes.set_xlabel("share of capacity (%)")
    axes.grid(axis="x")
    axes.set_axisbelow(True)
    axes.legend(loc="lower left", bbox_to_anchor=(1.0, 0.0), fontsize=8)
    axes.set_title(title)
    return _svg(figure, title=title, desc=desc)


def channel_scores_svg(days: Sequence[DailyScores], *, alias: str, chan_id: int, window_days: int) -> bytes:
    title = f"Scores of {_title_channel(alias, chan_id)}, last {window_days} days"
    what = f"Daily mean scores of {alias} ({chan_id}), last {window_days} days"
    if not days:
        return no_data_svg(title=title, desc=f"{what}: no data yet, this channel has not been scored.")
    latest = days[-1]
    weakest = min(latest.sub_scores, key=lambda item: item[1])
    desc = (
        f"{what}: total {score(latest.total)} on {latest.day} (from {score(days[0].total)} on {days[0].day}); "
        f"weakest sub-score that day: {_heuristic(weakest[0])} {score(weakest[1])}."
    )
    figure, axes = _figure(right=0.83)
    positions = range(len(days))
    marker = "o" if len(days) < DAY_TICKS else None
    for index, (name, _) in enumerate(latest.sub_scores):
        values = [dict(day.sub_scores)[name] for day in days]
        style = "-" if index % 2 == 0 else "--"
        colour = SUB_SCORE_COLOURS[index % len(SUB_SCORE_COLOURS)].light
        axes.plot(positions, values, style, color=colour, lw=1, marker=marker, ms=3, label=_heuristic(name))
    axes.plot(positions, [day.total for day in days], color=ACCENT.light, lw=2.5, marker=marker, label="total")
    _day_axis(axes, [day.day for day in days])
    axes.set_ylim(0, 1)
    _value_axis(axes, "score, daily mean (0 to 1)", _score_tick)
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, reverse=True)
    axes.set_title(title)
    return _svg(figure, title=title, desc=desc)


def channel_forwards_svg(days: Sequence[DailyForwards], *, alias: str, chan_id: int, window_days: int) -> bytes:
    title = f"Forwards per day: {_title_channel(alias, chan_id)}, last {window_days} days"
    what = f"Forwards per day through {alias} ({chan_id}), last {window_days} days"
    if not days:
        return no_data_svg(title=title, desc=f"{what}: no data yet, no forwards recorded.")
    out_total, in_total = sum(d.forwards_out_count for d in days), sum(d.forwards_in_count for d in days)
    busiest = max(reversed(days), key=lambda day: day.forwards_out_count + day.forwards_in_count)
    desc = (
        f"{what} ({_span(days)}): {out_total:,} out and {in_total:,} in; busiest day {busiest.day} with "
        f"{busiest.forwards_out_count:,} out and {busiest.forwards_in_count:,} in."
    )
    figure, axes = _figure(right=LEGEND_RIGHT + 0.04)
    width = 0.4
    axes.bar([i - width / 2 for i in range(len(days))], [d.forwards_out_count for d in days], width, color=ACCENT.light)
    axes.bar([i + width / 2 for i in range(len(days))], [d.forwards_in_count for d in days], width, color=SECOND.light)
    axes.legend(["out", "in"], loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    _day_axis(axes, [day.day for day in days])
    _value_axis(axes, "forwards/day", _count_tick)
    axes.set_title(title)
    return _svg(figure, title=title, desc=desc)


def no_data_svg(*, title: str, desc: str) -> bytes:
    figure, axes = _figure()
    axes.set_axis_off()
    axes.set_title(title)
    axes.text(0.5, 0.5, NO_DATA, ha="center", va="center", fontsize=14, color=MUTED.light, transform=axes.transAxes)
    return _svg(figure, title=title, desc=desc)


def _figure(**margins: float) -> tuple["Figure", "Axes"]:
    import matplotlib as mpl
    from matplotlib.figure import Figure

    # Global, but every chart sets the same values: no other matplotlib user in the process to disturb.
    mpl.rcParams.update(RC_PARAMS)
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    figure.subplots_adjust(**{**MARGINS, **margins})
    return figure, figure.subplots()


def _day_axis(axes: "Axes", days: Sequence[date]) -> None:
    """Days at positions 0..n-1, labelled every few days counting back from the latest, which is always labelled."""
    step = max(1, math.ceil(len(days) / DAY_TICKS))
    ticks = list(range(len(days) - 1, -1, -step))[::-1]
    axes.set_xticks(ticks, [f"{days[i]:%b} {days[i].day}" for i in ticks])
    axes.set_xlim(-0.6, len(days) - 0.4)
    axes.set_xlabel("day (UTC)")


def _value_axis(axes: "Axes", label: str, formatter: Callable[[float, int], str]) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axes.set_ylabel(label)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=formatter is not _score_tick))
    axes.yaxis.set_major_formatter(FuncFormatter(formatter))
    axes.grid(axis="y")
    axes.set_axisbelow(True)


def _sat_tick(value: float, _position: int) -> str:
    """9,000 then 12k, 1.5M, 2G: whole numbers up to 10,000, shortened above."""
    if abs(value) < SHORTEN_FROM:
        return f"{value:,.0f}"
    for divisor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= divisor:
            return f"{value / divisor:.3g}{suffix}"
    return f"{value:,.0f}"


def _count_tick(value: float, _position: int) -> str:
    return f"{value:,.0f}"


def _score_tick(value: float, _position: int) -> str:
    return f"{value:.1f}"


def _span(days: Sequence) -> str:
    return f"{days[0].day} to {days[-1].day}"


def _heuristic(name: str) -> str:
    return name.replace("_", " ")


def _channel_label(channel: ChannelBalance) -> str:
    return f"{_cut(channel.label, LABEL_CHARS)} · {_sat_tick(channel.capacity_sat, 0)} sat"


def _title_channel(alias: str, chan_id: int) -> str:
    return f"{_cut(alias, TITLE_ALIAS_CHARS)} ({chan_id})"


def _cut(text: str, chars: int) -> str:
    text = xml_text(text)
    return text if len(text) <= chars else f"{text[: chars - 1]}…"


# What XML 1.0 forbids in text: control characters other than tab and newlines, surrogates, U+FFFE and U+FFFF.
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Text that an SVG can hold: an alias with a control character would make the whole chart unreadable."""
    return XML_FORBIDDEN.sub("\ufffd", text)


def _liquidity_summary(channels: Sequence[ChannelBalance]) -> str:
    local_sat, remote_sat = sum(c.local_sat for c in channels), sum(c.remote_sat for c in channels)
    capacity_sat = sum(c.capacity_sat for c in channels)
    emptiest = min(channels, key=lambda channel: channel.local_share)
    fullest = max(channels, key=lambda channel: channel.local_share)
    return (
        f"{sats(local_sat)} local and {sats(remote_sat)} remote of {sats(capacity_sat)} "
        f"({percent(local_sat / capacity_sat if capacity_sat else 0)} ours); lowest local share {emptiest.label} "
        f"{percent(emptiest.local_share)}, highest {fullest.label} {percent(fullest.local_share)}."
    )


def _svg(figure: "Figure", *, title: str, desc: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", transparent=True, metadata=NO_METADATA)
    text = buffer.getvalue().decode()
    # Drop the XML declaration and the DOCTYPE (an external DTD reference); keep the root and what it holds.
    root_start = text.index("<svg ")
    root_end = text.index(">", root_start) + 1
    root = text[root_start:root_end].replace("<svg ", '<svg role="img" aria-labelledby="chart-title chart-desc" ', 1)
    head = (
        f'\n <title id="chart-title">{escape(xml_text(title))}</title>'
        f'\n <desc id="chart-desc">{escape(xml_text(desc))}</desc>'
        f"\n <style>{DARK_STYLE}</style>"
    )
    return (root + head + text[root_end:]).encode()


def _dark_style() -> str:
    # matplotlib writes colours in style attributes ("fill: #1b1f27; stroke: ..."), which outrank a stylesheet
    # unless it says !important.
    rules = "".join(
        f'[style*="{prop}: {colour.light}"]{{{prop}:{colour.dark}!important}}'
        for colour in dict.fromkeys(PALETTE)
        for prop in ("fill", "stroke")
    )
    return f"@media (prefers-color-scheme: dark){{{rules}}}"


DARK_STYLE = _dark_style()
