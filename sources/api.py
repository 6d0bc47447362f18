"""Sources endpoints: viewers read them, operators manage them."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from auth_vault.models import Secret
from daznode.api import RoleDeclaredMixin
from daznode.roles import Role
from sources.health import system_health
from sources.models import GraphSnapshot, Source
from sources.services import SourceChangeRefused, source_create, source_update
from sources.snapshots import snapshot_staleness


class SourceSerializer(serializers.ModelSerializer):
    credential = serializers.PrimaryKeyRelatedField(queryset=Secret.objects.all(), allow_null=True, required=False)
    tls_certificate = serializers.PrimaryKeyRelatedField(queryset=Secret.objects.all(), allow_null=True, required=False)

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
        fields = ("name", "kind", "url", "priority", "enabled", "credential", "tls_certificate")
        return {field: getattr(self.instance, field) for field in fields}


@contextmanager
def refused_as_forbidden() -> Iterator[None]:
    try:
        yield
    except SourceChangeRefused as exc:
        raise PermissionDenied(str(exc)) from None


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

    def perform_create(self, serializer):
        with refused_as_forbidden():
            serializer.instance = source_create(source=Source(**serializer.validated_data), user=self.request.user)

    def perform_update(self, serializer):
        with refused_as_forbidden():
            source_update(source=serializer.instance, changes=serializer.validated_data, user=self.request.user)


class SystemHealthView(RoleDeclaredMixin, APIView):
    """Per source: status, last check, availability over 1 h / 24 h / 7 d, p50/p95 latency, circuit state.

    200 when at least one graph source is up, 503 otherwise (so a monitor can alert on the status alone).
    """

    required_roles = Role.VIEWER

    def get(self, request):
        healthy, sources = system_health()
        body = {"status": "ok" if healthy else "degraded", "sources": sources}
        return Response(body, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)


class GraphDocumentView(RoleDeclaredMixin, APIView):
    """The latest graph snapshot as describegraph JSON: what a federated Daznode (an MCP source) reads."""

    required_roles = Role.VIEWER

    def get(self, request):
        snapshot = GraphSnapshot.objects.select_related("source").order_by("-fetched_at", "-id").first()
        if snapshot is None:
            return Response({"detail": "no graph snapshot yet"}, status=status.HTTP_404_NOT_FOUND)
        response = HttpResponse(snapshot.raw_document(), content_type="application/json")
        response["X-Daznode-Snapshot-Fetched-At"] = snapshot.fetched_at.isoformat()
        staleness = snapshot_staleness(snapshot)
        response["X-Daznode-Snapshot-Stale"] = "true" if staleness.stale else "false"
        if staleness.stale:
            response["X-Daznode-Snapshot-Stale-Reason"] = staleness.reason
            response["X-Daznode-Snapshot-Stale-Since"] = staleness.since.isoformat()
        response["X-Daznode-Snapshot-Hash"] = snapshot.content_hash
        return response
