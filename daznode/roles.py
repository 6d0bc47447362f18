"""Who may do what through the API. Three roles, each including the ones below it:

- viewer: read everything but secrets;
- operator: also approve, apply and roll back decisions, and manage sources;
- admin: also the vault and users. A superuser is an admin.

A role is membership of the Django group of the same name (created by a migration), so the admin's user
screen assigns roles too. Every API view declares the role each method needs; a view that declares none
refuses everyone, so a forgotten declaration fails closed.
"""

import logging

from django.contrib.auth.models import Group
from django.db import models, transaction
from rest_framework.permissions import BasePermission

logger = logging.getLogger(__name__)


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"


RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def user_role(user) -> Role | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    names = set(user.groups.values_list("name", flat=True)) & set(Role.values)
    return max((Role(name) for name in names), key=RANK.__getitem__, default=None)


def user_has_role(user, needed: Role) -> bool:
    role = user_role(user)
    return role is not None and RANK[role] >= RANK[needed]


@transaction.atomic
def user_set_role(user, role: Role | None) -> None:
    user.groups.remove(*Group.objects.filter(name__in=Role.values))
    if role is not None:
        # The migration creates the groups, but an operator may have deleted one in the admin since.
        user.groups.add(Group.objects.get_or_create(name=role)[0])


def required_role(view, method: str) -> Role | None:
    """The role a view declares for a method: `required_roles = {"GET": Role.VIEWER, ...}` or one Role."""
    declared = getattr(view, "required_roles", None)
    if isinstance(declared, dict):
        return declared.get(method) or (declared.get("GET") if method in ("HEAD", "OPTIONS") else None)
    return declared


class HasRole(BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        if not hasattr(view, request.method.lower()):
            return True  # the view does not offer this method: DRF answers 405
        needed = required_role(view, request.method)
        if needed is None:
            logger.error("%s declares no role for %s: refused", type(view).__name__, request.method)
            return False
        return user_has_role(request.user, needed)
