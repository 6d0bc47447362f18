"""The vault's API routes, included under /api/v1/ by daznode/urls.py."""

from django.urls import path

from auth_vault import api

urlpatterns = [
    path("vault/secrets", api.SecretListCreateView.as_view(), name="secrets"),
    path("vault/secrets/<int:pk>/rotate", api.SecretRotateView.as_view(), name="secret-rotate"),
    path("vault/secrets/<int:pk>/revoke", api.SecretRevokeView.as_view(), name="secret-revoke"),
]
