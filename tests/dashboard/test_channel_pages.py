"""The channels pages (/umbrel-ui/channels and /umbrel-ui/channels/<chan_id>): what they show matches the database,
every role reads them, bad parameters are ignored with a message or answered 404, and their query count does not
grow with the number of channels or the length of the history."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels.models import Channel, ChannelActivity, ChannelScore, Node
from channels.scoring import DEFAULT_WEIGHTS, HEURISTICS
from daznode.lightning import Policy
from daznode.roles import Role, user_set_role
from decisions.models import AuditEntry, Decision, PolicyBackup
from sources.models import GraphSnapshot
from tests.sources.graphs import policy

LIST_URL = "/umbrel-ui/channels"
NOW = timezone.now()


def pubkey(i: int) -> str:
    return f"02{i:064x}"


def chan_id_of(i: int) -> int:
    return (800_000 + i) << 40  # BLOCKxTXxOUT: 800000+i x 0 x 0


def make_channel(i: int, *, alias: str | None = None, peer: Node | None = None, **fields) -> Channel:
    peer = peer or Node.objects.create(pubkey=pubkey(1000 + i), alias=f"peer-{i}" if alias is None else alias)
    values = {
        "chan_id": chan_id_of(i),
        "chan_point": f"{i:064x}:0",
        "peer": peer,
        "capacity_sat": 1_000_000,
        "local_balance_sat": 500_000,
        "remote_balance_sat": 500_000,
        "base_fee_msat": 1000,
        "fee_rate_ppm": 100,
        "time_lock_delta": 80,
        "min_htlc_msat": 1000,
        "max_htlc_msat": 990_000_000,
        "opened_at": NOW - timedelta(days=100),
        **fields,
    }
    return Channel.objects.create(**values)


def score_row(channel: Channel, total: float, *, at=None, **fields) -> ChannelScore:
    values = {
        "weights": dict(DEFAULT_WEIGHTS),
        "reasons": {name: f"{name} reason" for name in HEURISTICS},
        **{f"{name}_score": 0.5 for name in HEURISTICS},
        **fields,
    }
    return ChannelScore(channel=channel, computed_at=at or NOW, total_score=total, **values)


def make_score(channel: Channel, total: float, **fields) -> ChannelScore:
    row = score_row(channel, total, **fields)
    row.save()
    return row


def policy_dict(**changes) -> dict:
    base = Policy(base_fee_msat=1000, fee_rate_ppm=100, time_lock_delta=80, min_htlc_msat=1000, max_htlc_msat=990_000)
    return {**base.to_dict(), **changes}


def make_decision(channel: Channel, *, kind=Decision.Kind.INCREASE_FEES, at=None, **fields) -> Decision:
    values = {
        "channel": channel,
        "kind": kind,
        "status": Decision.Status.PENDING,
        "rule": "raise_on_demand",
        "reasons": ["It forwards a lot for what it charges."],
        "total_score": 0.5,
        "sub_scores": {name: 0.5 for name in HEURISTICS},
        "current_policy": policy_dict(),
        "proposed_policy": policy_dict(fee_rate_ppm=150),
        "created_at": at or NOW,
        **fields,
    }
    return Decision.objects.create(**values)


def activity(channel: Channel, *, days_ago: int, out: int = 0, fees_msat: int = 0, **fields) -> ChannelActivity:
    day = NOW.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    return ChannelActivity.objects.create(
        channel=channel,
        period_start=day,
        period_end=day + timedelta(days=1),
        forwards_out_count=out,
        fees_earned_msat=fees_msat,
        **fields,
    )


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()


@pytest.fixture
def signed_in(db, client):
    def sign_in(role: Role | None = Role.VIEWER):
        user = get_user_model().objects.create_user(f"user-{role or 'none'}")
        user_set_role(user, role)
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def viewer(signed_in):
    return signed_in(Role.VIEWER)


def row_of(html: str, chan_id: int) -> str:
    """The <tr> of the list that shows this channel."""
    for row in re.findall(r"<tr>.*?</tr>", html, flags=re.S):
        if f">{chan_id}<" in row:
            return row
    raise AssertionError(f"no row for {chan_id}")


def listed(html: str) -> list[int]:
    """The chan_ids of the list's rows, in order."""
    return [int(found) for found in re.findall(r'<span class="mono muted chan-id">(\d+)</span>', html)]


