from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from daznode import views

admin.site.site_header = "Daznode"
admin.site.site_title = "Daznode"
admin.site.index_title = "Fee and channel management"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
