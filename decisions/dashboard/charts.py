"""Being built (issue 11)."""

from django.http import HttpResponse
from django.views import View

from decisions.dashboard.access import RoleRequiredMixin


class ChartView(RoleRequiredMixin, View):
    def get(self, request, name: str):
        return HttpResponse("<svg xmlns='http://www.w3.org/2000/svg'/>", content_type="image/svg+xml")


class ChannelChartView(RoleRequiredMixin, View):
    def get(self, request, chan_id: str, name: str):
        return HttpResponse("<svg xmlns='http://www.w3.org/2000/svg'/>", content_type="image/svg+xml")