def messages_of(html: str) -> list[str]:
    return re.findall(r'<li class="message message-warning">(.*?)</li>', html, flags=re.S)


# ----- who may see them -----


@pytest.mark.parametrize("path", [LIST_URL, f"{LIST_URL}/{chan_id_of(1)}"])
def test_it_sends_anonymous_visitors_to_the_login_page(client, db, path):
    make_channel(1, alias="SECRET-ALIAS")
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/umbrel-ui/login?next=")
    assert b"SECRET-ALIAS" not in response.content


@pytest.mark.parametrize("path", [LIST_URL, f"{LIST_URL}/{chan_id_of(1)}"])
def test_it_refuses_a_user_without_a_role(signed_in, path):
    make_channel(1, alias="SECRET-ALIAS")
    response = signed_in(None).get(path)
    assert response.status_code == 403
    assert b"SECRET-ALIAS" not in response.content


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.ADMIN])
def test_it_shows_both_pages_to_every_role(signed_in, role):
    make_channel(1, alias="Alice")
    client = signed_in(role)
    listing = client.get(LIST_URL)
    assert listing.status_code == 200
    assert "Alice" in listing.content.decode()
    page = client.get(f"{LIST_URL}/{chan_id_of(1)}")
    assert page.status_code == 200
    assert page.content.decode().count("<h1>") == 1


# ----- the list -----


def test_it_lists_each_channels_figures_as_stored(viewer):
    channel = make_channel(
        1,
        alias="ACINQ",
        capacity_sat=2_000_000,
        local_balance_sat=500_000,
        remote_balance_sat=1_500_000,
        fee_rate_ppm=150,
        base_fee_msat=1000,
        inbound_fee_rate_ppm=-20,
    )
    make_score(channel, 0.9, at=NOW - timedelta(days=1))
    make_score(channel, 0.6543)
    make_decision(channel, kind=Decision.Kind.DECREASE_FEES, at=NOW - timedelta(days=2))
    newest = make_decision(channel, kind=Decision.Kind.INCREASE_FEES)
    activity(channel, days_ago=1, out=3, fees_msat=10_000)
    activity(channel, days_ago=0, out=4, fees_msat=2_345)
    activity(channel, days_ago=10, out=50, fees_msat=900_000)  # outside the 7 days

    row = row_of(viewer.get(LIST_URL).content.decode(), channel.chan_id)

    assert f'href="/umbrel-ui/channels/{channel.chan_id}"' in row
    assert "ACINQ" in row and f'title="{channel.peer.pubkey}"' in row  # the alias, its pubkey on hover
    assert "2,000,000 sat" in row
    assert "25 %" in row and 'style="width: 25%"' in row
    assert "150 ppm" in row and "base 1,000 msat" in row
    assert "-20 ppm" in row
    assert ">0.65<" in row and "0.90" not in row  # the latest score, two decimals
    assert f'href="/umbrel-ui/decisions/{newest.pk}"' in row and "Increase fees" in row and "Pending" in row
    assert "Decrease fees" not in row
    assert ">7<" in row and "12 sat" in row  # 3 + 4 forwards, 12,345 msat earned this week
    assert "Active" in row


def test_it_shows_unknown_figures_as_a_dash_not_zero(viewer):
    channel = make_channel(1)  # never scored, never decided
    row = row_of(viewer.get(LIST_URL).content.decode(), channel.chan_id)
    assert '<td class="num">—</td>' in row  # the score
    assert '<span class="muted">—</span>' in row  # the last decision


