"""API plumbing shared by the apps: rate limits, the token endpoints, and who-am-I / user roles."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django_ratelimit.core import get_usage
from rest_framework import generics, serializers
from rest_framework.exceptions import APIException
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from daznode.actors import ANONYMOUS_ACTOR, user_actor
from daznode.roles import Role, user_role, user_set_role
from daznode.signals import request_refused, token_issued

logger = logging.getLogger(__name__)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# About one password check: a refused login may come back once the one in progress is done.
LOGIN_BUSY_RETRY_AFTER_S = 2
LOGIN_BUSY_DETAIL = "Too many logins at once. Try again in a moment."


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
        actor = user_actor(request.user) if request.user.is_authenticated else ANONYMOUS_ACTOR
        logger.warning(
            "rate limited: %s %s by %s from %s (%s)", request.method, request.path, actor, client_ip(request), rate
        )
        request_refused.send(
            sender=type(self), actor=actor, ip=client_ip(request), detail=f"{request.method} {request.path} over {rate}"
        )
        return False

    def wait(self) -> float:
        return self.retry_after


class PasswordCheckSlots:
    """A bound on the password checks running at once in this process.

    A check costs about a second of CPU (PBKDF2, deliberately slow); left unbounded, a handful of logins occupy
    every core and every worker thread, and reads wait behind them. A login beyond the bound is refused at once
    (429, Retry-After) rather than queued, so the threads stay free for everyone else. 429 rather than 503: the
    client is asked to slow down, and Django does not log it as a server error.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = 0

    @contextmanager
    def claim(self) -> Iterator[bool]:
        """Yields whether a slot was free; the slot, if taken, is given back on exit."""
        with self._lock:
            granted = self._busy < settings.DAZNODE_LOGIN_CONCURRENCY
            if granted:
                self._busy += 1
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    self._busy -= 1


password_check_slots = PasswordCheckSlots()


class LoginsBusy(APIException):
    status_code = 429
    default_detail = LOGIN_BUSY_DETAIL
    default_code = "logins_busy"
    wait = LOGIN_BUSY_RETRY_AFTER_S  # DRF turns it into Retry-After


def refuse_busy_login(request, *, where: str) -> None:
    logger.warning("login refused: %s from %s while other logins are being checked", where, client_ip(request))
    request_refused.send(
        sender=PasswordCheckSlots, actor=ANONYMOUS_ACTOR, ip=client_ip(request), detail=f"{where} busy"
    )


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
                request_refused.send(sender=view, actor=ANONYMOUS_ACTOR, ip=client_ip(request), detail="admin login")
                return _plain_refusal("Too many login attempts. Try again later.", 429, max(1, usage["time_left"]))
            with password_check_slots.claim() as granted:
                if not granted:
                    refuse_busy_login(request, where="admin login")
                    return _plain_refusal(LOGIN_BUSY_DETAIL, 429, LOGIN_BUSY_RETRY_AFTER_S)
                return login_view(request, *args, **kwargs)
        return login_view(request, *args, **kwargs)

    return view


def _plain_refusal(text: str, status: int, retry_after_s: int) -> HttpResponse:
    response = HttpResponse(text, status=status, content_type="text/plain")
    response["Retry-After"] = str(retry_after_s)
    return response


class RoleDeclaredMixin:
    """Every Daznode API view: per-user read/write limits. Subclasses set `required_roles`."""

    throttle_classes = [ReadWriteRateLimit]


class TokenObtainView(jwt_views.TokenObtainPairView):
    """POST username and password, get an access and a refresh token. Failed attempts are audited.

    The rate limit (a throttle, checked before this method runs) and then the bound on concurrent password
    checks both refuse before any hashing is spent.
    """

    public = True
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateLimit]

    def post(self, request, *args, **kwargs):
        with password_check_slots.claim() as granted:
            if not granted:
                refuse_busy_login(request, where="API token")
                raise LoginsBusy
            response = super().post(request, *args, **kwargs)
        if response.status_code == 200:
            token_issued.send(sender=type(self), username=str(request.data.get("username")), ip=client_ip(request))
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
