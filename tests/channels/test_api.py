"""Identifiers in the channel endpoints' URLs are checked whole: anything but exactly one is a 400 with a message,
never a 404 or an empty answer."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework_simplejwt.tokens import AccessToken

from channels.api import ChannelSerializer
from channels.models import Channel, ChannelScore, Node
from channels.scoring import DEFAULT_WEIGHTS, HEURISTICS
from daznode import api_cache
from daznode.api_cache import KeptAnswers
from daznode.roles import Role, user_set_role
from tests.dashboard.history import history_build

PUBKEY = "02" + "ab" * 32


@pytest.fixture
def viewer(db) -> Client:
    user = get_user_model().objects.create_user("victor")
    user_set_role(user, Role.VIEWER)
    return Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")


@pytest.mark.parametrize(
    "pubkey",
    [
        pytest.param(f"{PUBKEY}%0A", id="trailing-newline"),
        pytest.param(f"{PUBKEY}%20", id="trailing-space"),
        pytest.param(f"%20{PUBKEY}", id="leading-space"),
        pytest.param(f"{PUBKEY[:-1]}%D9%A3", id="arabic-indic-digit"),
        pytest.param(f"{PUBKEY[:-1]}%EF%BC%93", id="fullwidth-digit"),
        pytest.param(PUBKEY.upper(), id="upper-case"),
    ],
)
def test_a_node_that_is_not_exactly_a_public_key_gets_400(viewer, pubkey):
    response = viewer.get(f"/api/v1/nodes/{pubkey}/metrics")
    assert response.status_code == 400, response.content
    assert response.json() == {"pubkey": ["A node public key is 66 lowercase hex characters (33 bytes)."]}


def test_a_well_formed_public_key_gets_past_validation(viewer):
    response = viewer.get(f"/api/v1/nodes/{PUBKEY}/metrics")
    assert response.status_code == 404  # no analysed graph yet: the key itself was fine
    assert "no analysed graph" in response.json()["detail"]


@pytest.mark.parametrize("chan_id", ["820000000000000001%0A", "%20820000000000000001", "%D9%A1%D9%A2"])
def test_a_channel_that_is_not_exactly_a_channel_id_gets_400(viewer, chan_id):
    response = viewer.get(f"/api/v1/channels/{chan_id}/scores")
    assert response.status_code == 400, response.content
    assert "a channel id is a string of digits" in response.json()["chan_id"][0]


# The channel list


def make_channel(peer: Node, index: int, **fields) -> Channel:
    values = {
        "chan_id": (900_000 + index) << 40,
        "chan_point": f"{index:064x}:0",
        "peer": peer,
        "capacity_sat": 1_000_000,
        "local_balance_sat": 400_000,
        "remote_balance_sat": 590_000,
        "pending_outgoing_sat": 10_000,
        "base_fee_msat": 1000,
        "fee_rate_ppm": 100 + index,
        "time_lock_delta": 80,
        "min_htlc_msat": 1000,
        "max_htlc_msat": 990_000_000,
        "opened_at": OPENED_AT,
        "synced_at": SYNCED_AT,
    }
    return Channel.objects.create(**{**values, **fields})


def make_score(channel: Channel, computed_at: datetime, total_score: float, **fields) -> ChannelScore:
    values = {
        "channel": channel,
        "computed_at": computed_at,
        "total_score": total_score,
        "weights": dict(DEFAULT_WEIGHTS),
        "inputs": {"activity": {"forwards_out": 3}},
        "reasons": {name: f"{name} is fine" for name in HEURISTICS},
        **{f"{name}_score": 0.5 for name in HEURISTICS},
    }
    return ChannelScore.objects.create(**{**values, **fields})


OPENED_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SYNCED_AT = datetime(2025, 6, 1, 8, 30, 15, 250_000, tzinfo=UTC)


@pytest.fixture
def peer(db) -> Node:
    return Node.objects.create(pubkey=PUBKEY, alias="peer-a")


def results(client: Client, query: str = "") -> list[dict]:
    response = client.get(f"/api/v1/channels{query}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_it_lists_open_channels_by_chan_id_each_with_its_latest_score(viewer, peer):
    second = make_channel(peer, 2)
    first = make_channel(peer, 1)
    make_score(first, SYNCED_AT - timedelta(hours=2), 0.25)
    make_score(first, SYNCED_AT - timedelta(hours=1), 0.75, liquidity_score=0.9, peer_total_score=0.7)
    make_score(first, SYNCED_AT - timedelta(hours=3), 0.5)
    make_channel(peer, 3, closed_at=SYNCED_AT)

    rows = results(viewer)

    assert [row["chan_id"] for row in rows] == [str(first.chan_id), str(second.chan_id)]
    assert rows[0] == {
        "chan_id": str(first.chan_id),
        "chan_point": first.chan_point,
        "peer": {"pubkey": PUBKEY, "alias": "peer-a"},
        "capacity_sat": 1_000_000,
        "local_balance_sat": 400_000,
        "remote_balance_sat": 590_000,
        "pending_outgoing_sat": 10_000,
        "pending_incoming_sat": 0,
        "local_ratio": 0.41,
        "active": True,
        "private": False,
        "opened_at": "2025-03-01T12:00:00Z",
        "closed_at": None,
        "policy": {
            "base_fee_msat": 1000,
            "fee_rate_ppm": 101,
            "time_lock_delta": 80,
            "min_htlc_msat": 1000,
            "max_htlc_msat": 990_000_000,
            "inbound_base_fee_msat": 0,
            "inbound_fee_rate_ppm": 0,
            "disabled": False,
        },
        "synced_at": "2025-06-01T08:30:15.250000Z",
        "latest_score": {
            "computed_at": "2025-06-01T07:30:15.250000Z",
            "total_score": 0.75,
            "peer_total_score": 0.7,
            "sub_scores": {name: 0.9 if name == "liquidity" else 0.5 for name in HEURISTICS},
            "weights": dict(DEFAULT_WEIGHTS),
            "reasons": {name: f"{name} is fine" for name in HEURISTICS},
            "inputs": {"activity": {"forwards_out": 3}},
        },
    }
    assert rows[1]["latest_score"] is None  # never scored
    assert list(rows[0]) == list(ChannelSerializer().fields)  # the fields the serializer declares, in its order


def test_it_lists_closed_channels_too_when_asked(viewer, peer):
    make_channel(peer, 1)
    closed = make_channel(peer, 2, closed_at=SYNCED_AT)

    rows = results(viewer, "?include_closed=true")

    assert [row["chan_id"] for row in rows] == [str((900_001) << 40), str(closed.chan_id)]
    assert rows[1]["closed_at"] == "2025-06-01T08:30:15.250000Z"


def test_of_two_scores_computed_at_the_same_time_the_later_stored_is_the_latest(viewer, peer):
    channel = make_channel(peer, 1)
    make_score(channel, SYNCED_AT, 0.25)
    make_score(channel, SYNCED_AT, 0.5)

    assert results(viewer)[0]["latest_score"]["total_score"] == 0.5


def test_a_rows_latest_score_reads_as_the_first_of_the_channels_score_history(viewer, peer):
    channel = make_channel(peer, 1)
    make_score(channel, SYNCED_AT - timedelta(days=1), 0.25)
    make_score(channel, SYNCED_AT, 0.5, peer_total_score=None, inputs={}, reasons={"age": "young"})

    history = viewer.get(f"/api/v1/channels/{channel.chan_id}/scores").json()["results"]

    assert results(viewer)[0]["latest_score"] == history[0]


def test_it_pages_the_channels_with_limit_and_offset(viewer, peer):
    channels = [make_channel(peer, index) for index in range(1, 6)]
    for channel in channels:
        make_score(channel, SYNCED_AT, 0.5)

    body = viewer.get("/api/v1/channels?limit=2&offset=2").json()

    assert body["count"] == 5
    assert [row["chan_id"] for row in body["results"]] == [str(c.chan_id) for c in channels[2:4]]
    assert body["next"].endswith("/api/v1/channels?limit=2&offset=4")
    assert body["previous"].endswith("/api/v1/channels?limit=2")
    assert all(row["latest_score"] is not None for row in body["results"])


def test_a_bad_include_closed_gets_400(viewer):
    response = viewer.get("/api/v1/channels?include_closed=yes")
    assert response.status_code == 400
    assert response.json() == {"include_closed": "must be true or false"}


# Kept while the database is unchanged (PostgreSQL, outside a transaction: a test that commits)


def viewer_client() -> Client:
    user = get_user_model().objects.create_user("vera")
    user_set_role(user, Role.VIEWER)
    return Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")


def queries_of(client: Client, url: str) -> tuple[bytes, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return response.content, [query["sql"] for query in captured.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_the_database_state_changes_with_every_commit_and_is_none_inside_a_transaction(postgres_url):
    before = api_cache.database_state()
    Node.objects.create(pubkey=PUBKEY, alias="peer-a")  # commits
    assert api_cache.database_state() not in (None, before)
    with transaction.atomic():
        assert api_cache.database_state() is None


@pytest.mark.django_db(transaction=True)
def test_it_answers_again_from_the_cache_until_something_commits(postgres_url, monkeypatch):
    # Other databases of the cluster (parallel test workers) move PostgreSQL's snapshot too, which only costs a
    # kept answer; here the state moves only with this test's commits, as the test above shows it does.
    state = ["before"]
    monkeypatch.setattr(api_cache, "database_state", lambda: state[0])
    viewer = viewer_client()
    peer = Node.objects.create(pubkey=PUBKEY, alias="peer-a")
    channel = make_channel(peer, 1)
    make_score(channel, SYNCED_AT, 0.25)

    first, made = queries_of(viewer, "/api/v1/channels")
    again, made_again = queries_of(viewer, "/api/v1/channels")
    assert again == first
    assert any("channels_channelscore" in sql for sql in made)
    assert not any("channels_channel" in sql for sql in made_again)  # the user and the roles only

    make_score(channel, SYNCED_AT + timedelta(hours=1), 0.75)  # commits
    state[0] = "after the score"
    assert results(viewer)[0]["latest_score"]["total_score"] == 0.75
    Channel.objects.filter(pk=channel.pk).update(closed_at=SYNCED_AT)
    state[0] = "after the close"
    assert results(viewer) == []
    assert len(results(viewer, "?include_closed=true")) == 1  # another URL, another answer


@pytest.mark.django_db(transaction=True)
def test_a_kept_answer_is_served_to_no_one_who_may_not_read_it(postgres_url):
    make_channel(Node.objects.create(pubkey=PUBKEY, alias="peer-a"), 1)
    assert len(results(viewer_client())) == 1  # kept now
    nobody = get_user_model().objects.create_user("norole")  # a user, but with no role

    assert Client().get("/api/v1/channels").status_code == 401
    assert (
        Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(nobody)}").get("/api/v1/channels").status_code == 403
    )


def rows_read(sql: str, table: str) -> int:
    """How many rows of `table` a query read, by PostgreSQL's own account (EXPLAIN ANALYZE): what its scans and
    index probes returned, and what their filters then threw away."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        (plan,) = cursor.fetchone()
    nodes, total = [plan[0]["Plan"]], 0
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node.get("Relation Name") == table:
            total += (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
    return total


def table_rows_read(client: Client, url: str, table: str) -> int:
    """The rows of `table` one request read, in all its queries but the page's count (a count reads them all)."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return sum(rows_read(query["sql"], table) for query in captured if "COUNT(" not in query["sql"])


def test_the_channel_list_reads_a_few_scores_per_listed_channel_never_the_history(viewer, postgres_url):
    history_build(channels=150, days=7)  # 168 scores a channel
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum leaves it: the planner knows the history's size

    read = table_rows_read(viewer, "/api/v1/channels", "channels_channelscore")

    assert read <= 5 * 100, read  # a few rows for each of the page's 100 channels


def test_kept_answers_drop_the_least_recently_used_beyond_their_budget():
    kept = KeptAnswers(budget_bytes=1000)
    for name in "abcdefghij":  # 100 bytes each: the budget, exactly
        kept.put((name,), name.encode() * 100)
    assert kept.get(("a",)) == b"a" * 100  # now the most recently used

    kept.put(("k",), b"k" * 100)

    assert [name for name in "abcdefghijk" if kept.get((name,)) is None] == ["b"]
    kept.put(("l",), b"l" * 126)  # more than an eighth of the budget: not kept, nothing dropped for it
    assert kept.get(("l",)) is None and kept.get(("c",)) is not None
