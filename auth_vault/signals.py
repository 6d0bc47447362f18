import logging

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from auth_vault.models import AccessEvent

logger = logging.getLogger(__name__)


@receiver(user_login_failed)
def record_failed_login(sender, credentials, request=None, **kwargs):
    """Admin and API logins alike. Django has already masked the password in `credentials`."""
    username = str(credentials.get("username", ""))[:150]
    ip = None
    if request is not None:  # the same address the rate limits count by (X-Real-IP behind a trusted proxy)
        ip = request.META.get(settings.RATELIMIT_IP_META_KEY) or request.META.get("REMOTE_ADDR")
    logger.warning("login failed for %r from %s", username, ip)
    AccessEvent.objects.create(
        operation=AccessEvent.Operation.LOGIN_FAILED, actor=username or "?", ip=ip, success=False
    )
