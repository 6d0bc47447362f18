from django.contrib import admin

from auth_vault.models import Secret
from daznode.admin import ReadOnlyAdminMixin


@admin.register(Secret)
class SecretAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Metadata only: the ciphertext, nonce and salt are never shown, and there is no plaintext to show."""

    list_display = [
        "name",
        "kind",
        "secret_type",
        "fingerprint_short",
        "status_display",
        "created_at",
        "expires_at",
        "last_used_at",
        "rotation_count",
    ]
    list_filter = ["kind", "secret_type"]
    search_fields = ["name", "fingerprint"]
    fields = [
        "name",
        "kind",
        "secret_type",
        "permissions",
        "fingerprint",
        "key_id",
        "status_display",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "rotation_count",
        "replaces",
    ]
    readonly_fields = fields

    @admin.display(description="fingerprint")
    def fingerprint_short(self, secret: Secret) -> str:
        return secret.fingerprint[:16]

    @admin.display(description="status")
    def status_display(self, secret: Secret) -> str:
        return secret.status().label
