from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from daznode import api, views

admin.site.site_header = "Daznode"
admin.site.site_title = "Daznode"
admin.site.index_title = "Fee and channel management"
admin.site.login = api.admin_login_rate_limited(admin.site.login)

# Each app lists its own routes (its urls.py), included by name: the project imports no app's code, so the
# arrows run one way (daznode -> auth_vault -> sources -> channels -> decisions).
api_v1 = [
    path("auth/token", api.TokenObtainView.as_view(), name="token"),
    path("auth/token/refresh", api.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/logout", api.LogoutView.as_view(), name="logout"),
    path("me", api.MeView.as_view(), name="me"),
    path("users", api.UserListView.as_view(), name="users"),
    path("users/<int:pk>/role", api.UserRoleView.as_view(), name="user-role"),
    path("", include("auth_vault.urls")),
    path("", include("sources.urls")),
    path("", include("channels.urls")),
    path("", include("decisions.urls")),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("admin/", admin.site.urls),
    # The operator's pages; "/" opens the overview (the login page first for anyone signed out).
    path("umbrel-ui/", include("decisions.dashboard.urls")),
    path("", RedirectView.as_view(pattern_name="ui:dashboard", permanent=False)),
    path("dashboard/", RedirectView.as_view(pattern_name="ui:dashboard", permanent=False)),
]
