"""The decisions app's settings, built from the raw values django.conf.settings holds (settings import no app).

Built at use and cached per raw value, so a test or an operator's override of a setting takes effect at once.
DecisionsConfig.ready() builds them once at start-up: a bad value stops it with a message naming the variable.
"""

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from daznode.context_processors import MODE_LABELS
from decisions.engine import PROFILES, Thresholds, thresholds_for
from decisions.validator import Limits

LIVE = "live"


def node_writes_live() -> bool:
    """Only in live mode may Daznode change a node's policy without an operator's one-off "apply live anyway"."""
    return settings.DAZNODE_DECISION_MODE == LIVE


def mode_label() -> str:
    """The mode in force, as an operator reads it: "shadow", "dry run" or "live"."""
    return MODE_LABELS[settings.DAZNODE_DECISION_MODE].lower()


def not_live_message() -> str:
    return (
        f"Daznode is in {mode_label()} mode: nothing was sent to the node. To change the node anyway, apply live "
        'anyway (API: {"live_anyway": true}; admin: tick "live anyway"; commands: --live-anyway).'
    )


def live_write_note(*, live_anyway: bool, refusal: type[Exception]) -> str:
    """The gate of every write an operator asks for (apply, roll back). In live mode: "". Otherwise raise `refusal`
    with not_live_message(), unless `live_anyway`: then "live anyway in dry run mode" (or shadow), for its audit
    rows (noted). Recovery's and the executor's own put-backs restore a policy and never pass here."""
    if node_writes_live():
        return ""
    if not live_anyway:
        raise refusal(not_live_message())
    return f"live anyway in {mode_label()} mode"


def noted(note: str, done: str, reason: str) -> str:
    """An audit reason, led by what was done live anyway when it was: "applied live anyway in dry run mode: ..."."""
    if not note:
        return reason
    return f"{done} {note}: {reason}" if reason else f"{done} {note}"


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
