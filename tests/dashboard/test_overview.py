"""The overview (/umbrel-ui/dashboard): what it shows matches the database, what needs the operator links to where
they act, and its queries do not grow with the number of channels."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels.models import Channel, ChannelActivity, Node
from daznode.roles import Role, user_set_role
from decisions.dashboard.figures import overview_figures
from decisions.models import AuditEntry, Decision, FeeCycle, KillSwitch, PolicyBackup, PolicyWrite
from sources.models import GraphSnapshot, HealthCheck, Source

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


def test_it_ignores_query_parameters_it_does_not_take(viewer_client):
    response = viewer_client.get(URL, {"sort": "<script>", "page": "-1"})
    assert response.status_code == 200
    assert "<script>" not in response.content.decode()


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
    assert figures.window("24h").fees_earned_msat is None, "no channel ever synced: unknown, not zero"
    assert figures.channels.local_share is None


def test_it_counts_every_forwarding_day_that_overlaps_each_window(db):
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    channel = channels_open(1)[0]
    fees = {0: 1, 1: 10, 6: 100, 7: 1_000, 30: 10_000, 31: 100_000}  # days back -> fees (msat, distinct digits)
    for days_back, fee in fees.items():
        activity(channel, utc_day(now, days_back), fees_msat=fee, amount_msat=fee * 1000, forwards=days_back + 1)
    activity(channel, utc_day(now, -1), fees_msat=1_000_000)  # tomorrow: not yet

    figures = overview_figures(now=now)

    day, week, month = (figures.window(key) for key in ("24h", "7d", "30d"))
    assert day.fees_earned_msat == 11, "today and yesterday overlap the last 24 hours"
    assert day.covered_from == utc_day(now, 1)
    assert week.fees_earned_msat == 1_111, "the day 7 days back overlaps [now - 7 d, now); 8 days back does not"
    assert week.amount_out_msat == 1_111_000 and week.forwards_out_count == 1 + 2 + 7 + 8
    assert month.fees_earned_msat == 11_111
    assert month.covered_from == utc_day(now, 30)


def test_it_counts_fees_of_closed_channels_and_shows_them_in_sats(viewer_client):
    now = timezone.now()
    first, second = channels_open(2)
    Channel.objects.filter(pk=second.pk).update(closed_at=now)
    activity(first, utc_day(now), fees_msat=1_234_999, amount_msat=2_000_000_000, forwards=3)
    activity(second, utc_day(now, 3), fees_msat=766_001, amount_msat=500_000_000, forwards=1_200)

    html = page(viewer_client)

    figures = overview_figures(now=now)
    assert figures.window("7d").fees_earned_msat == 2_001_000
    day, week, month = (html.split(f'id="routing-{key}"')[1].split("</section>")[0] for key in ("24h", "7d", "30d"))
    assert "<dd>1,234 sat</dd>" in day, "msat shown as whole sats"
    assert "<dd>2,001 sat</dd>" in week and "<dd>2,001 sat</dd>" in month
    assert "<dd>2,500,000 sat</dd>" in week, "volume routed"
    assert "<dd>1,203</dd>" in week, "forwards with a thousands separator"
    assert "the last 24 h cover" in html and "UTC to now" in html


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


def test_it_lists_fee_changes_waiting_and_recent_failed_applies(viewer_client, settings):
    settings.DAZNODE_DECISION_MODE = "dry_run"
    now = timezone.now()
    healthy_world(now)
    a, b, c = channels_open(3)
    decision(a, Decision.Kind.INCREASE_FEES, Decision.Status.PENDING, new_ppm=150)
    decision(b, Decision.Kind.DECREASE_FEES, Decision.Status.APPROVED, new_ppm=100)
    decision(c, Decision.Kind.DECREASE_FEES, Decision.Status.FAILED, new_ppm=100, failure_reason="timeout")

    figures = overview_figures(now=now)
    html = page(viewer_client)

    assert [need.key for need in figures.needs] == ["failed_decisions", "fee_changes"], "the failure first"
    assert figures.waiting_fee_change_count == 2
    assert "2 fee changes wait to be applied. In dry run nothing reaches your node" in html
    assert "1 decision failed to apply in the last 7 days" in html


def test_it_shows_the_kill_switch_with_its_reason(viewer_client):
    healthy_world(timezone.now())
    KillSwitch.objects.update_or_create(pk=1, defaults={"engaged": True, "reason": "peer dispute"})
    html = page(viewer_client)
    assert "The kill switch is on (peer dispute): Daznode changes no policy" in html
    assert 'href="/umbrel-ui/kill-switch">Go to the kill switch</a>' in html


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


def test_it_counts_failed_rollbacks_from_the_audit_log_but_not_failed_decisions_twice(viewer_client):
    now = timezone.now()
    healthy_world(now)
    a, b = channels_open(2)
    failed = decision(a, Decision.Kind.INCREASE_FEES, Decision.Status.FAILED, new_ppm=150)
    rolled = decision(b, Decision.Kind.INCREASE_FEES, Decision.Status.APPLIED, new_ppm=150)
    for row in ((failed, a), (rolled, b)):
        AuditEntry.objects.create(
            actor="system", action=AuditEntry.Action.APPLY_FAILED, decision=row[0], channel=row[1]
        )
    AuditEntry.objects.create(
        actor="system", action=AuditEntry.Action.APPLY_FAILED, channel=b, at=now - timedelta(days=8)
    )

    needs = {need.key: need for need in overview_figures(now=now).needs}

    assert needs["failed_decisions"].count == 1
    assert needs["failed_writes"].count == 1, "the failed decision's row is counted once, the old row not at all"
    assert needs["failed_writes"].url == f"/umbrel-ui/decisions/{rolled.pk}"


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


def test_it_embeds_the_three_charts_with_words_and_a_reserved_size(viewer_client):
    html = page(viewer_client)
    for name in ("earnings", "scores", "liquidity"):
        assert f'<img class="chart" src="/umbrel-ui/charts/{name}.svg" alt="' in html
    assert 'alt="Bar chart of the routing fees earned per day over the last 30 days, in sats"' in html
    assert html.count('width="800" height="320"') == 3
    assert html.count("<figcaption>") == 3


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
