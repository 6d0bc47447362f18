"""Sources endpoints: viewers read them, operators manage them."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, viewsets

from auth_vault.models import Secret
from daznode.api import RoleDeclaredMixin
from daznode.roles import Role
from sources.models import Source


class SourceSerializer(serializers.ModelSerializer):
    credential = serializers.PrimaryKeyRelatedField(queryset=Secret.objects.all(), allow_null=True, required=False)
    tls_certificate = serializers.PrimaryKeyRelatedField(
        queryset=Secret.objects.filter(kind=Secret.Kind.TLS_CERT), allow_null=True, required=False
    )

    class Meta:
        model = Source
        fields = [
            "id",
            "name",
            "kind",
            "url",
            "priority",
            "enabled",
            "credential",
            "tls_certificate",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, attrs):
        candidate = Source(**{**self._current_values(), **attrs})
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs

    def _current_values(self) -> dict:
        if self.instance is None:
            return {}
        return {field: getattr(self.instance, field) for field in ("name", "kind", "url", "priority", "enabled")}


class SourceViewSet(RoleDeclaredMixin, viewsets.ModelViewSet):
    required_roles = {
        "GET": Role.VIEWER,
        "POST": Role.OPERATOR,
        "PUT": Role.OPERATOR,
        "PATCH": Role.OPERATOR,
        "DELETE": Role.OPERATOR,
    }
    queryset = Source.objects.select_related("credential", "tls_certificate")
    serializer_class = SourceSerializer
