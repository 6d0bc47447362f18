"""The channels app's settings, built from the raw values django.conf.settings holds (settings import no app)."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from channels.scoring import DEFAULT_WEIGHTS, validate_weights

# The sync keeps at least a month of daily activity, and always the whole scoring window (which may be longer).
SYNC_WINDOW_MIN_DAYS = 30


def sync_window_days() -> int:
    """How many whole UTC days before today's the sync reads the forwarding history for: the activity window's
    oldest day must be read from its midnight, or its stored bucket is overwritten by a part of the day."""
    return max(SYNC_WINDOW_MIN_DAYS, settings.DAZNODE_SCORE_ACTIVITY_DAYS)


def score_weights() -> dict[str, float]:
    """DAZNODE_SCORE_WEIGHTS as checked weights, or the defaults when it is empty. ImproperlyConfigured names it."""
    raw = settings.DAZNODE_SCORE_WEIGHTS
    if not raw:
        return dict(DEFAULT_WEIGHTS)
    try:
        return validate_weights({name: float(value) for name, value in raw.items()})
    except ValueError as exc:  # WeightsError is one
        raise ImproperlyConfigured(f"DAZNODE_SCORE_WEIGHTS must be name=weight pairs summing to 1: {exc}") from None


@register()
def check_settings(app_configs, **kwargs) -> list[Error]:
    """`manage.py check` reports what ChannelsConfig.ready() would refuse at start-up."""
    try:
        score_weights()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="channels.E001")]
    return []
