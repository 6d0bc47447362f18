"""Whether the kill switch is on, for every admin and dashboard page (the mode comes from daznode's processor)."""

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from decisions.models import KillSwitch


def kill_switch_engaged_now() -> bool:
    """As decisions.executor.kill_switch_engaged, in one read query (a page never creates the row)."""
    return settings.DAZNODE_KILL_SWITCH or KillSwitch.objects.filter(pk=1, engaged=True).exists()


def kill_switch(request) -> dict:
    # Lazy: the query is made only by a page that shows the switch.
    return {"daznode_kill_switch": SimpleLazyObject(kill_switch_engaged_now)}
