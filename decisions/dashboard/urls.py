"""/umbrel-ui/: the operator's pages, their JSON figures, Umbrel's widgets and the charts (namespace "ui")."""

from django.urls import path
from django.views.generic import RedirectView

from decisions.dashboard import access, channel_pages, charts, overview, queue, sources_page, stats

app_name = "ui"

home = RedirectView.as_view(pattern_name="ui:dashboard", permanent=False)

urlpatterns = [
    # /umbrel-ui/ and /umbrel-ui/dashboard/ (as people type them) lead to the overview.
    path("", home),
    path("dashboard/", home),
    path("login", access.LoginView.as_view(), name="login"),
    path("logout", access.LogoutView.as_view(), name="logout"),
    path("dashboard", overview.OverviewPage.as_view(), name="dashboard"),
    path("channels", channel_pages.ChannelListPage.as_view(), name="channels"),
    path("channels/<str:chan_id>", channel_pages.ChannelDetailPage.as_view(), name="channel"),
    path("decisions", queue.QueuePage.as_view(), name="decisions"),
    path("decisions/<int:pk>", queue.DecisionPage.as_view(), name="decision"),
    path("decisions/<int:pk>/<str:action>", queue.DecisionActionPage.as_view(), name="decision-action"),
    path("kill-switch", queue.KillSwitchPage.as_view(), name="kill-switch"),
    path("sources", sources_page.SourcesPage.as_view(), name="sources"),
    path("api/stats", stats.StatsView.as_view(), name="stats"),
    path("api/widgets/<str:name>", stats.WidgetView.as_view(), name="widget"),
    path("charts/<str:name>.svg", charts.ChartView.as_view(), name="chart"),
    path("charts/channels/<str:chan_id>/<str:name>.svg", charts.ChannelChartView.as_view(), name="channel-chart"),
]
