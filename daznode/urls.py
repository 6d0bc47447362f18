from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from rest_framework.routers import SimpleRouter

from auth_vault import api as vault_api
from channels import api as channels_api
from daznode import api, views
from decisions import api as decisions_api
from sources import api as sources_api

admin.site.site_header = "Daznode"
admin.site.site_title = "Daznode"
admin.site.index_title = "Fee and channel management"
admin.site.login = api.admin_login_rate_limited(admin.site.login)

router = SimpleRouter(trailing_slash=False)
router.register("sources", sources_api.SourceViewSet)

api_v1 = [
    path("auth/token", api.TokenObtainView.as_view(), name="token"),
    path("auth/token/refresh", api.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/logout", api.LogoutView.as_view(), name="logout"),
    path("me", api.MeView.as_view(), name="me"),
    path("users", api.UserListView.as_view(), name="users"),
    path("users/<int:pk>/role", api.UserRoleView.as_view(), name="user-role"),
    path("vault/secrets", vault_api.SecretListCreateView.as_view(), name="secrets"),
    path("vault/secrets/<int:pk>/rotate", vault_api.SecretRotateView.as_view(), name="secret-rotate"),
    path("vault/secrets/<int:pk>/revoke", vault_api.SecretRevokeView.as_view(), name="secret-revoke"),
    path("system/health", sources_api.SystemHealthView.as_view(), name="system-health"),
    path("graph", sources_api.GraphDocumentView.as_view(), name="graph"),
    path("channels", channels_api.ChannelListView.as_view(), name="channels"),
    path("channels/<str:chan_id>/scores", channels_api.ChannelScoreHistoryView.as_view(), name="channel-scores"),
    path("channels/<str:chan_id>/rollback", decisions_api.ChannelRollbackView.as_view(), name="channel-rollback"),
    path("nodes/<str:pubkey>/metrics", channels_api.NodeMetricsView.as_view(), name="node-metrics"),
    path("decisions", decisions_api.DecisionListView.as_view(), name="decisions"),
    path("decisions/preview", decisions_api.DecisionPreviewView.as_view(), name="decision-preview"),
    path("decisions/<int:pk>", decisions_api.DecisionDetailView.as_view(), name="decision"),
    path("decisions/<int:pk>/approve", decisions_api.DecisionApproveView.as_view(), name="decision-approve"),
    path("decisions/<int:pk>/reject", decisions_api.DecisionRejectView.as_view(), name="decision-reject"),
    path("decisions/<int:pk>/apply", decisions_api.DecisionApplyView.as_view(), name="decision-apply"),
    path("decisions/<int:pk>/rollback", decisions_api.DecisionRollbackView.as_view(), name="decision-rollback"),
    path("audit", decisions_api.AuditListView.as_view(), name="audit"),
    path("system/kill-switch", decisions_api.KillSwitchView.as_view(), name="kill-switch"),
    *router.urls,
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
