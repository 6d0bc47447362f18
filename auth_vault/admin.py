from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from auth_vault import services
from auth_vault.api_keys import api_key_create, api_key_revoke
from auth_vault.inspection import SecretInputError, inspect_secret
from auth_vault.models import AccessCount, AccessEvent, ApiKey, Secret
from daznode.actors import user_actor
from daznode.admin import ReadOnlyAdminMixin

METADATA_FIELDS = [
    "name",
    "version",
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
    "caveats_display",
    "warnings_display",
    "rotate_link",
]


class SecretValueForm(forms.Form):
    """The value is write-only: a password field that never renders back, or an uploaded file."""

    value = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Paste the secret. It is encrypted at once and never shown again.",
    )
    encoding = forms.ChoiceField(
        choices=[(name, name) for name in services.ENCODINGS],
        initial="hex",
        help_text="How the pasted value is written (a macaroon is usually hex).",
    )
    upload = forms.FileField(required=False, help_text="Or upload the file itself (admin.macaroon, tls.cert).")

    def secret_bytes(self, kind: str) -> bytes:
        pasted, upload = self.cleaned_data.get("value"), self.cleaned_data.get("upload")
        if bool(pasted) == bool(upload):
            raise ValidationError("Paste a value or upload a file (one of the two).")
        try:
            value = upload.read() if upload else services.decode_input(pasted, self.cleaned_data["encoding"])
            inspect_secret(kind, value)
        except SecretInputError as exc:
            raise ValidationError(str(exc)) from None
        return value


class SecretImportForm(forms.ModelForm, SecretValueForm):
    class Meta:
        model = Secret
        fields = ["name", "kind", "secret_type", "expires_at"]

    def clean(self):
        cleaned = super().clean()
        if "kind" in cleaned and not self.errors:
            cleaned["secret_bytes"] = self.secret_bytes(cleaned["kind"])
        return cleaned


class SecretRotateForm(SecretValueForm):
    grace_minutes = forms.IntegerField(
        min_value=0,
        max_value=30 * 24 * 60,
        initial=0,
        help_text="Keep the old version usable this long, so running jobs can switch.",
    )


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    """Metadata only: never the value, the ciphertext, the nonce or the salt."""

    list_display = [
        "name",
        "version",
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
    actions = ["revoke_selected"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "kind", "secret_type", "expires_at", "value", "encoding", "upload"]
        return METADATA_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else METADATA_FIELDS

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SecretImportForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = services.secret_create(
            name=data["name"],
            kind=data["kind"],
            value=data["secret_bytes"],
            secret_type=data["secret_type"],
            expires_at=data["expires_at"],
            actor=user_actor(request.user),
            ip=request.META.get("REMOTE_ADDR"),
        )
        obj.__dict__.update(created.__dict__)
        for warning in created.details.get("warnings", []):
            messages.warning(request, f"{created.name}: {warning}")

    @admin.action(description="Revoke the selected secrets now")
    def revoke_selected(self, request, queryset):
        for secret in queryset:
            services.secret_revoke(
                secret, actor=user_actor(request.user), reason="admin action", ip=request.META.get("REMOTE_ADDR")
            )
        messages.success(request, f"Revoked {queryset.count()} secret(s).")

    def get_urls(self):
        rotate = path("<int:pk>/rotate/", self.admin_site.admin_view(self.rotate_view), name="auth_vault_secret_rotate")
        return [rotate, *super().get_urls()]

    def rotate_view(self, request, pk: int):
        secret = get_object_or_404(Secret, pk=pk)
        if not self.has_add_permission(request):
            return redirect("admin:auth_vault_secret_change", pk)
        form = SecretRotateForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                new = services.secret_rotate(
                    secret,
                    value=form.secret_bytes(secret.kind),
                    actor=user_actor(request.user),
                    grace=timedelta(minutes=form.cleaned_data["grace_minutes"]),
                    ip=request.META.get("REMOTE_ADDR"),
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            except services.SecretConflict as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Rotated {secret.name}: version {new.version} is now in use.")
                return redirect("admin:auth_vault_secret_change", new.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Rotate {secret.name} v{secret.version}",
            "form": form,
            "secret": secret,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/auth_vault/secret/rotate.html", context)

    @admin.display(description="fingerprint")
    def fingerprint_short(self, secret: Secret) -> str:
        return secret.fingerprint[:16]

    @admin.display(description="status")
    def status_display(self, secret: Secret) -> str:
        return secret.status().label

    @admin.display(description="caveats")
    def caveats_display(self, secret: Secret) -> str:
        return "; ".join(secret.details.get("caveats", [])) or "—"

    @admin.display(description="warnings")
    def warnings_display(self, secret: Secret) -> str:
        return "; ".join(secret.details.get("warnings", [])) or "—"

    @admin.display(description="rotate")
    def rotate_link(self, secret: Secret) -> str:
        return format_html(
            '<a href="{}">Store a new value…</a>', reverse("admin:auth_vault_secret_rotate", args=[secret.pk])
        )


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "actor", "operation", "secret", "ip", "success", "detail"]
    list_filter = ["operation", "success", ("at", admin.DateFieldListFilter)]
    search_fields = ["actor", "secret__name", "detail", "ip"]
    date_hierarchy = "at"
    list_select_related = ["secret"]


@admin.register(AccessCount)
class AccessCountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Scheduled reads and rate-limit refusals, counted per hour (the access events list the rest)."""

    list_display = ["hour", "actor", "operation", "secret", "ip", "count", "last_at", "detail"]
    list_filter = ["operation", ("hour", admin.DateFieldListFilter)]
    search_fields = ["actor", "secret__name", "ip", "detail"]
    date_hierarchy = "hour"
    list_select_related = ["secret"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are shown once, on the page that follows their creation; afterwards only their prefix."""

    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    fields = ["name", "user", "expires_at"]
    actions = ["revoke_selected"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        created, key = api_key_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            expires_at=form.cleaned_data["expires_at"],
            actor=user_actor(request.user),
        )
        obj.__dict__.update(created.__dict__)
        request._daznode_new_api_key = key

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "title": f"API key {obj.name}",
            "api_key": obj,
            "key": request._daznode_new_api_key,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/auth_vault/apikey/created.html", context)

    @admin.action(description="Revoke the selected API keys now")
    def revoke_selected(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key, actor=user_actor(request.user))
        messages.success(request, f"Revoked {queryset.count()} API key(s).")