def test_it_shows_open_channels_by_default_and_filters_by_state(viewer):
    active = make_channel(1, active=True)
    inactive = make_channel(2, active=False)
    closed = make_channel(3, closed_at=NOW - timedelta(days=1))
    assert set(listed(viewer.get(LIST_URL).content.decode())) == {active.chan_id, inactive.chan_id}
    assert listed(viewer.get(LIST_URL, {"state": "active"}).content.decode()) == [active.chan_id]
    assert listed(viewer.get(LIST_URL, {"state": "inactive"}).content.decode()) == [inactive.chan_id]
    assert listed(viewer.get(LIST_URL, {"state": "closed"}).content.decode()) == [closed.chan_id]
    assert len(listed(viewer.get(LIST_URL, {"state": "all"}).content.decode())) == 3


def test_it_filters_by_liquidity(viewer):
    drained = make_channel(1, local_balance_sat=100_000, remote_balance_sat=900_000)
    edge_of_drained = make_channel(2, local_balance_sat=200_000, remote_balance_sat=800_000)  # 20 %: balanced
    full = make_channel(3, local_balance_sat=850_000, remote_balance_sat=150_000)
    in_flight = make_channel(4, local_balance_sat=150_000, remote_balance_sat=700_000, pending_outgoing_sat=150_000)
    assert listed(viewer.get(LIST_URL, {"liquidity": "drained"}).content.decode()) == [drained.chan_id]
    balanced = viewer.get(LIST_URL, {"liquidity": "balanced", "sort": "chan_id"}).content.decode()
    assert listed(balanced) == [edge_of_drained.chan_id, in_flight.chan_id]  # HTLCs in flight count as ours
    assert listed(viewer.get(LIST_URL, {"liquidity": "full"}).content.decode()) == [full.chan_id]


def test_it_filters_by_the_kind_of_the_last_decision_only(viewer):
    raised = make_channel(1)
    make_decision(raised, kind=Decision.Kind.DECREASE_FEES, at=NOW - timedelta(days=1))
    make_decision(raised, kind=Decision.Kind.INCREASE_FEES)
    cut = make_channel(2)
    make_decision(cut, kind=Decision.Kind.DECREASE_FEES)
    make_channel(3)  # no decision
    assert listed(viewer.get(LIST_URL, {"kind": "increase_fees"}).content.decode()) == [raised.chan_id]
    assert listed(viewer.get(LIST_URL, {"kind": "decrease_fees"}).content.decode()) == [cut.chan_id]


@pytest.mark.parametrize(
    "q",
    [
        pytest.param("wallet", id="alias-substring"),
        pytest.param("WALLET", id="alias-any-case"),
        pytest.param(pubkey(1001)[-10:], id="pubkey-part"),
        pytest.param(str(chan_id_of(1)), id="chan-id"),
        pytest.param("800001x0x0", id="block-tx-out"),
        pytest.param(f"  {chan_id_of(1)} ", id="surrounding-spaces"),
    ],
)
def test_it_finds_a_channel_by_alias_pubkey_or_chan_id(viewer, q):
    wanted = make_channel(1, alias="Big Wallet")
    make_channel(2, alias="Other")
    response = viewer.get(LIST_URL, {"q": q})
    assert listed(response.content.decode()) == [wanted.chan_id]
    assert "1 channel match" in response.content.decode()


