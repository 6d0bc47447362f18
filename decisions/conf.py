"""The decisions app's settings, built from the raw values django.conf.settings holds (settings import no app).

Built at use and cached per raw value, so a test or an operator's override of a setting takes effect at once.
DecisionsConfig.ready() builds them once at start-up: a bad value stops it with a message naming the variable.
"""

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from decisions.engine import PROFILES, Thresholds, thresholds_for
from decisions.validator import Limits


def decision_thresholds() -> Thresholds:
    return _thresholds(settings.DAZNODE_DECISION_PROFILE, tuple(sorted(settings.DAZNODE_DECISION_THRESHOLDS.items())))


def decision_limits() -> Limits:
    return _limits(tuple(sorted(settings.DAZNODE_DECISION_LIMITS.items())))


@lru_cache(maxsize=8)
def _thresholds(profile: str, overrides: tuple[tuple[str, str], ...]) -> Thresholds:
    if profile not in PROFILES:
        raise ImproperlyConfigured(f"DAZNODE_DECISION_PROFILE must be one of {', '.join(PROFILES)}, got {profile!r}")
    try:
        return thresholds_for(profile, dict(overrides))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DAZNODE_DECISION_THRESHOLDS must be name=value pairs: {exc}") from None


@lru_cache(maxsize=8)
def _limits(values: tuple[tuple[str, Any], ...]) -> Limits:  # Any: each field has its own type
    try:
        return Limits(**dict(values))
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"DAZNODE_FEE_* / DAZNODE_TIME_LOCK_DELTA_*: {exc}") from None


def settings_errors() -> list[str]:
    errors = []
    for build in (decision_thresholds, decision_limits):
        try:
            build()
        except ImproperlyConfigured as exc:
            errors.append(str(exc))
    return errors


@register()
def check_settings(app_configs, **kwargs) -> list[Error]:
    """`manage.py check` reports what DecisionsConfig.ready() would refuse at start-up."""
    return [Error(message, id="decisions.E001") for message in settings_errors()]
