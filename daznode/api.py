"""API plumbing shared by the apps: rate limits, the token endpoints, and who-am-I / user roles."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django_ratelimit.core import get_usage
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from auth_vault.models import AccessEvent
from daznode.roles import Role, user_role, user_set_role

logger = logging.getLogger(__name__)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def client_ip(request) -> str | None:
    return request.META.get(settings.RATELIMIT_IP_META_KEY) or request.META.get("REMOTE_ADDR")


class RateLimit(BaseThrottle):
    """Counts with django-ratelimit; DRF turns a refusal into 429 with Retry-After."""

    def rate_and_group(self, request, view) -> tuple[str, str]:
        raise NotImplementedError

    def key(self, request) -> str:
        return str(request.user.pk) if request.user.is_authenticated else f"ip:{client_ip(request)}"

    def allow_request(self, request, view) -> bool:
        rate, group = self.rate_and_group(request, view)
        usage = get_usage(request, group=group, key=lambda group, req: self.key(req), rate=rate, increment=True)
        if usage is None or not usage["should_limit"]:
            return True
        self.retry_after = max(1, usage["time_left"])
        actor = request.user.get_username() if request.user.is_authenticated else "anonymous"
        logger.warning(
            "rate limited: %s %s by %s from %s (%s)", request.method, request.path, actor, client_ip(request), rate
        )
        AccessEvent.objects.create(
            operation=AccessEvent.Operation.RATE_LIMITED,
            actor=actor,
            ip=client_ip(request),
            success=False,
            detail=f"{request.method} {request.path} over {rate}"[:500],
        )
        return False

    def wait(self) -> float:
        return self.retry_after


class LoginRateLimit(RateLimit):
    """Per client address, for each token endpoint on its own (a refresh does not use up the login budget)."""

    def rate_and_group(self, request, view) -> tuple[str, str]:
        return settings.DAZNODE_RATE_LOGIN, f"api-token:{type(view).__name__}"

    def key(self, request) -> str:
        return f"ip:{client_ip(request)}"


class ReadWriteRateLimit(RateLimit):
    """Reads and writes are counted separately, per user."""

    def rate_and_group(self, request, view) -> tuple[str, str]:
        if request.method in SAFE_METHODS:
            return settings.DAZNODE_RATE_READ, "api-read"
        return settings.DAZNODE_RATE_WRITE, "api-write"


def admin_login_rate_limited(login_view):
    """Wrap the admin's login view: password guesses there count like those at the token endpoint."""

    def view(request, *args, **kwargs):
        if request.method == "POST":
            usage = get_usage(
                request,
                group="admin-login",
                key=lambda group, req: f"ip:{client_ip(req)}",
                rate=settings.DAZNODE_RATE_LOGIN,
                increment=True,
            )
            if usage is not None and usage["should_limit"]:
                logger.warning(
                    "rate limited: admin login from %s (%s)", client_ip(request), settings.DAZNODE_RATE_LOGIN
                )
                AccessEvent.objects.create(
                    operation=AccessEvent.Operation.RATE_LIMITED,
                    actor="anonymous",
                    ip=client_ip(request),
                    success=False,
                    detail="admin login",
                )
                response = HttpResponse(
                    "Too many login attempts. Try again later.", status=429, content_type="text/plain"
                )
                response["Retry-After"] = str(max(1, usage["time_left"]))
                return response
        return login_view(request, *args, **kwargs)

    return view


class RoleDeclaredMixin:
    """Every Daznode API view: per-user read/write limits. Subclasses set `required_roles`."""

    throttle_classes = [ReadWriteRateLimit]


class TokenObtainView(jwt_views.TokenObtainPairView):
    """POST username and password, get an access and a refresh token. Failed attempts are audited."""

    public = True
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateLimit]

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:
            AccessEvent.objects.create(
                operation=AccessEvent.Operation.LOGIN,
                actor=str(request.data.get("username")),
                ip=client_ip(request),
                detail="API token issued",
            )
        return response


class TokenRefreshView(jwt_views.TokenRefreshView):
    """POST a refresh token, get a new access token and a new refresh token; the old one is blacklisted."""

    public = True
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateLimit]


class LogoutView(jwt_views.TokenBlacklistView):
    """POST a refresh token to blacklist it: it can no longer be refreshed."""

    public = True
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateLimit]


class MeView(RoleDeclaredMixin, APIView):
    required_roles = Role.VIEWER

    def get(self, request):
        return Response({"username": request.user.get_username(), "role": user_role(request.user)})


class UserSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "is_active", "role", "last_login"]
        read_only_fields = fields

    def get_role(self, user) -> str | None:
        return user_role(user)


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, allow_null=True)


class UserListView(RoleDeclaredMixin, generics.ListAPIView):
    required_roles = Role.ADMIN
    serializer_class = UserSerializer
    queryset = get_user_model().objects.order_by("username").prefetch_related("groups")


class UserRoleView(RoleDeclaredMixin, generics.GenericAPIView):
    """PUT {"role": "viewer" | "operator" | "admin" | null}. A superuser stays an admin whatever its groups."""

    required_roles = {"PUT": Role.ADMIN}
    queryset = get_user_model().objects.all()
    serializer_class = RoleSerializer

    def put(self, request, pk: int):
        user = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_set_role(user, serializer.validated_data["role"])
        logger.info("%s set the role of %s to %s", request.user.get_username(), user.get_username(), user_role(user))
        return Response(UserSerializer(user).data)