def test_it_says_when_nothing_matches(viewer):
    make_channel(1, alias="Alice")
    html = viewer.get(LIST_URL, {"q": "nobody"}).content.decode()
    assert listed(html) == []
    assert "No channel matches these filters." in html


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("peer", ["alice", "bob", "carol"]),
        ("-peer", ["carol", "bob", "alice"]),
        ("capacity", ["carol", "alice", "bob"]),
        ("-capacity", ["bob", "alice", "carol"]),
        ("local", ["bob", "carol", "alice"]),
        ("fee_out", ["alice", "carol", "bob"]),
        ("-fee_in", ["bob", "alice", "carol"]),
        ("-score", ["carol", "alice", "bob"]),  # bob was never scored: last both ways
        ("score", ["alice", "carol", "bob"]),
        ("-decision", ["alice", "carol", "bob"]),  # bob has none
        ("-forwards", ["bob", "carol", "alice"]),
        ("-fees", ["carol", "bob", "alice"]),
        ("chan_id", ["alice", "bob", "carol"]),
    ],
)
def test_it_sorts_by_each_column(viewer, sort, expected):
    alice = make_channel(1, alias="alice", capacity_sat=2_000_000, local_balance_sat=1_500_000, fee_rate_ppm=10)
    bob = make_channel(
        2, alias="Bob", capacity_sat=3_000_000, local_balance_sat=0, fee_rate_ppm=900, inbound_fee_rate_ppm=5
    )
    carol = make_channel(
        3, alias="carol", capacity_sat=1_000_000, local_balance_sat=300_000, fee_rate_ppm=300, inbound_fee_rate_ppm=-5
    )
    make_score(alice, 0.3)
    make_score(carol, 0.8)
    make_decision(alice, at=NOW)
    make_decision(carol, at=NOW - timedelta(days=3))
    activity(bob, days_ago=1, out=9, fees_msat=2_000)
    activity(carol, days_ago=1, out=2, fees_msat=50_000)
    names = {alice.chan_id: "alice", bob.chan_id: "bob", carol.chan_id: "carol"}
    html = viewer.get(LIST_URL, {"sort": sort}).content.decode()
    assert [names[chan_id] for chan_id in listed(html)] == expected


def test_it_marks_the_sorted_column_and_links_to_the_other_direction(viewer):
    make_channel(1)
    html = viewer.get(LIST_URL, {"sort": "-score", "state": "active"}).content.decode()
    header = re.search(r'<th scope="col"[^>]*aria-sort="descending"><a href="([^"]+)">Score</a>', html)
    assert header, "the score column is marked as sorted, descending"
    assert header.group(1) == "/umbrel-ui/channels?state=active&amp;sort=score"  # keeps the filter
    assert html.count("aria-sort=") == 1
    assert "sorted by score, descending." in html  # the caption, for screen readers


def test_it_sorts_by_score_over_all_channels_not_only_one_page(viewer):
    channels = [make_channel(i, capacity_sat=1_000_000 + i) for i in range(1, 106)]
    scores = [score_row(channel, 0.1 + 0.001 * (105 - i)) for i, channel in enumerate(channels, start=1)]
    ChannelScore.objects.bulk_create(scores)
    make_score(channels[0], 0.99)  # its newest score: the best of all, while it is last by capacity
    first = listed(viewer.get(LIST_URL, {"sort": "-score"}).content.decode())
    assert len(first) == 100
    assert first[0] == channels[0].chan_id
    last = listed(viewer.get(LIST_URL, {"sort": "-score", "page": "2"}).content.decode())
    assert len(last) == 5
    assert last[-1] == channels[-1].chan_id
    assert not set(first) & set(last)


def test_it_shows_100_channels_a_page_and_keeps_the_filters_in_its_links(viewer):
    for i in range(1, 106):
        make_channel(i, active=i != 3)
    html = viewer.get(LIST_URL, {"state": "active", "sort": "chan_id"}).content.decode()
    assert len(listed(html)) == 100
    assert "page 1 of 2" in html
    assert 'href="/umbrel-ui/channels?state=active&amp;sort=chan_id&amp;page=2" rel="next"' in html
    second = viewer.get(LIST_URL, {"state": "active", "sort": "chan_id", "page": "2"}).content.decode()
    assert listed(second) == [chan_id_of(i) for i in range(102, 106)]
    assert 'href="/umbrel-ui/channels?state=active&amp;sort=chan_id" rel="prev"' in second


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort": "bogus"}, "Unknown sort “bogus” ignored"),
        ({"sort": "--score"}, "Unknown sort “--score” ignored"),
        ({"state": "sleeping"}, "Unknown state “sleeping” ignored"),
        ({"liquidity": "half"}, "Unknown liquidity “half” ignored"),
        ({"kind": "explode"}, "Unknown kind “explode” ignored"),
        ({"page": "abc"}, "Page “abc” ignored"),
        ({"page": "0"}, "Page “0” ignored"),
        ({"page": "٣"}, "Page “٣” ignored"),
        ({"page": "99"}, "Page 99 does not exist: showing the last page, 1."),
        ({"q": "x" * 101}, "Search ignored: at most 100 characters."),
        ({"q": "alice\x00"}, "Search ignored: it holds control characters."),
    ],
)
def test_it_ignores_an_unknown_value_and_says_so(viewer, params, message):
    channel = make_channel(1)
    response = viewer.get(LIST_URL, params)
    assert response.status_code == 200
    html = response.content.decode()
    assert any(text.startswith(message) for text in messages_of(html)), messages_of(html)
    assert listed(html) == [channel.chan_id]  # the rest of the page as without the bad value


