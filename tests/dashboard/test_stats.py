"""/umbrel-ui/api/stats (the overview's figures as JSON) and Umbrel's widgets (/umbrel-ui/api/widgets/<name>)."""

import ipaddress
import json
from datetime import timedelta
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from auth_vault.models import AccessCount, AccessEvent
from daznode.actors import user_actor
from daznode.roles import Role
from decisions.dashboard.stats import WIDGETS
from decisions.models import Decision, FeeCycle, KillSwitch
from tests.conftest import child_env, run_manage
from tests.dashboard.test_overview import (
    OUR_PUBKEY,
    activity,
    channels_open,
    decision,
    healthy_world,
    our_node,
    user_with,
    utc_day,
)

STATS = "/umbrel-ui/api/stats"
UMBREL_NETWORK = [ipaddress.ip_network("10.21.0.0/16")]
UMBREL_ADDRESS = "10.21.21.9"


def widget(name: str) -> str:
    return f"/umbrel-ui/api/widgets/{name}"


def bearer(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {AccessToken.for_user(user)}"}


@pytest.fixture
def node(db):
    """Our node with 3 open channels, forwards today and 3 days ago, a pending recommendation and a cycle."""
    now = timezone.now()
    our_node()
    healthy_world(now)
    first, second, third = channels_open(3, local_sat=500_000, remote_sat=490_000)
    activity(first, utc_day(now), fees_msat=1_500_000, amount_msat=3_000_000_000, forwards=4)
    activity(second, utc_day(now, 3), fees_msat=2_500_000, amount_msat=1_000_000_000, forwards=2)
    cycle = FeeCycle.objects.create(
        mode="dry_run", trigger="beat", started_at=now - timedelta(minutes=3), finished_at=now - timedelta(minutes=2)
    )
    decision(first, Decision.Kind.INCREASE_FEES, Decision.Status.PENDING, cycle=cycle, new_ppm=150)
    decision(third, Decision.Kind.CLOSE_CHANNEL, Decision.Status.PENDING, cycle=cycle)
    return first


# Stats: who may read them ---------------------------------------------------------------------------------------------


def test_it_answers_anonymous_scripts_401_json_not_a_login_redirect(client, db):
    response = client.get(STATS)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert "Authorization: Bearer" in response.json()["detail"]


def test_it_answers_403_json_to_a_user_without_a_role(client, db):
    client.force_login(user_with(None))
    response = client.get(STATS)
    assert response.status_code == 403 and response.json() == {"detail": "Your role does not allow this."}
    assert client.get(STATS, **bearer(user_with(None, "other"))).status_code == 403


def test_it_accepts_the_api_jwt_and_refuses_a_bad_or_expired_one(client, db):
    viewer = user_with(Role.VIEWER)
    assert client.get(STATS, **bearer(viewer)).status_code == 200

    garbled = client.get(STATS, HTTP_AUTHORIZATION="Bearer not-a-token")
    assert garbled.status_code == 401 and garbled.json()["detail"] == "Given token not valid for any token type"
    expired = AccessToken.for_user(viewer)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    assert client.get(STATS, HTTP_AUTHORIZATION=f"Bearer {expired}").status_code == 401
    assert client.get(STATS, HTTP_AUTHORIZATION="Bearer a b").status_code == 401
    viewer.is_active = False
    viewer.save()
    assert client.get(STATS, **bearer(viewer)).status_code == 401


def test_it_accepts_a_viewer_session(client, node):
    client.force_login(user_with(Role.VIEWER))
    assert client.get(STATS).status_code == 200


# Stats: what they say -------------------------------------------------------------------------------------------------


def test_it_gives_the_overview_figures_with_units_in_the_keys(client, node):
    stats = client.get(STATS, **bearer(user_with(Role.VIEWER))).json()

    assert stats["node"] == {"alias": "my-routing-node", "pubkey": OUR_PUBKEY}
    assert stats["mode"] == "dry_run" and stats["kill_switch_engaged"] is False
    assert stats["channels"] == {
        "open_count": 3,
        "active_count": 3,
        "inactive_count": 0,
        "capacity_sat": 3_000_000,
        "local_balance_sat": 1_500_000,
        "remote_balance_sat": 1_470_000,
        "local_share": pytest.approx(1_500_000 / 2_970_000),
    }
    assert set(stats["routing"]) == {"today", "7d", "30d"}
    day, week = stats["routing"]["today"], stats["routing"]["7d"]
    assert (day["fees_earned_msat"], day["fees_earned_sat"], day["forwards_out_count"]) == (1_500_000, 1_500, 4)
    assert (week["fees_earned_msat"], week["amount_out_msat"]) == (4_000_000, 4_000_000_000)
    assert (day["days"], week["days"]) == (1, 7)
    assert day["covered_from"] == day["window_start"] == utc_day(timezone.now()).isoformat(), "today since 00:00 UTC"
    assert week["covered_from"] == utc_day(timezone.now(), 6).isoformat(), "today and the six UTC days before"
    assert stats["pending_recommendation_count"] == 1 and stats["waiting_fee_change_count"] == 1
    assert [need["key"] for need in stats["needs_you"]] == ["recommendations", "fee_changes"]


def test_it_gives_the_latest_cycle_and_what_each_decision_proposes(client, node):
    cycle = client.get(STATS, **bearer(user_with(Role.VIEWER))).json()["latest_cycle"]

    assert cycle["duration_s"] == 60.0 and cycle["mode"] == "dry_run" and cycle["trigger"] == "beat"
    assert cycle["decision_count"] == 2 == cycle["change_count"]
    assert {"kind": "Increase fees", "status": "Pending", "count": 1} in cycle["counts"]
    raise_ = next(change for change in cycle["changes"] if change["kind"] == "increase_fees")
    assert raise_["chan_id"] == str(node.chan_id), "as a string: it exceeds what JavaScript numbers hold"
    assert (raise_["old_fee_rate_ppm"], raise_["new_fee_rate_ppm"]) == (120, 150)
    assert raise_["why"] == "Only 8 % of the capacity is on our side: draining."
    assert raise_["link"] == f"/umbrel-ui/decisions/{raise_['decision_id']}"


def test_it_links_the_kill_switch_need_to_a_page_a_browser_can_open(client, node):
    KillSwitch.objects.update_or_create(pk=1, defaults={"engaged": True, "reason": "peer dispute"})
    viewer = user_with(Role.VIEWER)
    [need] = [need for need in client.get(STATS, **bearer(viewer)).json()["needs_you"] if need["key"] == "kill_switch"]
    assert need["link"] == "/umbrel-ui/decisions#kill-switch"
    client.force_login(viewer)
    opened = client.get(need["link"])
    assert opened.status_code == 200 and 'id="kill-switch"' in opened.content.decode()


def test_it_says_null_for_what_does_not_exist_yet(client, db):
    stats = client.get(STATS, **bearer(user_with(Role.VIEWER))).json()
    assert stats["node"] is None and stats["latest_cycle"] is None and stats["graph"] is None
    assert stats["routing"]["30d"]["fees_earned_msat"] is None, "never synced: unknown, not zero"
    assert stats["channels"]["local_share"] is None
    assert [need["key"] for need in stats["needs_you"]] == ["no_graph"]


# Rate limits: the API's read limit ------------------------------------------------------------------------------------
# django-ratelimit counts in the cache, in fixed windows: the cache is cleared first (it outlives a test's database),
# and day-long windows keep a test from straddling a window's end.


def test_it_limits_stats_reads_per_user_as_the_api_does_with_429_json_and_retry_after(client, node, settings):
    cache.clear()
    settings.DAZNODE_RATE_READ = "3/d"
    viewer = user_with(Role.VIEWER)
    assert [client.get(STATS, **bearer(viewer)).status_code for _ in range(3)] == [200, 200, 200]

    refused = client.get(STATS, **bearer(viewer))
    assert refused.status_code == 429 and refused["Content-Type"] == "application/json"
    assert 1 <= int(refused["Retry-After"]) <= 86400
    assert refused.json()["detail"] == f"Request was throttled. Expected available in {refused['Retry-After']} seconds."
    assert client.get("/api/v1/me", **bearer(viewer)).status_code == 429, "one read budget with the REST API"
    refusals = AccessCount.objects.get(operation=AccessEvent.Operation.RATE_LIMITED, actor=user_actor(viewer))
    assert refusals.count == 2

    client.force_login(user_with(Role.VIEWER, "another-viewer"))
    assert client.get(STATS).status_code == 200, "per user: another viewer has a budget of its own"


def test_it_limits_anonymous_widget_reads_per_address_and_signed_in_ones_per_user(client, node, settings):
    cache.clear()
    settings.DAZNODE_RATE_READ = "2/d"
    settings.DAZNODE_WIDGETS_ALLOW_FROM = UMBREL_NETWORK
    reads = [client.get(widget("overview"), REMOTE_ADDR=UMBREL_ADDRESS).status_code for _ in range(2)]
    assert reads == [200, 200]

    refused = client.get(widget("needs-you"), REMOTE_ADDR=UMBREL_ADDRESS)
    assert refused.status_code == 429 and "Request was throttled" in refused.json()["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 86400
    assert client.get(widget("nope"), REMOTE_ADDR=UMBREL_ADDRESS).status_code == 429, "counted before the lookup"
    assert AccessCount.objects.get(operation=AccessEvent.Operation.RATE_LIMITED, ip=UMBREL_ADDRESS).count == 2

    assert client.get(widget("overview"), REMOTE_ADDR="10.21.21.10").status_code == 200, "another address"
    client.force_login(user_with(Role.VIEWER))
    assert client.get(widget("overview"), REMOTE_ADDR=UMBREL_ADDRESS).status_code == 200, "a viewer counts as itself"


# Widgets: who may read them -------------------------------------------------------------------------------------------


def test_it_refuses_anonymous_widget_reads_when_no_network_is_allowed(client, node, settings):
    settings.DAZNODE_WIDGETS_ALLOW_FROM = ()
    response = client.get(widget("overview"), REMOTE_ADDR=UMBREL_ADDRESS)
    assert response.status_code == 403
    assert "DAZNODE_WIDGETS_ALLOW_FROM" in response.json()["detail"]


def test_it_serves_widgets_anonymously_to_the_allowed_networks_only(client, node, settings):
    settings.DAZNODE_WIDGETS_ALLOW_FROM = UMBREL_NETWORK
    assert client.get(widget("overview"), REMOTE_ADDR=UMBREL_ADDRESS).status_code == 200
    assert client.get(widget("overview"), REMOTE_ADDR=f"::ffff:{UMBREL_ADDRESS}").status_code == 200
    assert client.get(widget("overview"), REMOTE_ADDR="10.22.0.1").status_code == 403
    assert client.get(widget("overview"), REMOTE_ADDR="").status_code == 403
    forwarded = client.get(
        widget("overview"), REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR=UMBREL_ADDRESS, HTTP_X_REAL_IP=UMBREL_ADDRESS
    )
    assert forwarded.status_code == 403, "a forwarded header is anyone's to write"


def test_it_serves_widgets_to_a_signed_in_viewer_from_anywhere(client, node, settings):
    settings.DAZNODE_WIDGETS_ALLOW_FROM = ()
    client.force_login(user_with(Role.VIEWER))
    assert client.get(widget("needs-you"), REMOTE_ADDR="192.0.2.7").status_code == 200
    client.force_login(user_with(None, "norole"))
    assert client.get(widget("needs-you"), REMOTE_ADDR="192.0.2.7").status_code == 403
    client.logout()
    assert (
        client.get(widget("needs-you"), REMOTE_ADDR="192.0.2.7", **bearer(user_with(Role.VIEWER, "v2"))).status_code
        == 200
    )
    assert client.get(widget("needs-you"), REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer x").status_code == 401


def test_it_answers_404_json_for_an_unknown_widget(client, node, settings):
    settings.DAZNODE_WIDGETS_ALLOW_FROM = UMBREL_NETWORK
    response = client.get(widget("x" * 300), REMOTE_ADDR=UMBREL_ADDRESS)
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "needs-you, overview" in detail and len(detail) < 200


# Widgets: what they say -----------------------------------------------------------------------------------------------


def test_the_overview_widget_is_umbrels_four_stats_with_no_pubkey(client, node, settings):
    settings.DAZNODE_WIDGETS_ALLOW_FROM = UMBREL_NETWORK
    response = client.get(widget("overview"), REMOTE_ADDR=UMBREL_ADDRESS)

    document = response.json()
    assert document == {
        "type": "four-stats",
        "refresh": "5m",
        "link": "/umbrel-ui/dashboard",
        "items": [
            {"title": "Channels", "text": "3", "subtext": "3 active"},
            {"title": "Fees, 7 days", "text": "4,000", "subtext": "sat"},
            {"title": "To review", "text": "1", "subtext": "recommendations"},
            {"title": "Mode", "text": "Dry run", "subtext": "nothing sent"},
        ],
    }
    body = response.content.decode()
    assert OUR_PUBKEY not in body and node.peer.pubkey not in body


def test_the_needs_you_widget_is_umbrels_list_and_says_when_nothing_needs_you(client, node, settings):
    settings.DAZNODE_WIDGETS_ALLOW_FROM = UMBREL_NETWORK
    document = client.get(widget("needs-you"), REMOTE_ADDR=UMBREL_ADDRESS).json()
    assert document["type"] == "list" and document["noItemsText"] == "Nothing needs you"
    assert document["items"] == [
        {"text": "1 recommendation to review", "subtext": "The decision"},
        {"text": "1 fee change to apply", "subtext": "The decision"},
    ]

    Decision.objects.update(status=Decision.Status.REJECTED)
    assert client.get(widget("needs-you"), REMOTE_ADDR=UMBREL_ADDRESS).json()["items"] == []


def test_every_widget_definition_is_a_valid_umbrel_manifest_entry():
    umbrel_types = {"text-with-buttons", "text-with-progress", "two-stats-with-guage", "three-stats", "four-stats"}
    umbrel_types |= {"list", "list-emoji"}
    for name, definition in WIDGETS.items():
        entry = definition.manifest_entry(service_port="web:8000")
        assert entry["id"] == name and entry["type"] in umbrel_types
        assert entry["endpoint"] == f"web:8000/umbrel-ui/api/widgets/{name}"
        assert "type" not in entry["example"] and "link" not in entry["example"], "Umbrel's examples carry neither"
        assert entry["refresh"][:-1].isdigit() and entry["refresh"][-1] in "smh"
    assert len(WIDGETS["overview"].example["items"]) == 4


def test_it_serves_a_widget_over_real_http_to_an_allowed_address_only(live_server, node, settings):
    settings.DAZNODE_WIDGETS_ALLOW_FROM = [ipaddress.ip_network("127.0.0.0/8")]
    with urlopen(f"{live_server.url}{widget('overview')}", timeout=10) as response:  # noqa: S310 - our own loopback
        assert json.load(response)["type"] == "four-stats"

    settings.DAZNODE_WIDGETS_ALLOW_FROM = UMBREL_NETWORK
    url = f"{live_server.url}{widget('overview')}"
    request = Request(url, headers={"X-Forwarded-For": UMBREL_ADDRESS})  # noqa: S310 - our own loopback
    with pytest.raises(HTTPError) as refused:
        urlopen(request, timeout=10)  # noqa: S310
    assert refused.value.code == 403


# The setting ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "message"), [("10.21.21.9/24", "has host bits set"), ("umbrel", "does not appear")])
def test_a_bad_network_stops_start_up_naming_the_variable(tmp_path, value, message):
    result = run_manage("check", env=child_env(DAZNODE_DATA_DIR=str(tmp_path), DAZNODE_WIDGETS_ALLOW_FROM=value))
    assert result.returncode != 0
    assert "ImproperlyConfigured: DAZNODE_WIDGETS_ALLOW_FROM must list networks" in result.stderr
    assert message in result.stderr
