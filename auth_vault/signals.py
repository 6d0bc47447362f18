import logging

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import Signal, receiver

from auth_vault.access_log import access_failed_login, access_rate_limited, access_record
from auth_vault.models import AccessEvent
from daznode.actors import username_actor
from daznode.signals import request_refused, token_issued

logger = logging.getLogger(__name__)

# Sent by secret_rotate inside its transaction, with `old` and `new` (Secret versions). The apps to the right
# that refer to secrets (sources) listen and move their references to `new`; a receiver that raises undoes the
# rotation. The vault itself knows nothing of who refers to it.
secret_rotated = Signal()


@receiver(user_login_failed)
def record_failed_login(sender, credentials, request=None, **kwargs):
    """Admin and API logins alike. Django has already masked the password in `credentials`."""
    username = str(credentials.get("username", ""))[:150]
    ip = None
    if request is not None:  # the same address the rate limits count by (X-Real-IP behind a trusted proxy)
        ip = request.META.get(settings.RATELIMIT_IP_META_KEY) or request.META.get("REMOTE_ADDR")
    logger.warning("login failed for %r from %s", username, ip)
    access_failed_login(username=username, ip=ip)


@receiver(request_refused)
def count_refused_request(sender, *, actor: str, ip: str | None, detail: str, **kwargs):
    access_rate_limited(actor=actor, ip=ip, detail=detail)


@receiver(token_issued)
def record_token_login(sender, *, username: str, ip: str | None, **kwargs):
    actor = username_actor(username)
    access_record(operation=AccessEvent.Operation.LOGIN, actor=actor, ip=ip, detail="API token issued")
