"""The sources' API routes, included under /api/v1/ by daznode/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from sources import api

router = SimpleRouter(trailing_slash=False)
router.register("sources", api.SourceViewSet)

urlpatterns = [
    path("system/health", api.SystemHealthView.as_view(), name="system-health"),
    path("graph", api.GraphDocumentView.as_view(), name="graph"),
    *router.urls,
]
