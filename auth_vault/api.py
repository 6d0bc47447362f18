"""Vault endpoints (admin role): list metadata, create, rotate, revoke. Values go in, never out."""

from contextlib import contextmanager
from datetime import timedelta

from django.shortcuts import get_object_or_404
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from auth_vault import services
from auth_vault.inspection import SecretInputError
from auth_vault.models import Secret
from daznode.actors import user_actor
from daznode.api import RoleDeclaredMixin, client_ip
from daznode.roles import Role


class SecretSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="secret_type")
    status = serializers.SerializerMethodField()
    caveats = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()
    replaces = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Secret
        fields = [
            "id",
            "name",
            "version",
            "kind",
            "type",
            "permissions",
            "fingerprint",
            "key_id",
            "status",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "rotation_count",
            "replaces",
            "caveats",
            "warnings",
        ]
        read_only_fields = fields

    def get_status(self, secret: Secret) -> str:
        return secret.status()

    def get_caveats(self, secret: Secret) -> list[str]:
        return secret.details.get("caveats", [])

    def get_warnings(self, secret: Secret) -> list[str]:
        return secret.details.get("warnings", [])


class SecretValueSerializer(serializers.Serializer):
    value = serializers.CharField(write_only=True, trim_whitespace=True, style={"input_type": "password"})
    encoding = serializers.ChoiceField(choices=services.ENCODINGS, default="text")

    def validated_value(self) -> bytes:
        try:
            return services.decode_input(self.validated_data["value"], self.validated_data["encoding"])
        except SecretInputError as exc:
            raise ValidationError({"value": [str(exc)]}) from None


class SecretCreateSerializer(SecretValueSerializer):
    name = serializers.SlugField(max_length=100)
    kind = serializers.ChoiceField(choices=Secret.Kind.choices)
    type = serializers.ChoiceField(choices=Secret.Type.choices, required=False)
    permissions = serializers.ListField(
        child=serializers.ChoiceField(choices=Secret.Permission.choices), required=False
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class SecretRotateSerializer(SecretValueSerializer):
    grace_seconds = serializers.IntegerField(min_value=0, max_value=30 * 86400, default=0)


class SecretRevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=400, required=False, default="")


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


@contextmanager
def vault_errors_as_answers():
    """A value that is not what its kind says is a 400 on the value; a name already taken is a 409."""
    try:
        yield
    except SecretInputError as exc:
        raise ValidationError({"value": [str(exc)]}) from None
    except services.SecretConflict as exc:
        raise Conflict(str(exc)) from None


class SecretListCreateView(RoleDeclaredMixin, generics.ListCreateAPIView):
    required_roles = {"GET": Role.ADMIN, "POST": Role.ADMIN}
    queryset = Secret.objects.order_by("name", "-version")

    def get_serializer_class(self):
        return SecretCreateSerializer if self.request.method == "POST" else SecretSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with vault_errors_as_answers():
            secret = services.secret_create(
                name=data["name"],
                kind=data["kind"],
                value=serializer.validated_value(),
                secret_type=data.get("type"),
                permissions=data.get("permissions"),
                expires_at=data.get("expires_at"),
                actor=user_actor(request.user),
                ip=client_ip(request),
            )
        return Response(SecretSerializer(secret).data, status=status.HTTP_201_CREATED)


class SecretRotateView(RoleDeclaredMixin, generics.GenericAPIView):
    required_roles = {"POST": Role.ADMIN}
    serializer_class = SecretRotateSerializer

    def post(self, request, pk: int):
        secret = get_object_or_404(Secret, pk=pk)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        grace = serializer.validated_data["grace_seconds"]
        with vault_errors_as_answers():
            new = services.secret_rotate(
                secret,
                value=serializer.validated_value(),
                actor=user_actor(request.user),
                grace=timedelta(seconds=grace),
                ip=client_ip(request),
            )
        return Response(SecretSerializer(new).data, status=status.HTTP_201_CREATED)


class SecretRevokeView(RoleDeclaredMixin, generics.GenericAPIView):
    required_roles = {"POST": Role.ADMIN}
    serializer_class = SecretRevokeSerializer

    def post(self, request, pk: int):
        secret = get_object_or_404(Secret, pk=pk)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        revoked = services.secret_revoke(
            secret, actor=user_actor(request.user), reason=serializer.validated_data["reason"], ip=client_ip(request)
        )
        return Response(SecretSerializer(revoked).data)
