"""Being built (issue 11)."""

from django.http import JsonResponse
from django.views import View

from decisions.dashboard.access import RoleRequiredMixin


class StatsView(RoleRequiredMixin, View):
    def get(self, request):
        return JsonResponse({})


class WidgetView(RoleRequiredMixin, View):
    def get(self, request, name: str):
        return JsonResponse({})
