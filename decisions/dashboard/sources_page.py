"""Being built (issue 11): a placeholder page until its module lands."""

from decisions.dashboard.page import DashboardPage


class SourcesPage(DashboardPage):
    template_name = "dashboard/placeholder.html"
