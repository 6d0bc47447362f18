from collections.abc import Callable
from typing import Any

from django.contrib import admin

from daznode.templatetags.daznode_format import percent


class ReadOnlyAdminMixin:
    """For rows that only the application writes: history, measurements, audit, mirrors of the node. With no
    delete permission the admin shows no Delete button and drops the "Delete selected" action."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


admin.site.empty_value_display = "—"


# Figures as a person reads them: sats, msat as sats, percentages and scores come from the one set of filters
# every page uses (daznode/templatetags/daznode_format.py); the admin adds counts and durations.
def thousands(value: int) -> str:
    """Counts, and amounts whose unit the column names (msat): 1,250,000."""
    return f"{value:,}"


def percentile(value: float) -> str:
    return percent(value, 1)


def milliseconds(value: float) -> str:
    return f"{value:,.0f} ms"


def seconds(value: float) -> str:
    return f"{value:,.1f} s"


def column(field: str, show: Callable[[Any], str], description: str) -> Callable[[Any, Any], str]:
    """A list_display (or readonly_fields) entry showing one field formatted, sortable by the field."""

    @admin.display(description=description, ordering=field)
    def display(model_admin, obj) -> str:
        value = getattr(obj, field)
        return model_admin.get_empty_value_display() if value is None else show(value)

    return display


# The index, grouped for a person: the daily screens first, in this order; the machinery (the scheduler's
# tables, groups, the token blacklist) under one heading at the end. Every model stays listed, and an app's own
# page (/admin/<app>/) lists its models as Django does.
APP_ORDER = ["decisions", "channels", "sources", "auth_vault"]
MODEL_ORDER = {  # an app's first models, in this order; the others follow by name
    "decisions": ["Decision", "AuditEntry", "KillSwitch"],
    "channels": ["Channel", "ChannelScore", "ChannelActivity", "Node"],
    "sources": ["Source", "HealthCheck"],
    "auth_vault": ["Secret", "ApiKey"],
}
ADVANCED_APPS = {"django_celery_beat", "token_blacklist"}
ADVANCED_MODELS = {("auth", "Group")}
ADVANCED = "Advanced"


def is_advanced(app_label: str, object_name: str) -> bool:
    return app_label in ADVANCED_APPS or (app_label, object_name) in ADVANCED_MODELS


def rank(name: str, order: list[str]) -> int:
    """Where `order` puts a name; the names it does not list come after, as they were (sorting is stable)."""
    return order.index(name) if name in order else len(order)


def app_list_grouped(app_list: list[dict]) -> list[dict]:
    """Django's app list (apps and models by name) reordered, with the advanced models moved to one last group."""
    advanced: list[dict] = []
    daily = []
    for app in app_list:
        machinery = [model for model in app["models"] if is_advanced(app["app_label"], model["object_name"])]
        app["models"] = [model for model in app["models"] if model not in machinery]
        advanced += machinery
        if app["models"]:
            first = MODEL_ORDER.get(app["app_label"], [])
            app["models"].sort(key=lambda model: rank(model["object_name"], first))
            daily.append(app)
    daily.sort(key=lambda app: rank(app["app_label"], APP_ORDER))
    if advanced:
        # No app_url: templates/admin/app_list.html shows the heading without a link (there is no such app page).
        daily.append(
            {"name": ADVANCED, "app_label": "advanced", "app_url": "", "has_module_perms": True, "models": advanced}
        )
    return daily


AppList = Callable[..., list[dict]]


def daily_first(get_app_list: AppList) -> AppList:
    """The site's get_app_list, grouped on the index and in the sidebar; an app's own page is left as it is."""

    def app_list(request, app_label: str | None = None) -> list[dict]:
        apps = get_app_list(request, app_label)
        return apps if app_label else app_list_grouped(apps)

    return app_list


# The project keeps Django's default site (each app registers on admin.site); only its index order changes.
admin.site.get_app_list = daily_first(admin.site.get_app_list)
