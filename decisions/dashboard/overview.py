"""/umbrel-ui/dashboard: the node at a glance, what needs the operator, the latest fee cycle and the charts."""

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from daznode.roles import user_has_role
from decisions.dashboard.figures import overview_figures
from decisions.dashboard.needs import kill_switch_url
from decisions.dashboard.page import DashboardPage
from decisions.services import kill_switch_role

CHART_WIDTH, CHART_HEIGHT = 800, 320  # the chart views draw at this size; the page reserves it before they load


@dataclass(frozen=True)
class Chart:
    name: str  # the ui:chart route's name
    title: str
    alt: str  # what the chart shows, in words, for those who cannot see it
    caption: str


CHARTS = (
    Chart(
        "earnings",
        "Earnings",
        "Bar chart of the routing fees earned per day over the last 30 days, in sats",
        "Routing fees earned per UTC day over the last 30 days, all channels together.",
    ),
    Chart(
        "scores",
        "Scores",
        "Histogram of the latest total score of each open channel, from 0 to 1 in steps of 0.1",
        "How many open channels score in each tenth: the score bands decide raises, cuts and recommendations.",
    ),
    Chart(
        "liquidity",
        "Liquidity",
        "Bars of the local and remote balance of the largest open channels, as a share of each capacity",
        "Where each channel's liquidity sits: on our side (local) or the peer's (remote).",
    ),
    Chart(
        "volume",
        "Volume",
        "Bar chart of the amount routed out per day over the last 30 days, in sats",
        "Routing volume per UTC day over the last 30 days, all channels together.",
    ),
)


class OverviewPage(DashboardPage):
    template_name = "dashboard/overview.html"
    nav = "dashboard"

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        figures = overview_figures(now=timezone.now())
        context.update(
            figures=figures,
            # Engaging it is an operator's, releasing it an admin's: a viewer reads its state only.
            may_switch_kill_switch=user_has_role(self.request.user, kill_switch_role(not figures.kill_switch_engaged)),
            kill_switch_forced=settings.DAZNODE_KILL_SWITCH,
            kill_switch_url=kill_switch_url(),
            charts=CHARTS,
            chart_width=CHART_WIDTH,
            chart_height=CHART_HEIGHT,
        )
        return context
