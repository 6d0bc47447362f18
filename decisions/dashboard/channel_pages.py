"""The channels pages: /umbrel-ui/channels (the sortable, filterable list) and /umbrel-ui/channels/<chan_id>.

The views parse the query string, call the selectors of channel_list_figures (the list) and channel_figures (one
channel) and hand their figures to the templates.
A value the list does not know (?sort=, ?state=, ?liquidity=, ?kind=, ?page=) is ignored and the page says so:
a typo in a bookmarked address must never cost a 500 or silently show something else without a word.
"""

from dataclasses import dataclass, field

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import Http404, QueryDict
from django.urls import reverse
from django.utils import timezone

from daznode.lightning import parse_chan_id
from decisions.dashboard import channel_figures as figures
from decisions.dashboard import channel_list_figures as listing
from decisions.dashboard.page import DashboardPage
from decisions.dashboard.queue_forms import SHOWN_VALUE_LENGTH
from decisions.dashboard.queue_selectors import KIND_LABEL_OF, POLICY_FIELDS, policy_value

SEARCH_MAX_LENGTH = 100
# Column, header, numeric (right-aligned), hidden on a phone, first click sorts descending.
COLUMNS = (
    ("peer", "Peer", False, False, False),
    ("capacity", "Capacity", True, True, True),
    ("local", "Local", True, False, True),
    ("fee_out", "Fee out", True, False, True),
    ("fee_in", "Fee in", True, True, True),
    ("score", "Score", True, False, True),
    ("decision", "Last decision", False, True, True),
    ("active", "State", False, True, True),
    ("forwards", f"Forwards {listing.RECENT_LABEL}", True, True, True),  # the last 7 UTC days, as on the overview
    ("fees", f"Fees {listing.RECENT_LABEL}", True, True, True),
)
FILTER_NAMES = ("q", "state", "liquidity", "kind", "sort")


@dataclass
class ListParams:
    q: str = ""
    state: str = listing.DEFAULT_STATE
    liquidity: str = ""
    kind: str = ""
    sort: str = listing.DEFAULT_SORT
    ignored: list[str] = field(default_factory=list)


def _choice(query: QueryDict, name: str, choices, default: str, params: ListParams) -> str:
    value = query.get(name, "")
    if value in ("", default) or value in choices:
        return value or default
    known = ", ".join(choices)
    params.ignored.append(f"Unknown {name} “{value[:SHOWN_VALUE_LENGTH]}” ignored: choose one of {known}.")
    return default


def _search_text(query: QueryDict, params: ListParams) -> str:
    text = query.get("q", "").strip()
    if len(text) > SEARCH_MAX_LENGTH:
        params.ignored.append(f"Search ignored: at most {SEARCH_MAX_LENGTH} characters.")
        return ""
    if not text.isprintable():
        params.ignored.append("Search ignored: it holds control characters.")
        return ""
    return text


def list_params(query: QueryDict) -> ListParams:
    params = ListParams()
    params.q = _search_text(query, params)
    params.state = _choice(query, "state", listing.STATES, listing.DEFAULT_STATE, params)
    params.liquidity = _choice(query, "liquidity", listing.LIQUIDITY, "", params)
    params.kind = _choice(query, "kind", KIND_LABEL_OF, "", params)
    sort = query.get("sort", "")
    if sort and sort.removeprefix("-") in listing.SORTS:
        params.sort = sort
    elif sort:
        params.ignored.append(
            f"Unknown sort “{sort[:SHOWN_VALUE_LENGTH]}” ignored: sort by {', '.join(listing.SORTS)}."
        )
    return params


def _page(paginator: Paginator, raw: str, ignored: list[str]) -> Page:
    if not raw:
        return paginator.page(1)
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        ignored.append(f"Page “{raw[:SHOWN_VALUE_LENGTH]}” ignored: pages are numbered from 1.")
        return paginator.page(1)
    if int(raw) > paginator.num_pages:
        ignored.append(f"Page {raw[:SHOWN_VALUE_LENGTH]} does not exist: showing the last page, {paginator.num_pages}.")
        return paginator.page(paginator.num_pages)
    return paginator.page(int(raw))


def _href(params: ListParams, **changes: str | int) -> str:
    """The list's address with the current filters and sort, and `changes` (a new sort, a page)."""
    defaults = {"state": listing.DEFAULT_STATE, "sort": listing.DEFAULT_SORT, "page": 1}
    values: dict[str, str | int] = {name: getattr(params, name) for name in FILTER_NAMES}
    values.update(changes)
    query = QueryDict(mutable=True)
    for name, value in values.items():
        if value not in ("", defaults.get(name)):
            query[name] = str(value)
    encoded = query.urlencode()
    return f"{reverse('ui:channels')}?{encoded}" if encoded else reverse("ui:channels")