def test_its_query_count_does_not_grow_with_channels_or_history(viewer):
    def fill(first: int, count: int) -> None:
        peers = Node.objects.bulk_create([Node(pubkey=pubkey(5000 + i), alias=f"n{i}") for i in range(first, count)])
        channels = Channel.objects.bulk_create(
            [
                Channel(
                    chan_id=chan_id_of(i),
                    chan_point=f"{i:064x}:0",
                    peer=peer,
                    capacity_sat=1_000_000,
                    local_balance_sat=i * 1000,
                    base_fee_msat=1000,
                    fee_rate_ppm=i,
                    time_lock_delta=80,
                    min_htlc_msat=1,
                    max_htlc_msat=1000,
                )
                for i, peer in zip(range(first, count), peers, strict=True)
            ]
        )
        ChannelScore.objects.bulk_create(
            [score_row(c, 0.5, at=NOW - timedelta(hours=h)) for c in channels for h in range(3)]
        )
        Decision.objects.bulk_create(
            [
                Decision(channel=c, kind="no_action", created_at=NOW - timedelta(hours=h))
                for c in channels
                for h in (1, 2)
            ]
        )
        ChannelActivity.objects.bulk_create(
            [
                ChannelActivity(channel=c, period_start=NOW - timedelta(days=d), period_end=NOW, forwards_out_count=1)
                for c in channels
                for d in (1, 2)
            ]
        )

    def queries(params: dict) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert viewer.get(LIST_URL, params).status_code == 200
        return len(captured)

    fill(1, 51)
    viewer.get(LIST_URL)  # the first view of a session warms it up
    small = {sort: queries({"sort": sort}) for sort in ("-score", "local", "-decision", "-fees")}
    small_filtered = queries({"liquidity": "drained", "kind": "no_action", "q": "n1"})
    fill(51, 501)
    assert {sort: queries({"sort": sort}) for sort in small} == small
    assert queries({"liquidity": "drained", "kind": "no_action", "q": "n1"}) == small_filtered
    assert max(small.values()) <= 12


# ----- one channel -----


def channel_url(channel_or_id) -> str:
    chan_id = channel_or_id.chan_id if isinstance(channel_or_id, Channel) else channel_or_id
    return f"{LIST_URL}/{chan_id}"


def snapshot_with_peer_policy(channel: Channel, *, peer_rate_ppm: int) -> GraphSnapshot:
    """A graph where the peer charges `peer_rate_ppm` toward us on this channel (we are node2 of the edge)."""
    us = pubkey(1)
    Node.objects.get_or_create(pubkey=us, defaults={"is_ours": True, "alias": "us"})
    nodes = [{"pub_key": key, "alias": ""} for key in (us, channel.peer.pubkey)]
    graph_edge = {
        "channel_id": str(channel.chan_id),
        "chan_point": channel.chan_point,
        "last_update": 1770076800,
        "node1_pub": channel.peer.pubkey,
        "node2_pub": us,
        "capacity": str(channel.capacity_sat),
        "node1_policy": policy(rate_ppm=peer_rate_ppm, base_msat=2500),
        "node2_policy": policy(rate_ppm=channel.fee_rate_ppm),
        "custom_records": {},
    }
    snapshot = GraphSnapshot.from_graph(
        source=None, graph={"nodes": nodes, "edges": [graph_edge]}, ttl=timedelta(hours=12)
    )
    snapshot.save()
    return snapshot


