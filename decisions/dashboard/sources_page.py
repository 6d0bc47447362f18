"""/umbrel-ui/sources: is every source answering, and how fresh is the graph the scores come from?"""

from django.utils import timezone

from decisions.dashboard.page import DashboardPage
from decisions.dashboard.source_figures import sources_overview


class SourcesPage(DashboardPage):
    template_name = "dashboard/sources.html"
    nav = "sources"

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        context.update(overview=sources_overview(now=timezone.now()))
        return context
