"""Being built (issue 11): a placeholder page until its module lands."""

from decisions.dashboard.page import DashboardPage


class QueuePage(DashboardPage):
    template_name = "dashboard/placeholder.html"


class DecisionPage(DashboardPage):
    template_name = "dashboard/placeholder.html"


class DecisionActionPage(DashboardPage):
    template_name = "dashboard/placeholder.html"


class KillSwitchPage(DashboardPage):
    template_name = "dashboard/placeholder.html"
