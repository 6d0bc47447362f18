from django.contrib import admin

from daznode.admin import ReadOnlyAdminMixin
from decisions.models import AuditEntry, Decision, PolicyBackup


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "channel", "kind", "status", "mode", "total_score", "actor"]
    list_filter = ["kind", "status", "mode"]
    search_fields = ["channel__chan_id", "channel__peer__alias", "channel__peer__pubkey"]
    date_hierarchy = "created_at"
    list_select_related = ["channel__peer"]


@admin.register(PolicyBackup)
class PolicyBackupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["taken_at", "channel", "decision", "read_from"]
    search_fields = ["channel__chan_id"]
    date_hierarchy = "taken_at"
    list_select_related = ["channel__peer", "decision"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Append-only: listed and filtered, never added, edited or deleted from here."""

    list_display = ["at", "actor", "action", "channel", "decision", "reason"]
    list_filter = ["action", "actor", ("at", admin.DateFieldListFilter)]
    search_fields = ["channel__chan_id", "channel__peer__alias", "channel__peer__pubkey", "reason"]
    date_hierarchy = "at"
    list_select_related = ["channel__peer", "decision"]
