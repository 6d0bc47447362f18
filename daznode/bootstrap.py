"""What `make run` (and the container's entrypoint) does before starting the processes."""

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError


class AdminPasswordRejected(ValueError):
    pass


@dataclass(frozen=True)
class AdminLogin:
    username: str
    password: str | None  # the generated password, shown once; None when it was given or already set
    created: bool


def ensure_admin(*, username: str, password: str | None = None) -> AdminLogin:
    """Create the first superuser unless one exists. A given password is used once, at creation, never reset."""
    User = get_user_model()
    existing = User.objects.filter(is_superuser=True).order_by("id").first()
    if existing is not None:
        return AdminLogin(username=existing.get_username(), password=None, created=False)
    generated = password is None
    if generated:
        password = secrets.token_urlsafe(18)
    else:
        try:
            validate_password(password, User(username=username))
        except ValidationError as exc:
            raise AdminPasswordRejected(" ".join(exc.messages)) from None
    User.objects.create_superuser(username=username, email="", password=password)
    return AdminLogin(username=username, password=password if generated else None, created=True)
