"""The overview (/umbrel-ui/dashboard): what it shows matches the database, what needs the operator links to where
they act, and its queries do not grow with the number of channels."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels.models import Channel, ChannelActivity, Node
from channels.sync import sync_node
from daznode.roles import Role, user_set_role
from decisions.dashboard.figures import overview_figures
from decisions.dashboard.needs import Need
from decisions.executor import ApplyRefused, decision_apply
from decisions.models import AuditEntry, Decision, FeeCycle, KillSwitch, PolicyBackup, PolicyWrite
from decisions.rollback import RollbackError, decision_rollback
from sources.demo import simulated_node_register
from sources.models import GraphSnapshot, HealthCheck, Source
from sources.simulator import start_simulator
from tests.decisions.conftest import change_outside, make_decision, open_channels

URL = "/umbrel-ui/dashboard"
OUR_PUBKEY = "02" + "ab" * 32
POLICY = {
    "base_fee_msat": 1000,
    "fee_rate_ppm": 120,
    "time_lock_delta": 40,
    "min_htlc_msat": 1000,
    "max_htlc_msat": 990_000_000,
    "inbound_base_fee_msat": 0,
    "inbound_fee_rate_ppm": 0,
    "disabled": False,
}


# Building a node's history ------------------------------------------------------------------------------------------


def our_node() -> Node:
    return Node.objects.create(pubkey=OUR_PUBKEY, alias="my-routing-node", is_ours=True)


def channels_open(count: int, *, start: int = 0, local_sat: int = 600_000, remote_sat: int = 390_000) -> list:
    """`count` open channels, one peer each; every fifth inactive."""
    peers = Node.objects.bulk_create(
        [Node(pubkey="03" + f"{start + i:064x}", alias=f"peer-{start + i}") for i in range(count)]
    )
    return Channel.objects.bulk_create(
        [
            Channel(
                chan_id=(800_000 << 40) + start + i,
                chan_point=f"{start + i:064x}:0",
                peer=peer,
                capacity_sat=1_000_000,
                local_balance_sat=local_sat,
                remote_balance_sat=remote_sat,
                active=(start + i) % 5 != 4,
                base_fee_msat=1000,
                fee_rate_ppm=120,
                time_lock_delta=40,
                min_htlc_msat=1000,
                max_htlc_msat=990_000_000,
            )
            for i, peer in enumerate(peers)
        ]
    )


def utc_day(moment: datetime, days_back: int = 0) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_back)


def activity(channel: Channel, day: datetime, *, fees_msat: int, amount_msat: int = 0, forwards: int = 1):
    return ChannelActivity.objects.create(
        channel=channel,
        period_start=day,
        period_end=day + timedelta(days=1),
        forwards_out_count=forwards,
        amount_out_msat=amount_msat,
        fees_earned_msat=fees_msat,
    )


def decision(channel: Channel, kind: str, status: str, *, cycle=None, new_ppm: int | None = None, **fields):
    values = {
        "channel": channel,
        "cycle": cycle,
        "kind": kind,
        "status": status,
        "mode": Decision.Mode.DRY_RUN,
        "reasons": [f"Channel {channel.chan_id} scores 0.31.", "Only 8 % of the capacity is on our side: draining."],
        "current_policy": POLICY,
        "proposed_policy": {**POLICY, "fee_rate_ppm": new_ppm} if new_ppm is not None else None,
    }
    return Decision.objects.create(**(values | fields))


def healthy_world(now: datetime) -> None:
    """A fresh graph from a source that is up: nothing about sources needs the operator."""
    source = Source.objects.create(name="lnd", kind=Source.Kind.LND, url="https://umbrel.local:8080")
    HealthCheck.objects.create(source=source, ok=True, latency_ms=12.0, checked_at=now - timedelta(minutes=1))
    GraphSnapshot.objects.create(
        source=source,
        fetched_at=now - timedelta(hours=1),
        expires_at=now + timedelta(hours=11),
        node_count=10,
        edge_count=20,
        content_hash="0" * 64,
        payload=b"{}",
    )


def user_with(role: Role | None, name: str = "someone"):
    user = get_user_model().objects.create_user(name, password="a-long-test-password-1")
    user_set_role(user, role)
    return user


@pytest.fixture
def viewer_client(client, db):
    client.force_login(user_with(Role.VIEWER, "viewer"))
    return client


def page(client) -> str:
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


# Access ---------------------------------------------------------------------------------------------------------------


def test_it_sends_anonymous_visitors_to_the_login_page_and_shows_them_nothing(client, db):
    our_node()
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/umbrel-ui/login")
    assert OUR_PUBKEY not in response.content.decode()


def test_it_refuses_a_signed_in_user_without_a_role(client, db):
    client.force_login(user_with(None))
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.ADMIN])
def test_it_shows_the_overview_to_every_role(client, db, role):
    client.force_login(user_with(role))
    html = page(client)
    assert html.count("<h1") == 1
    assert "Needs you" in html and "Latest fee cycle" in html


HOSTILE = '"><img src=x onerror=alert(1)>'
HOSTILE_ESCAPED = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"


def test_it_escapes_what_peers_sources_and_decisions_say_on_every_page(viewer_client):
    """A peer chooses its alias, a node's error message and a stored reason pass through Daznode: each page shows
    them as text, never as markup."""
    now = timezone.now()
    healthy_world(now)
    down = Source.objects.create(name="graph", kind=Source.Kind.PUBLIC_GRAPH, url="https://g.example/graph.json")
    HealthCheck.objects.create(source=down, ok=False, error=f"bad answer {HOSTILE}", checked_at=now)
    channel = channels_open(1)[0]
    Node.objects.filter(pk=channel.peer_id).update(alias=f"peer{HOSTILE}")
    cycle = FeeCycle.objects.create(mode="dry_run", trigger="beat", started_at=now - timedelta(minutes=1))
    reasons = ["Channel scores 0.31.", f"Draining {HOSTILE}"]
    decision(channel, Decision.Kind.INCREASE_FEES, Decision.Status.PENDING, cycle=cycle, new_ppm=150, reasons=reasons)
    failed = decision(
        channel,
        Decision.Kind.DECREASE_FEES,
        Decision.Status.FAILED,
        new_ppm=100,
        reasons=reasons,
        failure_reason=f"the node said {HOSTILE}",
    )

    pages = {
        "overview": URL,
        "channel list": "/umbrel-ui/channels",
        "channel page": f"/umbrel-ui/channels/{channel.chan_id}",
        "decisions": "/umbrel-ui/decisions",
        "failed decision": f"/umbrel-ui/decisions/{failed.pk}",
    }
    for name, url in pages.items():
        response = viewer_client.get(url)
        assert response.status_code == 200, name
        html = response.content.decode()
        assert "<img src=x" not in html, f"the {name} page let markup through"
        assert HOSTILE_ESCAPED in html, f"the {name} page does not show the text at all"
    overview = page(viewer_client)
    assert f"peer{HOSTILE_ESCAPED}" in overview and f"Draining {HOSTILE_ESCAPED}" in overview
    assert f"bad answer {HOSTILE_ESCAPED}" in overview, "the source's error in what needs you"
    assert f"the node said {HOSTILE_ESCAPED}" in viewer_client.get(pages["failed decision"]).content.decode()


# The node at a glance -------------------------------------------------------------------------------------------------


def test_it_shows_the_node_its_channels_and_their_liquidity_as_stored(viewer_client):
    our_node()
    channels_open(10, local_sat=600_000, remote_sat=390_000)
    closed = channels_open(1, start=99)[0]
    Channel.objects.filter(pk=closed.pk).update(closed_at=timezone.now())

    html = page(viewer_client)

    assert "my-routing-node" in html and OUR_PUBKEY in html
    assert "10 <small>8 active · 2 inactive</small>" in html, "the closed channel is not counted"
    assert "10,000,000 sat" in html  # capacity of the open channels
    assert "6,000,000 sat <small>61 %</small>" in html  # local: 6.0M of 9.9M balances
    assert "3,900,000 sat <small>39 %</small>" in html
    assert 'style="width: 61%"' in html


def test_it_says_the_node_is_not_read_yet_rather_than_showing_zeros(viewer_client):
    html = page(viewer_client)
    assert "Daznode has not read your node yet" in html
    figures = overview_figures(now=timezone.now())
    assert figures.window("today").fees_earned_msat is None, "no channel ever synced: unknown, not zero"
    assert figures.channels.local_share is None


def hourly(channel: Channel, start: datetime, *, fees_msat: int) -> ChannelActivity:
    return ChannelActivity.objects.create(
        channel=channel, period_start=start, period_end=start + timedelta(hours=1), fees_earned_msat=fees_msat
    )


def test_it_counts_the_last_utc_days_today_included_by_the_day_each_period_starts(db):
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    channel = channels_open(1)[0]
    fees = {0: 1, 1: 10, 6: 100, 7: 1_000, 29: 10_000, 30: 100_000}  # days back -> fees (msat, distinct digits)
    for days_back, fee in fees.items():
        activity(channel, utc_day(now, days_back), fees_msat=fee, amount_msat=fee * 1000, forwards=days_back + 1)
    activity(channel, utc_day(now, -1), fees_msat=1_000_000)  # tomorrow: not yet
    hourly(channel, utc_day(now) + timedelta(hours=1), fees_msat=2_000_000)  # today, an hour's period
    hourly(channel, utc_day(now) - timedelta(hours=1), fees_msat=20_000_000)  # yesterday's last hour

    figures = overview_figures(now=now)

    day, week, month = (figures.window(key) for key in ("today", "7d", "30d"))
    assert (day.label, week.label, month.label) == ("Today", "7 days", "30 days")
    assert day.fees_earned_msat == 2_000_001, "today since 00:00 UTC, and nothing of yesterday"
    assert day.covered_from == utc_day(now) == day.start
    assert week.fees_earned_msat == 22_000_111, "today and the six days before; 7 days back is the eighth day"
    assert week.covered_from == utc_day(now, 6)
    assert week.amount_out_msat == 111_000 and week.forwards_out_count == 1 + 2 + 7
    assert month.fees_earned_msat == 22_011_111 and month.covered_from == utc_day(now, 29)


def test_it_shows_the_same_7_day_figure_as_the_stats_the_widget_and_the_channel_list(viewer_client):
    """Ten full UTC days of 1,000 sat each: every place that says "7 days" says 7,000 sat, and "Today" 1,000."""
    now = timezone.now()
    channel = channels_open(1)[0]
    for days_back in range(10):
        activity(channel, utc_day(now, days_back), fees_msat=1_000_000, forwards=10)

    html = page(viewer_client)
    stats = viewer_client.get("/umbrel-ui/api/stats").json()["routing"]
    widget = viewer_client.get("/umbrel-ui/api/widgets/overview").json()
    listing = viewer_client.get("/umbrel-ui/channels").content.decode()

    today, week = (html.split(f'id="routing-{key}"')[1].split("</section>")[0] for key in ("today", "7d"))
    assert ">Today</h3>" in today and "<dd>1,000 sat</dd>" in today
    assert ">Last 7 days</h3>" in week and "<dd>7,000 sat</dd>" in week and "<dd>70</dd>" in week
    assert (stats["today"]["fees_earned_sat"], stats["7d"]["fees_earned_sat"]) == (1_000, 7_000)
    assert stats["7d"]["days"] == 7 and stats["7d"]["covered_from"] == utc_day(now, 6).isoformat()
    assert stats["today"]["covered_from"] == utc_day(now).isoformat()
    assert {"title": "Fees, 7 days", "text": "7,000", "subtext": "sat"} in widget["items"]
    assert ">Fees 7 days</a></th>" in listing and ">Forwards 7 days</a></th>" in listing
    assert '<td class="num hide-narrow">7,000 sat</td>' in listing and '<td class="num hide-narrow">70</td>' in listing
    days = viewer_client.get(f"/umbrel-ui/channels/{channel.chan_id}").context["days_total"]
    assert days.fees_earned_msat == 7_000_000, "the channel page's week: the same seven days"
    assert f"today since {utc_day(now):%-d %b} 00:00 UTC" in html, "the page says what its windows cover"


def test_it_counts_fees_of_closed_channels_and_shows_them_in_sats(viewer_client):
    now = timezone.now()
    first, second = channels_open(2)
    Channel.objects.filter(pk=second.pk).update(closed_at=now)
    activity(first, utc_day(now), fees_msat=1_234_999, amount_msat=2_000_000_000, forwards=3)
    activity(second, utc_day(now, 3), fees_msat=766_001, amount_msat=500_000_000, forwards=1_200)

    html = page(viewer_client)

    figures = overview_figures(now=now)
    assert figures.window("7d").fees_earned_msat == 2_001_000
    day, week, month = (html.split(f'id="routing-{key}"')[1].split("</section>")[0] for key in ("today", "7d", "30d"))
    assert "<dd>1,234 sat</dd>" in day, "msat shown as whole sats"
    assert "<dd>2,001 sat</dd>" in week and "<dd>2,001 sat</dd>" in month
    assert "<dd>2,500,000 sat</dd>" in week, "volume routed"
    assert "<dd>1,203</dd>" in week, "forwards with a thousands separator"
    assert "Counted in whole UTC days, today so far included" in html


# What needs the operator ---------------------------------------------------------------------------------------------


def test_it_says_plainly_when_nothing_needs_the_operator(viewer_client):
    now = timezone.now()
    our_node()
    healthy_world(now)
    channel = channels_open(1)[0]
    decision(channel, Decision.Kind.INCREASE_FEES, Decision.Status.APPLIED, new_ppm=150)
    decision(channel, Decision.Kind.CLOSE_CHANNEL, Decision.Status.REJECTED)
    old = decision(channel, Decision.Kind.INCREASE_FEES, Decision.Status.FAILED)
    Decision.objects.filter(pk=old.pk).update(updated_at=now - timedelta(days=8))  # auto_now: set it afterwards

    html = page(viewer_client)

    assert overview_figures(now=now).needs == ()
    assert "Nothing needs you" in html


def test_it_links_a_single_recommendation_to_its_page_and_several_to_the_queue(viewer_client):
    now = timezone.now()
    healthy_world(now)
    first, second = channels_open(2)
    one = decision(first, Decision.Kind.REBALANCE, Decision.Status.PENDING)

    html = page(viewer_client)
    assert "1 recommendation waits for your approval" in html
    assert f'href="/umbrel-ui/decisions/{one.pk}">Go to the decision</a>' in html

    decision(second, Decision.Kind.CLOSE_CHANNEL, Decision.Status.PENDING)
    html = page(viewer_client)
    assert "2 recommendations wait for your approval" in html
    assert 'href="/umbrel-ui/decisions">Go to the decision queue</a>' in html


def sent(failed: Decision) -> Decision:
    """What the executor leaves of a decision whose policy it sent: the backup it took first."""
    PolicyBackup.objects.create(channel=failed.channel, decision=failed, policy=POLICY)
    return failed


def test_it_lists_fee_changes_waiting_and_recent_failed_applies(viewer_client, settings):
    settings.DAZNODE_DECISION_MODE = "dry_run"
    now = timezone.now()
    healthy_world(now)
    a, b, c = channels_open(3)
    decision(a, Decision.Kind.INCREASE_FEES, Decision.Status.PENDING, new_ppm=150)
    decision(b, Decision.Kind.DECREASE_FEES, Decision.Status.APPROVED, new_ppm=100)
    failed = sent(decision(c, Decision.Kind.DECREASE_FEES, Decision.Status.FAILED, new_ppm=100))

    figures = overview_figures(now=now)
    html = page(viewer_client)

    assert [need.key for need in figures.needs] == ["failed_decisions", "fee_changes"], "the failure first"
    assert figures.waiting_fee_change_count == 2
    assert "2 fee changes wait to be applied. Daznode is in dry run mode: nothing reaches your node" in html
    assert "1 decision failed to apply in the last 7 days after Daznode sent the policy" in html
    assert "the next fee cycle decides afresh for its channel" in html
    assert "apply again" not in html, "a failed decision has no Apply button: the page must not promise one"
    assert f'href="/umbrel-ui/decisions/{failed.pk}">Go to the decision</a>' in html
    assert '<span class="badge badge-danger">Act now</span>' in html


def test_it_names_shadow_mode_for_the_fee_changes_waiting_and_never_promises_an_apply_in_shadow(
    viewer_client, settings
):
    settings.DAZNODE_DECISION_MODE = "shadow"
    healthy_world(timezone.now())
    decision(channels_open(1)[0], Decision.Kind.INCREASE_FEES, Decision.Status.PENDING, new_ppm=150)

    html = page(viewer_client)

    assert "Daznode is in shadow mode: nothing reaches your node" in html
    assert "dry run" not in html.lower()
    banner = "<strong>Shadow mode.</strong> Daznode records what it would do: decisions are recorded only; nothing is"
    assert banner in html
    assert "decisions are recorded only; nothing is sent to your node.</dd>" in html, "the overview's mode line"
    assert "unless you apply one live anyway" not in html, "a shadow decision is recorded: it can never be applied"
    assert "Shadow: decisions are recorded only; nothing is sent to the node" in html, "the mode badge's title"


def test_it_shows_a_failure_where_nothing_was_sent_as_information_not_act_now(viewer_client):
    healthy_world(timezone.now())
    stale = decision(
        channels_open(1)[0],
        Decision.Kind.INCREASE_FEES,
        Decision.Status.FAILED,
        new_ppm=150,
        failure_reason="the policy changed outside Daznode since the decision; nothing was sent",
    )

    html = page(viewer_client)

    needs = {need.key: need for need in overview_figures(now=timezone.now()).needs}
    assert set(needs) == {"unsent_decisions"} and needs["unsent_decisions"].severity == "info"
    assert "1 decision could not be applied in the last 7 days and nothing was sent" in html
    assert "Act now" not in html
    assert f'href="/umbrel-ui/decisions/{stale.pk}">Go to the decision</a>' in html


def test_it_clears_a_failed_apply_once_a_newer_decision_exists_on_its_channel(viewer_client):
    now = timezone.now()
    healthy_world(now)
    first, second = channels_open(2)
    failed = sent(decision(first, Decision.Kind.INCREASE_FEES, Decision.Status.FAILED, new_ppm=150))
    sent(decision(second, Decision.Kind.INCREASE_FEES, Decision.Status.FAILED, new_ppm=150))
    assert {need.key: need.count for need in overview_figures(now=now).needs} == {"failed_decisions": 2}

    later = failed.created_at + timedelta(hours=6)
    decision(first, Decision.Kind.NO_ACTION, Decision.Status.RECORDED, created_at=later)  # the next cycle decided
    decision(second, Decision.Kind.NO_ACTION, Decision.Status.RECORDED, created_at=failed.created_at)  # not newer

    needs = {need.key: need for need in overview_figures(now=now).needs}
    assert needs["failed_decisions"].count == 1, "the other channel's failure still waits for its next cycle"
    assert "failed to apply" in page(viewer_client)


def test_it_links_the_kill_switch_to_its_section_of_the_queue_page(viewer_client):
    healthy_world(timezone.now())
    KillSwitch.objects.update_or_create(pk=1, defaults={"engaged": True, "reason": "peer dispute"})
    html = page(viewer_client)
    assert "The kill switch is on (peer dispute): Daznode changes no policy" in html
    assert 'href="/umbrel-ui/decisions#kill-switch">Go to the kill switch</a>' in html
    assert 'href="/umbrel-ui/kill-switch"' not in html, "that address takes a POST only: a link to it is a 405"
    queue = viewer_client.get("/umbrel-ui/decisions")
    assert queue.status_code == 200 and 'id="kill-switch"' in queue.content.decode()


@pytest.mark.parametrize(
    ("role", "when_off", "when_on"),
    [
        (Role.VIEWER, None, None),
        (Role.OPERATOR, "Engage it", None),
        (Role.ADMIN, "Engage it", "Release it"),
    ],
)
def test_it_offers_the_kill_switch_only_to_whom_may_set_it(client, db, role, when_off, when_on):
    """Engaging it is an operator's, releasing it an admin's (decisions.services.kill_switch_role)."""
    client.force_login(user_with(role))
    for engaged, offered in ((False, when_off), (True, when_on)):
        KillSwitch.objects.update_or_create(pk=1, defaults={"engaged": engaged})
        facts = page(client).split("<dt>Kill switch</dt>")[1].split("</dd>")[0]
        assert ("On" if engaged else "Off") in facts
        links = [link for link in ("Engage it", "Release it") if link in facts]
        assert links == ([offered] if offered else []), (role, engaged)
        if offered:
            assert f'<a href="/umbrel-ui/decisions#kill-switch">{offered}</a>' in facts


def test_it_offers_no_release_while_the_environment_holds_the_kill_switch(client, db, settings):
    settings.DAZNODE_KILL_SWITCH = True
    client.force_login(user_with(Role.ADMIN))
    facts = page(client).split("<dt>Kill switch</dt>")[1].split("</dd>")[0]
    assert "DAZNODE_KILL_SWITCH keeps it on" in facts and "Release it" not in facts


def test_it_flags_a_source_down_and_a_missing_graph(viewer_client):
    now = timezone.now()
    down = Source.objects.create(name="lnd", kind=Source.Kind.LND, url="https://umbrel.local:8080")
    HealthCheck.objects.create(source=down, ok=True, checked_at=now - timedelta(minutes=5))
    HealthCheck.objects.create(source=down, ok=False, error="connection refused", checked_at=now - timedelta(minutes=1))
    up = Source.objects.create(name="graph", kind=Source.Kind.PUBLIC_GRAPH, url="https://g.example/graph.json")
    HealthCheck.objects.create(source=up, ok=False, checked_at=now - timedelta(minutes=5))
    HealthCheck.objects.create(source=up, ok=True, checked_at=now - timedelta(minutes=1))

    html = page(viewer_client)

    assert "Source “lnd” failed its latest health check: connection refused" in html
    assert "“graph”" not in html, "a source whose latest check passed is up"
    assert "There is no network graph yet" in html
    assert 'href="/umbrel-ui/sources">Go to Sources</a>' in html


def test_it_flags_a_graph_past_its_time_to_live(viewer_client):
    now = timezone.now()
    GraphSnapshot.objects.create(
        fetched_at=now - timedelta(hours=13),
        expires_at=now - timedelta(hours=1),
        node_count=1,
        edge_count=1,
        content_hash="0" * 64,
        payload=b"{}",
    )
    html = page(viewer_client)
    assert "The network graph is stale (older than its time to live)" in html


def write(channel: Channel, **fields) -> PolicyWrite:
    backup = PolicyBackup.objects.create(channel=channel, policy=POLICY)
    return PolicyWrite.objects.create(
        channel=channel, purpose=PolicyWrite.Purpose.APPLY, backup=backup, before=POLICY, target=POLICY, **fields
    )


def test_it_flags_interrupted_writes_and_failed_restores_until_a_later_write_settles_the_channel(viewer_client):
    now = timezone.now()
    healthy_world(now)
    released, in_flight, unrestored = channels_open(3)
    write(released, actor="system", started_at=now - timedelta(seconds=5), released_at=now)
    write(in_flight, actor="system", started_at=now - timedelta(seconds=5))  # its writer may still be at it
    failed = write(
        unrestored,
        actor="system",
        started_at=now - timedelta(hours=2),
        settled_at=now - timedelta(hours=2),
        outcome=PolicyWrite.Outcome.UNKNOWN,
    )

    html = page(viewer_client)
    assert "A policy write on 1 channel was interrupted and waits for recovery" in html
    assert f'href="/umbrel-ui/channels/{released.chan_id}">Go to the channel</a>' in html
    assert "Putting the previous policy back failed on 1 channel" in html
    assert f'href="/umbrel-ui/channels/{unrestored.chan_id}"' in html

    write(
        unrestored,
        actor="user:op",
        started_at=failed.started_at + timedelta(minutes=5),
        settled_at=now,
        outcome=PolicyWrite.Outcome.TOOK,
    )
    assert "Putting the previous policy back failed" not in page(viewer_client)


def needs_now() -> dict[str, Need]:
    return {need.key: need for need in overview_figures(now=timezone.now()).needs}


def test_it_does_not_call_an_apply_the_safety_limits_blocked_a_failed_rollback(viewer_client, settings):
    """The dry-run case: an operator applies hours later, the cooldown refuses it; nothing was sent."""
    settings.DAZNODE_DECISION_MODE = "dry_run"
    healthy_world(timezone.now())
    channel = channels_open(1)[0]
    AuditEntry.objects.create(actor="system", action=AuditEntry.Action.EXTERNAL_CHANGE, channel=channel)
    waiting = decision(channel, Decision.Kind.INCREASE_FEES, Decision.Status.PENDING, new_ppm=150)

    with pytest.raises(ApplyRefused, match="blocked by the safety limits in force now"):
        decision_apply(decision=waiting, actor="user:op", live_anyway=True)

    waiting.refresh_from_db()
    assert waiting.status == Decision.Status.BLOCKED
    assert waiting.audit_entries.filter(action=AuditEntry.Action.APPLY_FAILED).exists(), "the executor's record"
    assert needs_now() == {}
    html = page(viewer_client)
    assert "rollback" not in html.lower() and "Act now" not in html
    assert "Nothing needs you" in html


RAISE_PPM = 20  # worth a gossiped update (10 ppm or more), and at most half of a fee rate of 40 ppm or more


def raisable(count: int) -> list[Channel]:
    """Open channels whose fee rate the safety limits let a decision raise by RAISE_PPM in one step."""
    channels = [channel for channel in open_channels() if channel.fee_rate_ppm >= 2 * RAISE_PPM][:count]
    assert len(channels) == count, "the simulated node has enough channels to raise"
    return channels


def raise_fee(channel: Channel) -> Decision:
    return make_decision(channel, fee_rate_ppm=channel.fee_rate_ppm + RAISE_PPM)


@pytest.fixture(scope="module")
def simulator():
    with start_simulator(seed=31, node_count=60) as running:
        yield running


@pytest.fixture
def simulated_node(simulator, db, settings):
    """Our node on the simulated LND (real HTTP on loopback), synced, in live mode: applies and rollbacks are sent."""
    cache.clear()
    simulator.faults.clear()
    simulated_node_register(name="sim", url=simulator.url, macaroon=simulator.admin_macaroon, cert_pem=None)
    sync_node()
    settings.DAZNODE_DECISION_MODE = "live"
    yield simulator
    simulator.faults.clear()


def test_it_flags_a_rollback_the_node_did_not_take_until_a_later_rollback_takes(viewer_client, simulated_node):
    [channel] = raisable(1)
    applied = decision_apply(decision=raise_fee(channel), actor="user:op")
    assert applied.status == Decision.Status.APPLIED
    simulated_node.faults.fail_policy_updates([channel.chan_point])
    with pytest.raises(RollbackError, match="did not take"):
        decision_rollback(decision=applied, actor="user:op")

    needs = needs_now()
    assert needs["failed_rollbacks"].count == 1 and needs["failed_rollbacks"].severity == "danger"
    assert needs["failed_rollbacks"].url == f"/umbrel-ui/decisions/{applied.pk}", "where its Roll back button is"
    assert "failed_decisions" not in needs and "failed_restores" not in needs, "the node kept a known policy"
    assert "A rollback failed on 1 channel in the last 7 days: the node kept the policy" in page(viewer_client)

    simulated_node.faults.clear()
    decision_rollback(decision=applied, actor="user:op")
    assert "failed_rollbacks" not in needs_now(), "the later rollback took: the channel holds what was intended"
    assert "A rollback failed" not in page(viewer_client)


def test_it_tells_a_failed_apply_that_sent_a_policy_from_one_that_sent_nothing(viewer_client, simulated_node):
    refused, stale = raisable(2)
    simulated_node.faults.fail_policy_updates([refused.chan_point])
    sent_one = decision_apply(decision=raise_fee(refused), actor="user:op")
    stale_one = raise_fee(stale)
    change_outside(simulated_node, stale, 777)
    stale_one = decision_apply(decision=stale_one, actor="user:op")
    assert sent_one.status == stale_one.status == Decision.Status.FAILED

    needs = needs_now()
    assert (needs["failed_decisions"].count, needs["failed_decisions"].severity) == (1, "danger")
    assert needs["failed_decisions"].url == f"/umbrel-ui/decisions/{sent_one.pk}"
    assert (needs["unsent_decisions"].count, needs["unsent_decisions"].severity) == (1, "info")
    assert needs["unsent_decisions"].url == f"/umbrel-ui/decisions/{stale_one.pk}"
    assert "failed_rollbacks" not in needs


# The latest fee cycle -------------------------------------------------------------------------------------------------


def test_it_shows_the_latest_cycle_with_each_proposal_its_diff_and_why(viewer_client):
    now = timezone.now()
    healthy_world(now)
    FeeCycle.objects.create(mode="dry_run", trigger="beat", started_at=now - timedelta(days=1))
    cycle = FeeCycle.objects.create(
        mode="dry_run",
        trigger="command",
        actor="command:fee_cycle",
        started_at=now - timedelta(minutes=10),
        finished_at=now - timedelta(minutes=10) + timedelta(seconds=42.5),
        summary={"notes": ["the kill switch is engaged: this live cycle ran as a dry run"], "error": ""},
    )
    raise_, cut, close, idle = channels_open(4)
    raised = decision(raise_, Decision.Kind.INCREASE_FEES, Decision.Status.PENDING, cycle=cycle, new_ppm=150)
    decision(
        cut,
        Decision.Kind.DECREASE_FEES,
        Decision.Status.BLOCKED,
        cycle=cycle,
        new_ppm=100,
        reasons=["Channel scores 0.4.", "Idle and full: the price comes down.", "Blocked: changed 2 hours ago."],
    )
    decision(close, Decision.Kind.CLOSE_CHANNEL, Decision.Status.PENDING, cycle=cycle)
    decision(idle, Decision.Kind.NO_ACTION, Decision.Status.RECORDED, cycle=cycle, reasons=["Healthy."])

    html = page(viewer_client)

    assert 'Command <small class="mono">command:fee_cycle</small>' in html
    assert "42.5 s" in html
    assert "this live cycle ran as a dry run" in html
    assert "4 decisions:" in html and "Increase fees, pending: <strong>1</strong>" in html
    assert "No action, recorded (nothing to apply): <strong>1</strong>" in html
    assert "peer-0" in html and "peer-3" not in html, "a no-action decision is counted, not listed"
    assert '<span class="old">120 ppm</span>' in html and '<span class="new">150 ppm</span>' in html
    assert "Only 8 % of the capacity is on our side: draining." in html, "the sentence that says why"
    assert "Channel 0" not in html and "scores 0.31" not in html, "not the score sentence"
    assert "Blocked: changed 2 hours ago." in html
    assert f'href="/umbrel-ui/decisions/{raised.pk}">Increase fees</a>' in html
    assert f'href="/umbrel-ui/channels/{raise_.chan_id}"' in html
    changes = html.split('<ul class="changes">')[1].split("</ul>")[0]
    assert changes.index("Close channel") < changes.index("Decrease fees") < changes.index("Increase fees"), (
        "the recommendation, which waits for the operator, first"
    )


def test_it_says_when_no_cycle_has_run(viewer_client):
    assert "No fee cycle has run yet" in page(viewer_client)


# Charts ---------------------------------------------------------------------------------------------------------------


def test_it_embeds_the_four_charts_with_words_and_a_reserved_size(viewer_client):
    html = page(viewer_client)
    for name in ("earnings", "scores", "liquidity", "volume"):
        assert f'<img class="chart" src="/umbrel-ui/charts/{name}.svg" alt="' in html
    assert 'alt="Bar chart of the routing fees earned per day over the last 30 days, in sats"' in html
    assert html.count('width="800" height="320"') == 4
    assert html.count("<figcaption>") == 4


# Bounded work ---------------------------------------------------------------------------------------------------------


def history(channels: int, *, start: int, now: datetime) -> None:
    """Channels with a week of forwards and a decision of each kind, in the latest cycle, for each."""
    cycle = FeeCycle.objects.order_by("-started_at").first()
    made = channels_open(channels, start=start)
    ChannelActivity.objects.bulk_create(
        ChannelActivity(
            channel=channel,
            period_start=utc_day(now, days_back),
            period_end=utc_day(now, days_back) + timedelta(days=1),
            forwards_out_count=2,
            amount_out_msat=10_000_000,
            fees_earned_msat=5_000,
        )
        for channel in made
        for days_back in range(7)
    )
    kinds = [Decision.Kind.INCREASE_FEES, Decision.Kind.DECREASE_FEES, Decision.Kind.REBALANCE, Decision.Kind.NO_ACTION]
    Decision.objects.bulk_create(
        Decision(
            channel=channel,
            cycle=cycle,
            kind=kinds[i % len(kinds)],
            status=Decision.Status.PENDING if i % 7 else Decision.Status.FAILED,
            reasons=["Score.", "Why."],
            current_policy=POLICY,
            proposed_policy={**POLICY, "fee_rate_ppm": 150},
        )
        for i, channel in enumerate(made)
    )


def test_its_queries_do_not_grow_with_channels_forwards_or_decisions(viewer_client):
    now = timezone.now()
    our_node()
    healthy_world(now)
    FeeCycle.objects.create(mode="dry_run", trigger="beat", started_at=now - timedelta(minutes=5))
    history(50, start=0, now=now)
    page(viewer_client)  # the session and the content types are cached by then
    with CaptureQueriesContext(connection) as small:
        page(viewer_client)

    history(450, start=50, now=now)
    with CaptureQueriesContext(connection) as large:
        html = page(viewer_client)

    assert len(large.captured_queries) == len(small.captured_queries) <= 30
    assert "500 <small>400 active · 100 inactive</small>" in html
    assert "376 proposals in all: see every one in the decision queue" in html  # 500 less 124 with no action
