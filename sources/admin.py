from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from daznode.admin import ReadOnlyAdminMixin
from sources.models import GraphSnapshot, HealthCheck, Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "url", "priority", "enabled", "last_check"]
    list_filter = ["kind", "enabled"]
    list_editable = ["priority", "enabled"]
    search_fields = ["name", "url"]
    raw_id_fields = ["credential", "tls_certificate"]

    @admin.display(description="last check")
    def last_check(self, source: Source) -> str:
        check = source.latest_check()
        if check is None:
            return "never"
        return f"{'up' if check.ok else 'down'} {check.checked_at:%Y-%m-%d %H:%M:%S}"


@admin.register(HealthCheck)
class HealthCheckAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["source", "checked_at", "ok", "latency_ms", "error"]
    list_filter = ["ok", "source"]
    date_hierarchy = "checked_at"
    list_select_related = ["source"]


@admin.register(GraphSnapshot)
class GraphSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["fetched_at", "source", "node_count", "edge_count", "expires_at", "payload_size"]
    list_filter = ["source"]
    list_select_related = ["source"]
    # The payload is megabytes of JSON: list it by size, never render it.
    exclude = ["payload", "compact"]
    readonly_fields = ["source", "fetched_at", "expires_at", "node_count", "edge_count", "content_hash", "payload_size"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("payload", "compact")

    @admin.display(description="payload")
    def payload_size(self, snapshot: GraphSnapshot) -> str:
        return filesizeformat(len(snapshot.payload))
