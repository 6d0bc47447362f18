"""The channels' API routes, included under /api/v1/ by daznode/urls.py."""

from django.urls import path

from channels import api

urlpatterns = [
    path("channels", api.ChannelListView.as_view(), name="channels"),
    path("channels/<str:chan_id>/scores", api.ChannelScoreHistoryView.as_view(), name="channel-scores"),
    path("nodes/<str:pubkey>/metrics", api.NodeMetricsView.as_view(), name="node-metrics"),
]
