"""The overview's figures as JSON for scripts (/umbrel-ui/api/stats) and Umbrel's home-screen widgets
(/umbrel-ui/api/widgets/<name>), both read from decisions.dashboard.figures.

Stats: the viewer role, by the dashboard's session or the API's JWT (`Authorization: Bearer <access token>`);
anonymous gets 401 JSON, never a redirect. Widgets: Umbrel calls them from its own network with no session, so
anonymous reads are allowed from the networks in DAZNODE_WIDGETS_ALLOW_FROM (REMOTE_ADDR, never a forwarded header)
and otherwise need a signed-in viewer; anything else is 403 JSON. A widget carries no secret and no pubkey.

Both count against the REST API's read limit (DAZNODE_RATE_READ, daznode.api.ReadWriteRateLimit): per user, per
address for an anonymous widget read; over it, 429 JSON with Retry-After, as the API answers.

Routing figures are over the last N UTC days, today so far included ("today", "7d", "30d": decisions.dashboard.days,
the rule every page counts with); each says its `days` and where it starts (`covered_from`, midnight UTC).

WIDGETS is the one definition of the widgets (id, Umbrel type, refresh, path, example). The Umbrel package's manifest
(docker/umbrel/daznode/umbrel-app.yml) holds a copy, because docker/umbrel_package.py runs without Django;
tests/docker/test_umbrel_package.py asserts it equals `Widget.manifest_entry(service_port="web:8000")` for each
widget, so a change here fails that test until the manifest follows.
"""

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views import View
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework_simplejwt.authentication import JWTAuthentication

from daznode.api import ReadWriteRateLimit
from daznode.context_processors import MODE_LABELS
from daznode.roles import Role, user_has_role
from decisions.dashboard.access import RoleRequiredMixin
from decisions.dashboard.figures import CycleFigures, GraphFigures, OverviewFigures, overview_figures

BEARER_HINT = "Sign in, or send Authorization: Bearer <access token> (POST /api/v1/auth/token gives one)."
NAME_SHOWN = 50
WIDGET_REFUSED = (
    "Widgets answer signed-in viewers, and anonymous requests only from the networks in DAZNODE_WIDGETS_ALLOW_FROM."
)


