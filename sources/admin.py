from django import forms
from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from daznode.admin import ReadOnlyAdminMixin, column, milliseconds, thousands
from sources.models import GraphSnapshot, HealthCheck, Source
from sources.services import SourceChangeRefused, source_change_check, source_create, source_update


class SourceAdminForm(forms.ModelForm):
    """Refuses, as a form error, what the user's role does not allow (sources.services decides)."""

    user = None  # set for each request by SourceAdmin.get_form

    def clean(self):
        cleaned = super().clean()
        existing = self.instance if self.instance.pk else None  # not yet changed: the form applies data after clean
        try:
            source_change_check(source=existing, changes=changed_values(self), user=self.user)
        except SourceChangeRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return cleaned


def changed_values(form: forms.ModelForm) -> dict:
    return {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "url", "priority", "enabled", "last_check"]
    list_filter = ["kind", "enabled"]
    list_editable = ["priority", "enabled"]
    search_fields = ["name", "url"]
    raw_id_fields = ["credential", "tls_certificate"]
    form = SourceAdminForm

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    def save_model(self, request, obj: Source, form, change: bool) -> None:
        # The form showed a refusal already; the service checks again against the stored row (the changelist's
        # own forms do not go through SourceAdminForm).
        if change:
            source_update(source=obj, changes=changed_values(form), user=request.user)
        else:
            source_create(source=obj, user=request.user)

    @admin.display(description="last check")
    def last_check(self, source: Source) -> str:
        check = source.latest_check()
        if check is None:
            return "never"
        return f"{'up' if check.ok else 'down'} {check.checked_at:%Y-%m-%d %H:%M:%S}"


@admin.register(HealthCheck)
class HealthCheckAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["source", "checked_at", "ok", "latency", "error"]
    list_filter = ["ok", "source"]
    date_hierarchy = "checked_at"
    list_select_related = ["source"]
    fields = ("source", "checked_at", "ok", "latency", "error")
    readonly_fields = fields

    latency = column("latency_ms", milliseconds, "latency")


@admin.register(GraphSnapshot)
class GraphSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["fetched_at", "source", "nodes", "edges", "expires_at", "payload_size"]
    list_filter = ["source"]
    list_select_related = ["source"]
    # The payload is megabytes of JSON: list it by size, never render it.
    exclude = ["payload", "compact"]
    fields = (
        "source",
        "fetched_at",
        "expires_at",
        "analysed_at",
        "nodes",
        "edges",
        "content_hash",
        "payload_size",
        "skipped",
        "skipped_examples",
    )
    readonly_fields = fields

    nodes = column("node_count", thousands, "nodes")
    edges = column("edge_count", thousands, "channels")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("payload", "compact")

    @admin.display(description="payload")
    def payload_size(self, snapshot: GraphSnapshot) -> str:
        return filesizeformat(len(snapshot.payload))
