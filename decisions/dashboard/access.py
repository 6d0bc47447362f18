"""Who may see and do what in the dashboard: Django session login, and the API's roles (daznode.roles).

Anonymous visitors are sent to the login page and see nothing else; a signed-in user without a role gets 403.
Reading needs the viewer role, acting (approve, reject, apply, roll back, the kill switch) the operator role.
"""

from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.utils.decorators import method_decorator

from daznode.api import admin_login_rate_limited
from daznode.roles import Role, user_has_role


class RoleRequiredMixin(AccessMixin):
    """A page's roles per method: `required_roles = {"GET": Role.VIEWER, "POST": Role.OPERATOR}` or one Role.

    A method the page does not declare is refused (fails closed), as in the API."""

    required_roles: Role | dict[str, Role] = Role.VIEWER
    raise_exception = False  # anonymous: to the login page

    def needed_role(self, method: str) -> Role | None:
        declared = self.required_roles
        if isinstance(declared, dict):
            return declared.get(method) or (declared.get("GET") if method in ("HEAD", "OPTIONS") else None)
        return declared

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        needed = self.needed_role(request.method)
        if needed is None or not user_has_role(request.user, needed):
            raise PermissionDenied("Your role does not allow this.")
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]  # the view this mixes into


@method_decorator(admin_login_rate_limited, name="dispatch")
class LoginView(auth_views.LoginView):
    """Password guesses here count with those at the admin and the token endpoint (one limit per address)."""

    template_name = "dashboard/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    next_page = "ui:login"  # a URL name: resolve_url reverses it
