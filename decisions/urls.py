"""The decisions' API routes, included under /api/v1/ by daznode/urls.py."""

from django.urls import path

from decisions import api

urlpatterns = [
    path("channels/<str:chan_id>/rollback", api.ChannelRollbackView.as_view(), name="channel-rollback"),
    path("decisions", api.DecisionListView.as_view(), name="decisions"),
    path("decisions/preview", api.DecisionPreviewView.as_view(), name="decision-preview"),
    path("decisions/<int:pk>", api.DecisionDetailView.as_view(), name="decision"),
    path("decisions/<int:pk>/approve", api.DecisionApproveView.as_view(), name="decision-approve"),
    path("decisions/<int:pk>/reject", api.DecisionRejectView.as_view(), name="decision-reject"),
    path("decisions/<int:pk>/apply", api.DecisionApplyView.as_view(), name="decision-apply"),
    path("decisions/<int:pk>/rollback", api.DecisionRollbackView.as_view(), name="decision-rollback"),
    path("audit", api.AuditListView.as_view(), name="audit"),
    path("system/kill-switch", api.KillSwitchView.as_view(), name="kill-switch"),
]
