"""Start-up checks of the sources settings that are valid alone but wrong together."""

from django.conf import settings
from django.core.checks import Warning, register


@register()
def breaker_cooldown_under_check_interval(app_configs, **kwargs) -> list[Warning]:
    """An open circuit lets its trial through only after the cooldown: if the cooldown is not shorter than the
    health-check interval, the first check after a source recovers is refused and recovery takes two intervals."""
    cooldown, interval = settings.DAZNODE_SOURCE_BREAKER_COOLDOWN, settings.CHECK_SOURCES_EVERY
    if cooldown < interval:
        return []
    return [
        Warning(
            f"DAZNODE_SOURCE_BREAKER_COOLDOWN ({cooldown}) is not shorter than DAZNODE_CHECK_SOURCES_EVERY "
            f"({interval}): a recovered source stays refused until the second health check after it recovers.",
            hint="Set the cooldown to about half the health-check interval.",
            id="sources.W001",
        )
    ]