def json_error(status: int, detail: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def bearer_login(request: HttpRequest) -> JsonResponse | None:
    """Signs the request in with the API's JWT when it carries one; a 401 answer when the token is refused."""
    authenticator = JWTAuthentication()
    try:
        found = authenticator.authenticate(request)  # reads request.META only: a Django request will do
    except AuthenticationFailed as exc:
        detail = exc.detail.get("detail", exc.detail) if isinstance(exc.detail, dict) else exc.detail
        return json_error(401, str(detail), **{"WWW-Authenticate": authenticator.authenticate_header(request)})
    if found is not None:
        request.user = found[0]  # type: ignore[assignment]  # the user model, as django.contrib.auth sets it
    return None


def read_refused(request: HttpRequest, view: View) -> JsonResponse | None:
    """A 429 answer when the reader (a user, or an anonymous address) is over the API's read limit; counts the read.
    The answer is DRF's, word for word, so that a script reads the API's refusals and these alike."""
    limit = ReadWriteRateLimit()
    if limit.allow_request(request, view):
        return None
    retry_after_s = int(limit.wait())
    return json_error(429, str(Throttled(retry_after_s).detail), **{"Retry-After": str(retry_after_s)})


class JsonRoleRequiredMixin(RoleRequiredMixin):
    """RoleRequiredMixin for JSON: a session or a JWT bearer; anonymous 401 and a missing role 403, as JSON."""

    def dispatch(self, request, *args, **kwargs):
        refused = bearer_login(request)
        if refused is not None:
            return refused
        try:
            return super().dispatch(request, *args, **kwargs)
        except PermissionDenied as exc:
            return json_error(403, str(exc) or "Your role does not allow this.")

    def handle_no_permission(self):
        return json_error(401, BEARER_HINT, **{"WWW-Authenticate": 'Bearer realm="api"'})


class StatsView(JsonRoleRequiredMixin, View):
    required_roles = Role.VIEWER

    def get(self, request):
        refused = read_refused(request, self)
        if refused is not None:
            return refused
        return JsonResponse(stats_document(overview_figures(now=timezone.now())))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def stats_document(figures: OverviewFigures) -> dict:
    channels = figures.channels
    return {
        "generated_at": _iso(figures.now),
        "node": {"alias": figures.node.alias, "pubkey": figures.node.pubkey} if figures.node else None,
        "mode": figures.mode,
        "kill_switch_engaged": figures.kill_switch_engaged,
        "channels": {
            "open_count": channels.open_count,
            "active_count": channels.active_count,
            "inactive_count": channels.inactive_count,
            "capacity_sat": channels.capacity_sat,
            "local_balance_sat": channels.local_balance_sat,
            "remote_balance_sat": channels.remote_balance_sat,
            "local_share": channels.local_share,
        },
        "routing": {
            window.key: {
                "days": window.days,  # UTC days, today so far included (decisions.dashboard.days)
                "window_start": _iso(window.start),
                "window_end": _iso(window.end),
                "covered_from": _iso(window.covered_from),
                "fees_earned_msat": window.fees_earned_msat,
                "fees_earned_sat": window.fees_earned_sat,
                "amount_out_msat": window.amount_out_msat,
                "forwards_out_count": window.forwards_out_count,
            }
            for window in figures.routing
        },
        "pending_recommendation_count": figures.pending_recommendation_count,
        "waiting_fee_change_count": figures.waiting_fee_change_count,
        "needs_you": [
            {"key": need.key, "severity": need.severity, "count": need.count, "text": need.text, "link": need.url}
            for need in figures.needs
        ],
        "latest_cycle": _cycle_document(figures.cycle),
        "graph": _graph_document(figures.graph),
        "sources": [
            {
                "name": source.name,
                "kind": source.kind,
                "enabled": source.enabled,
                "status": source.status,
                "circuit": source.circuit,
                "checked_at": _iso(source.checked_at),
                "error": source.error,
            }
            for source in figures.sources
        ],
    }


def _cycle_document(figures: CycleFigures | None) -> dict | None:
    if figures is None:
        return None
    cycle, duration = figures.cycle, figures.duration
    return {
        "id": cycle.pk,
        "started_at": _iso(cycle.started_at),
        "finished_at": _iso(cycle.finished_at),
        "duration_s": None if duration is None else duration.total_seconds(),
        "mode": cycle.mode,
        "trigger": cycle.trigger,
        "actor": cycle.actor,
        "error": figures.error,
        "counts": [{"kind": kind, "status": status, "count": n} for kind, status, n in figures.counts],
        "decision_count": figures.decision_count,
        "change_count": figures.change_count,
        "changes": [
            {
                "decision_id": line.decision_id,
                "chan_id": str(line.chan_id),
                "peer_alias": line.peer.alias,
                "peer_pubkey": line.peer.pubkey,
                "kind": line.kind,
                "status": line.status,
                "old_fee_rate_ppm": line.old_fee_rate_ppm,
                "new_fee_rate_ppm": line.new_fee_rate_ppm,
                "why": line.why,
                "link": reverse("ui:decision", args=[line.decision_id]),
            }
            for line in figures.changes
        ],
    }


def _graph_document(graph: GraphFigures | None) -> dict | None:
    if graph is None:
        return None
    return {
        "snapshot_id": graph.snapshot_id,
        "source": graph.source_name,
        "fetched_at": _iso(graph.fetched_at),
        "expires_at": _iso(graph.expires_at),
        "stale": graph.stale,
        "stale_reason": graph.stale_reason or None,
        "stale_since": _iso(graph.stale_since),
    }


# Umbrel's widgets.


@dataclass(frozen=True)
class Widget:
    id: str
    type: str  # one of Umbrel's widget types
    refresh: str  # Umbrel parses it with `ms`: "5m", "30s"
    example: dict  # what the manifest shows before the first answer (Umbrel's example: no `type`, no `link`)
    build: Callable[[OverviewFigures], dict]

    def path(self) -> str:
        return reverse("ui:widget", args=[self.id])

    def document(self, figures: OverviewFigures) -> dict:
        return {"type": self.type, "refresh": self.refresh, **self.build(figures)}

    def manifest_entry(self, *, service_port: str) -> dict:
        """This widget in umbrel-app.yml's `widgets`; `service_port` is the compose service and port, "web:8000"."""
        return {
            "id": self.id,
            "type": self.type,
            "refresh": self.refresh,
            "endpoint": f"{service_port}{self.path()}",
            "link": "",
            "example": self.example,
        }


def _number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _overview_widget(figures: OverviewFigures) -> dict:
    channels, week = figures.channels, figures.window("7d")
    mode_note = "kill switch on" if figures.kill_switch_engaged else MODE_NOTES.get(figures.mode, "")
    return {
        "link": reverse("ui:dashboard"),
        "items": [
            {"title": "Channels", "text": _number(channels.open_count), "subtext": f"{channels.active_count:,} active"},
            {"title": f"Fees, {week.label}", "text": _number(week.fees_earned_sat), "subtext": "sat"},
            {
                "title": "To review",
                "text": _number(figures.pending_recommendation_count),
                "subtext": "recommendations",
            },
            {"title": "Mode", "text": MODE_LABELS.get(figures.mode, figures.mode), "subtext": mode_note},
        ],
    }


def _needs_widget(figures: OverviewFigures) -> dict:
    # Titles only: a sentence may quote a source's error, which has no place on a home screen.
    return {
        "link": reverse("ui:dashboard"),
        "items": [{"text": need.title, "subtext": need.place[:1].upper() + need.place[1:]} for need in figures.needs],
        "noItemsText": "Nothing needs you",
    }


MODE_NOTES = {"shadow": "records only", "dry_run": "nothing sent", "live": "fees applied"}

WIDGETS = {
    widget.id: widget
    for widget in (
        Widget(
            id="overview",
            type="four-stats",
            refresh="5m",
            example={
                "items": [
                    {"title": "Channels", "text": "12", "subtext": "11 active"},
                    {"title": "Fees, 7 days", "text": "1,284", "subtext": "sat"},
                    {"title": "To review", "text": "2", "subtext": "recommendations"},
                    {"title": "Mode", "text": "Dry run", "subtext": "nothing sent"},
                ]
            },
            build=_overview_widget,
        ),
        Widget(
            id="needs-you",
            type="list",
            refresh="1m",
            example={
                "items": [
                    {"text": "2 recommendations to review", "subtext": "Decisions"},
                    {"text": "Stale graph", "subtext": "Sources"},
                ],
                "noItemsText": "Nothing needs you",
            },
            build=_needs_widget,
        ),
    )
}


def widget_address_allowed(remote_addr: str | None) -> bool:
    """Whether an address is in DAZNODE_WIDGETS_ALLOW_FROM (an IPv4 address seen as IPv6-mapped counts as IPv4)."""
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.DAZNODE_WIDGETS_ALLOW_FROM)


class WidgetView(View):
    def get(self, request, name: str) -> HttpResponse:
        if not widget_address_allowed(request.META.get("REMOTE_ADDR")):
            refused = bearer_login(request)
            if refused is not None:
                return refused
            if not user_has_role(request.user, Role.VIEWER):
                return json_error(403, WIDGET_REFUSED)
        refused = read_refused(request, self)
        if refused is not None:
            return refused
        widget = WIDGETS.get(name)
        if widget is None:
            return json_error(404, f"No widget named {name[:NAME_SHOWN]!r}: there are {', '.join(sorted(WIDGETS))}.")
        return JsonResponse(widget.document(overview_figures(now=timezone.now())))
