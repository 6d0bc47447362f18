from django.contrib import admin


class ReadOnlyAdminMixin:
    """For rows that only the application writes: history, measurements, audit."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


admin.site.empty_value_display = "—"