def _columns(params: ListParams) -> list[dict]:
    current = params.sort.removeprefix("-")
    descending = params.sort.startswith("-")
    columns = []
    for name, label, numeric, narrow, descending_first in COLUMNS:
        if name == current:
            next_sort = name if descending else f"-{name}"
            aria_sort = "descending" if descending else "ascending"
        else:
            next_sort, aria_sort = (f"-{name}" if descending_first else name), ""
        columns.append(
            {
                "label": label,
                "href": _href(params, sort=next_sort),
                "aria_sort": aria_sort,
                "numeric": numeric,
                "narrow": narrow,
            }
        )
    return columns


def _sort_label(sort: str) -> str:
    name = sort.removeprefix("-")
    label = next((label for column, label, *_ in COLUMNS if column == name), "channel id")
    return f"{label.lower()}, {'descending' if sort.startswith('-') else 'ascending'}"


class ChannelListPage(DashboardPage):
    template_name = "dashboard/channels.html"
    nav = "channels"

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        params = list_params(self.request.GET)
        now = timezone.now()
        channels = listing.channel_list(
            q=params.q, state=params.state, liquidity=params.liquidity, kind=params.kind, sort=params.sort, now=now
        )
        paginator = Paginator(channels.values_list("id", flat=True), listing.PAGE_SIZE)
        page = _page(paginator, self.request.GET.get("page", ""), params.ignored)
        for text in params.ignored:
            messages.warning(self.request, text)
        context.update(
            params=params,
            rows=listing.channel_rows(ids=list(page.object_list), now=now),
            # Each row links to its channel and its last decision: built from one reverse() each, not 200 a page.
            channel_href=reverse("ui:channel", args=["0"]).removesuffix("0"),
            decision_href=reverse("ui:decision", args=[0]).removesuffix("0"),
            page=page,
            columns=_columns(params),
            sort_label=_sort_label(params.sort),
            states=listing.STATES,
            liquidity_choices=listing.LIQUIDITY,
            kinds=KIND_LABEL_OF,
            previous_href=_href(params, page=page.previous_page_number()) if page.has_previous() else "",
            next_href=_href(params, page=page.next_page_number()) if page.has_next() else "",
            filtered=any((params.q, params.liquidity, params.kind, params.state != listing.DEFAULT_STATE)),
        )
        return context


class ChannelDetailPage(DashboardPage):
    template_name = "dashboard/channel.html"
    nav = "channels"

    def get_context_data(self, **kwargs) -> dict:
        try:
            chan_id = parse_chan_id(kwargs["chan_id"])
        except ValueError:
            raise Http404("Not a channel id.") from None
        channel = figures.channel_by_chan_id(chan_id=chan_id)
        if channel is None:
            raise Http404("No channel with this id.")
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        score = figures.channel_latest_score(channel=channel)
        peer_policy = figures.peer_policy_toward_us(channel=channel, score=score)
        days = figures.channel_recent_days(channel=channel, now=now)
        events, more_events = figures.channel_policy_events(channel=channel)
        backups, more_backups = figures.channel_backups(channel=channel)
        decisions, more_decisions = figures.channel_decisions(channel=channel)
        context.update(
            channel=channel,
            local_ratio=channel.local_ratio(),
            local_percent=round(channel.local_ratio() * 100),
            age_days=(now - channel.opened_at).days if channel.opened_at else None,
            score=score,
            breakdown=figures.score_breakdown(score=score) if score else [],
            competition=figures.channel_competition(channel=channel, score=score),
            peer_policy=peer_policy,
            policy_rows=_policy_rows(channel, peer_policy),
            days=days,
            days_total=figures.days_total(days),
            events=events,
            more_events=more_events,
            backups=backups,
            more_backups=more_backups,
            decisions=decisions,
            more_decisions=more_decisions,
            decisions_href=f"{reverse('ui:decisions')}?channel={channel.chan_id}",
            recent_days=listing.RECENT_DAYS,
        )
        return context


def _policy_rows(channel, peer_policy: figures.PeerPolicy | None) -> list[tuple[str, str, str]]:
    """(label, ours toward the peer, the peer's toward us) for each policy field; the graph does not carry the
    peer's HTLC limits or inbound fees, so those show as unknown."""
    ours = channel.policy().to_dict()
    theirs = (
        {
            "fee_rate_ppm": peer_policy.fee_rate_ppm,
            "base_fee_msat": peer_policy.base_fee_msat,
            "time_lock_delta": peer_policy.time_lock_delta,
            "disabled": peer_policy.disabled,
        }
        if peer_policy
        else {}
    )
    return [
        (label, policy_value(name, ours.get(name)), policy_value(name, theirs.get(name)))
        for name, label in POLICY_FIELDS
    ]