def test_it_shows_a_channel_at_a_glance(viewer):
    channel = make_channel(
        7,
        alias="Carol's node",
        capacity_sat=4_000_000,
        local_balance_sat=3_000_000,
        remote_balance_sat=1_000_000,
        fee_rate_ppm=300,
        base_fee_msat=500,
        private=True,
    )
    snapshot = snapshot_with_peer_policy(channel, peer_rate_ppm=321)
    make_score(channel, 0.4, at=NOW - timedelta(days=2))
    make_score(
        channel,
        0.6789,
        snapshot=snapshot,
        reasons={**{name: f"{name} reason" for name in HEURISTICS}, "liquidity": "75 % local, target 50 %"},
        inputs={"fees": {"network_median_fee_rate_ppm": 50, "peer_inbound_fee_rates_ppm": [100, 200, 400]}},
    )
    activity(channel, days_ago=0, out=4, fees_msat=1_500_000, forwards_in_count=2)
    activity(channel, days_ago=3, out=6, fees_msat=500_000)
    activity(channel, days_ago=9, out=100, fees_msat=9_000_000)  # older than the 7 days

    html = viewer.get(channel_url(channel)).content.decode()

    assert html.count("<h1>") == 1 and "Carol&#x27;s node" in html
    assert "4,000,000 sat" in html and "3,000,000 sat" in html and "1,000,000 sat" in html
    assert "75 %" in html and "Private" in html and "100 days" in html
    assert ">0.68 <small>" in html  # the latest score
    # the policy both ways: ours from the node, the peer's from the graph the score was computed on
    assert '<td class="num">300 ppm</td><td class="num">321 ppm</td>' in html
    assert '<td class="num">500 msat</td><td class="num">2,500 msat</td>' in html
    # the competition as scored: 100, 200 and 400 ppm toward the peer
    assert "200 ppm <small>of 3 channels</small>" in html
    assert "We charge 50 % more than the median; 2 of 3 other channels into the peer are cheaper." in html
    assert "100 ppm \u2013 400 ppm" in html and "50 ppm" in html
    # the sub-scores with their reasons, and the charts
    assert "75 % local, target 50 %" in html and "Peer quality" in html
    assert f'src="/umbrel-ui/charts/channels/{channel.chan_id}/scores.svg"' in html
    assert f'src="/umbrel-ui/charts/channels/{channel.chan_id}/forwards.svg"' in html
    # the last 7 days: 4 + 6 forwards out, 2,000 sat earned; the 100 forwards of 9 days ago are not counted
    total = re.search(r"<tfoot><tr><th scope=\"row\">7 days</th>(.*?)</tr></tfoot>", html, flags=re.S).group(1)
    assert re.findall(r">([^<]+)</td>", total) == ["10", "2", "0", "0 sat", "2,000 sat"]


def test_it_shows_the_policy_history_and_every_decision_newest_first(viewer):
    channel = make_channel(1)
    older = make_decision(channel, kind=Decision.Kind.DECREASE_FEES, at=NOW - timedelta(days=3), reasons=["Too dear."])
    newer = make_decision(
        channel,
        status=Decision.Status.APPLIED,
        reasons=["Drains fast: worth more."],
        current_policy=policy_dict(fee_rate_ppm=100),
        proposed_policy=policy_dict(fee_rate_ppm=300),
    )
    PolicyBackup.objects.create(channel=channel, decision=newer, policy=policy_dict(fee_rate_ppm=100), read_from="lnd")
    AuditEntry.objects.create(
        actor="user:olivia",
        action=AuditEntry.Action.POLICY_APPLIED,
        channel=channel,
        decision=newer,
        before=policy_dict(fee_rate_ppm=100),
        after=policy_dict(fee_rate_ppm=300),
        reason="raise on demand",
    )
    AuditEntry.objects.create(actor="system", action=AuditEntry.Action.DECISION_CREATED, channel=channel, reason="x")

    html = viewer.get(channel_url(channel)).content.decode()

    events = html[html.index('id="history-title"') : html.index('class="backups-title"')]
    assert '<span>Fee rate</span><span class="old">100 ppm</span><span class="new">300 ppm</span>' in events
    assert "user:olivia" in events and "raise on demand" in events and "Policy applied" in events
    assert "Decision created" not in events  # not a policy change
    backups = html[html.index('class="backups-title"') : html.index('id="decisions-title"')]
    assert "100 ppm" in backups and "lnd" in backups and f"/umbrel-ui/decisions/{newer.pk}" in backups
    decisions = html[html.index('id="decisions-title"') :]
    assert decisions.index(f"/umbrel-ui/decisions/{newer.pk}") < decisions.index(f"/umbrel-ui/decisions/{older.pk}")
    assert "Drains fast: worth more." in decisions and "Too dear." in decisions
    assert "Applied" in decisions and "raise_on_demand" in decisions


