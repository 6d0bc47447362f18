"""The channels admin as a person reads it: figures rounded, amounts with separators, and nothing to delete."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from channels.models import HEURISTICS, Channel, ChannelActivity, ChannelScore, GraphAnalysis, Node, NodeMetric
from sources.models import GraphSnapshot
from tests.daznode.admin_pages import PASSWORD, actions, column, shown

PEER = "02" + "ab" * 32


@pytest.fixture
def admin_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "", PASSWORD))
    return client


def make_channel(peer: Node, *, index: int, capacity_sat: int, local_balance_sat: int) -> Channel:
    return Channel.objects.create(
        chan_id=(850_000 + index) << 40,
        chan_point=f"{index:064x}:0",
        peer=peer,
        capacity_sat=capacity_sat,
        local_balance_sat=local_balance_sat,
        remote_balance_sat=capacity_sat - local_balance_sat - 65_433,
        base_fee_msat=1000,
        fee_rate_ppm=250,
        time_lock_delta=80,
        min_htlc_msat=1000,
        max_htlc_msat=capacity_sat * 990,
    )


@pytest.fixture
def channel(db) -> Channel:
    peer = Node.objects.create(pubkey=PEER, alias="acinq-ish")
    return make_channel(peer, index=1, capacity_sat=5_000_000, local_balance_sat=1_234_567)


@pytest.fixture
def score(channel) -> ChannelScore:
    return ChannelScore.objects.create(
        channel=channel,
        total_score=0.6964999999999999,
        weights={},
        **{f"{name}_score": 0.3333333333333333 for name in HEURISTICS},
    )


@pytest.fixture
def analysis(db) -> GraphAnalysis:
    snapshot = GraphSnapshot.objects.create(
        expires_at=timezone.now() + timedelta(hours=12),
        node_count=17_234,
        edge_count=52_001,
        content_hash="0" * 64,
        payload=b"{}",
    )
    return GraphAnalysis.objects.create(
        snapshot=snapshot, duration_s=12.3456789, node_count=17_234, network_median_fee_rate_ppm=100
    )


@pytest.fixture
def metric(analysis) -> NodeMetric:
    return NodeMetric.objects.create(
        analysis=analysis,
        pubkey=PEER,
        alias="acinq-ish",
        degree=2_345,
        channel_count=3_001,
        total_capacity_sat=123_456_789_012,
        betweenness=0.000123456789,
        closeness=0.41234567,
        betweenness_percentile=0.97312,
        closeness_percentile=0.5,
        position="hub",
    )


def test_it_shows_scores_with_two_decimals(admin_client, score):
    listing = admin_client.get("/admin/channels/channelscore/").content.decode()
    assert column(listing, "total") == ["0.70"]
    assert column(listing, "centrality") == ["0.33"]
    assert "0.6964999999999999" not in listing
    page = admin_client.get(f"/admin/channels/channelscore/{score.pk}/change/").content.decode()
    assert shown(page, "total") == "0.70"
    assert shown(page, "peer_quality") == "0.33"
    assert shown(page, "peer_total") == "—", "no other channel to this peer: nothing, rather than None"
    assert "0.3333333333333333" not in page


def test_it_shows_sats_with_separators_and_the_local_ratio_as_a_percentage(admin_client, channel):
    listing = admin_client.get("/admin/channels/channel/").content.decode()
    assert column(listing, "capacity") == ["5,000,000 sat"]
    assert column(listing, "local_balance") == ["1,234,567 sat"]
    assert column(listing, "local_ratio_display") == ["25 %"]
    assert column(listing, "fee_rate") == ["250 ppm"]
    assert column(listing, "base_fee") == ["1,000"], "in msat, as the column says: a sat would hide 500 msat"
    page = admin_client.get(f"/admin/channels/channel/{channel.pk}/change/").content.decode()
    assert shown(page, "remote_balance") == "3,700,000 sat"
    assert shown(page, "max_htlc") == "4,950,000,000"
    assert shown(page, "uptime") == "—", "not reported: unknown, not 0"


def test_it_sorts_a_formatted_column_by_its_number(admin_client, channel):
    make_channel(channel.peer, index=2, capacity_sat=900_000, local_balance_sat=0)
    ordered = admin_client.get("/admin/channels/channel/?o=3").content.decode()  # the third column: capacity
    assert column(ordered, "capacity") == ["900,000 sat", "5,000,000 sat"], "by the number, not by the text"
    reversed_ = admin_client.get("/admin/channels/channel/?o=-3").content.decode()
    assert column(reversed_, "capacity") == ["5,000,000 sat", "900,000 sat"]


def test_it_shows_forwarded_amounts_and_fees_in_sats(admin_client, channel):
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    ChannelActivity.objects.create(
        channel=channel,
        period_start=start,
        period_end=start + timedelta(days=1),
        amount_out_msat=12_345_678_000,
        fees_earned_msat=2_345_999,
    )
    listing = admin_client.get("/admin/channels/channelactivity/").content.decode()
    assert column(listing, "amount_out") == ["12,345,678 sat"]
    assert column(listing, "fees_earned") == ["2,345 sat"], "whole sats, rounded down as LND reports fees"


def test_it_shows_the_networks_figures_for_people(admin_client, metric):
    listing = admin_client.get("/admin/channels/nodemetric/").content.decode()
    assert column(listing, "total_capacity") == ["123,456,789,012 sat"]
    assert column(listing, "betweenness_rank") == ["97.3 %"]
    assert column(listing, "closeness_rank") == ["50.0 %"]
    page = admin_client.get(f"/admin/channels/nodemetric/{metric.pk}/change/").content.decode()
    assert shown(page, "betweenness_centrality") == "0.000123457"
    assert shown(page, "channels") == "3,001"
    analyses = admin_client.get("/admin/channels/graphanalysis/").content.decode()
    assert column(analyses, "nodes") == ["17,234"]
    assert column(analyses, "duration") == ["12.3 s"]
    assert column(analyses, "network_median_fee_rate") == ["100 ppm"]


MIRRORS = ["node", "channel", "channelactivity", "channelscore", "graphanalysis", "nodemetric"]


@pytest.mark.parametrize("model", MIRRORS)
def test_it_offers_no_delete_on_mirrors_of_the_node(admin_client, score, metric, model):
    ChannelActivity.objects.create(
        channel=score.channel, period_start=timezone.now(), period_end=timezone.now() + timedelta(days=1)
    )
    rows = {
        "node": Node.objects.first(),
        "channel": score.channel,
        "channelactivity": ChannelActivity.objects.first(),
        "channelscore": score,
        "graphanalysis": metric.analysis,
        "nodemetric": metric,
    }[model]
    listing = admin_client.get(f"/admin/channels/{model}/").content.decode()
    assert "delete_selected" not in actions(listing)
    page = admin_client.get(f"/admin/channels/{model}/{rows.pk}/change/").content.decode()
    assert 'class="deletelink"' not in page
    assert admin_client.post(f"/admin/channels/{model}/{rows.pk}/delete/", {"post": "yes"}).status_code == 403
    forced = admin_client.post(
        f"/admin/channels/{model}/", {"action": "delete_selected", "_selected_action": [rows.pk], "post": "yes"}
    )
    assert forced.status_code in (200, 302)
    assert type(rows).objects.filter(pk=rows.pk).exists(), "still there"


def test_it_refuses_to_edit_or_add_a_node_by_hand(admin_client, channel):
    node = channel.peer
    change = admin_client.post(f"/admin/channels/node/{node.pk}/change/", {"pubkey": node.pubkey, "alias": "renamed"})
    assert change.status_code == 403
    assert admin_client.get("/admin/channels/node/add/").status_code == 403
    node.refresh_from_db()
    assert node.alias == "acinq-ish"