def test_it_caps_the_decisions_and_links_to_the_queue_filtered_by_channel(viewer):
    channel = make_channel(1)
    for hours in range(25):
        make_decision(channel, at=NOW - timedelta(hours=hours))
    html = viewer.get(channel_url(channel)).content.decode()
    assert html.count('class="decision-item"') == 20
    assert f'href="/umbrel-ui/decisions?channel={channel.chan_id}">All decisions of this channel' in html


def test_it_opens_a_channel_by_its_block_tx_out_id(viewer):
    channel = make_channel(3, alias="Dave")
    response = viewer.get(f"{LIST_URL}/800003x0x0")
    assert response.status_code == 200
    assert str(channel.chan_id) in response.content.decode()


@pytest.mark.parametrize(
    "chan_id",
    [
        pytest.param("abc", id="letters"),
        pytest.param(f"{chan_id_of(1)}%0A", id="trailing-newline"),
        pytest.param("%D9%A1%D9%A2", id="arabic-indic-digits"),
        pytest.param("1x2", id="half-block-tx-out"),
        pytest.param("99999999999999999999", id="beyond-64-bits"),
        pytest.param(str(chan_id_of(2)), id="unknown"),
    ],
)
def test_it_answers_404_for_a_malformed_or_unknown_channel_id(viewer, chan_id):
    make_channel(1)
    assert viewer.get(f"{LIST_URL}/{chan_id}").status_code == 404


def test_it_shows_what_it_does_not_know_for_a_channel_never_scored(viewer):
    channel = make_channel(1, opened_at=None)
    response = viewer.get(channel_url(channel))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Not scored yet" in html
    assert "The peer's side is not known" in html
    assert "No decision for this channel yet." in html and "No policy change recorded" in html


def test_it_reads_the_graph_once_per_snapshot(viewer):
    first, second = make_channel(1), make_channel(2)
    snapshot = snapshot_with_peer_policy(first, peer_rate_ppm=777)
    make_score(first, 0.5, snapshot=snapshot)
    make_score(second, 0.5, snapshot=snapshot)
    assert "777 ppm" in viewer.get(channel_url(first)).content.decode()
    with CaptureQueriesContext(connection) as captured:
        html = viewer.get(channel_url(second)).content.decode()
    assert not [query for query in captured if '"compact"' in query["sql"]], "the compact graph was read again"
    assert "The peer's side is not known" in html  # the graph has no edge for this channel


def test_a_channel_page_query_count_does_not_grow_with_its_history(viewer):
    channel = make_channel(1)
    snapshot = snapshot_with_peer_policy(channel, peer_rate_ppm=10)

    def add_history(count: int, *, days: range) -> None:
        for n in range(count):
            decision = make_decision(channel, at=NOW - timedelta(hours=n))
            make_score(channel, 0.5, snapshot=snapshot, at=NOW - timedelta(hours=n))
            PolicyBackup.objects.create(channel=channel, decision=decision, policy=policy_dict())
            AuditEntry.objects.create(
                actor="system", action=AuditEntry.Action.POLICY_APPLIED, channel=channel, decision=decision
            )
        for days_ago in days:
            activity(channel, days_ago=days_ago, out=1)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert viewer.get(channel_url(channel)).status_code == 200
        return len(captured)

    add_history(3, days=range(2))
    queries()  # fills the peer-policy cache
    few = queries()
    add_history(40, days=range(2, 60))
    assert queries() == few
