import dataclasses
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from channels.models import Channel, ChannelActivity, Node
from channels.sync import OtherNode, read_node, store_readout, sync_node
from sources.clients.lnd import LndClient
from sources.demo import simulated_node_register
from sources.factory import AllSourcesFailed
from sources.simulator import start_simulator


@pytest.fixture(scope="module")
def sim():
    with start_simulator(seed=11, node_count=500) as running:
        yield running


@pytest.fixture
def registered(sim, db):
    cache.clear()
    return simulated_node_register(name="sim", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=None)


def test_it_copies_our_channels_policies_and_forwards(sim, registered):
    report = sync_node()
    ours = Node.objects.get(is_ours=True)
    assert ours.pubkey == sim.node.pubkey
    channels = Channel.objects.filter(closed_at__isnull=True)
    assert report.channels == channels.count() == len(sim.node.channels)
    with LndClient(url=sim.url, macaroon=sim.admin_macaroon) as client:
        fees = {fee.chan_id: fee for fee in client.fee_report().channel_fees}
        forwards = client.forwarding_history(start=timezone.now() - timedelta(days=31), end=timezone.now())
    for channel in channels:
        assert (channel.fee_rate_ppm, channel.base_fee_msat) == (
            fees[channel.chan_id].fee_rate_ppm,
            fees[channel.chan_id].base_fee_msat,
        )
        assert channel.time_lock_delta >= 18 and channel.opened_at < timezone.now()
    totals = ChannelActivity.objects.values_list("forwards_out_count", "fees_earned_msat")
    assert sum(count for count, _ in totals) == len(forwards)
    assert sum(fee for _, fee in totals) == sum(f.fee_msat for f in forwards)


def test_a_second_sync_changes_nothing(sim, registered):
    sync_node()
    before = list(ChannelActivity.objects.order_by("id").values())
    report = sync_node()
    assert report.closed == 0
    assert list(ChannelActivity.objects.order_by("id").values()) == before


def test_a_channel_the_node_no_longer_lists_is_marked_closed_not_deleted(sim, registered):
    sync_node()
    now = timezone.now()
    with LndClient(url=sim.url, macaroon=sim.admin_macaroon) as client:
        readout = read_node(client, now=now)
    gone = readout.channels[0]
    store_readout(dataclasses.replace(readout, channels=readout.channels[1:]), source_name="sim")
    closed = Channel.objects.get(chan_id=gone.chan_id)
    assert closed.closed_at == now
    store_readout(readout, source_name="sim")
    closed.refresh_from_db()
    assert closed.closed_at is None, "listed again: open again"


def test_when_lnd_is_down_nothing_changes(sim, registered):
    sync_node()
    snapshot = list(Channel.objects.order_by("id").values_list("chan_id", "local_balance_sat", "synced_at"))
    sim.faults.inject("drop", count=1000)
    try:
        with pytest.raises(AllSourcesFailed):
            sync_node()
    finally:
        sim.faults.clear()
    assert list(Channel.objects.order_by("id").values_list("chan_id", "local_balance_sat", "synced_at")) == snapshot


def test_a_listed_channel_missing_from_the_graph_stays_open(sim, registered):
    sync_node()
    now = timezone.now()
    with LndClient(url=sim.url, macaroon=sim.admin_macaroon) as client:
        readout = read_node(client, now=now)
    private = readout.channels[0]
    without = {k: v for k, v in readout.policies.items() if k != private.chan_id}
    store_readout(dataclasses.replace(readout, policies=without), source_name="sim")
    channel = Channel.objects.get(chan_id=private.chan_id)
    assert channel.closed_at is None, "listed by LND means open, announced or not"
    assert channel.synced_at == now
    assert channel.fee_rate_ppm == readout.fees[private.chan_id].fee_rate_ppm


def test_another_node_answering_is_refused_unless_adopted(sim, registered):
    sync_node()
    open_before = Channel.objects.filter(closed_at__isnull=True).count()
    with start_simulator(seed=99, node_count=300) as other:
        with LndClient(url=other.url, macaroon=other.admin_macaroon) as client:
            readout = read_node(client, now=timezone.now())
    with pytest.raises(OtherNode, match="run sync_channels --adopt-node"):
        store_readout(readout, source_name="other")
    assert Channel.objects.filter(closed_at__isnull=True).count() == open_before
    store_readout(readout, source_name="other", adopt_node=True)
    assert Node.objects.get(is_ours=True).pubkey == other.node.pubkey


def test_it_reports_a_policy_changed_outside_and_leaves_the_audit_to_its_caller(sim, registered):
    sync_node()
    channel = Channel.objects.filter(closed_at__isnull=True).order_by("chan_id").first()
    channel.fee_rate_ppm += 123  # Daznode's record no longer matches what the node holds
    channel.save()
    report = sync_node()
    assert [(c.channel.pk, c.before.fee_rate_ppm, c.after.fee_rate_ppm) for c in report.external_changes] == [
        (channel.pk, channel.fee_rate_ppm, channel.fee_rate_ppm - 123)
    ]
    assert Channel.objects.get(pk=channel.pk).fee_rate_ppm == channel.fee_rate_ppm - 123, "the node's word is stored"


def test_a_held_channel_keeps_its_stored_policy_and_is_not_reported(sim, registered):
    sync_node()
    channel = Channel.objects.filter(closed_at__isnull=True).order_by("chan_id").first()
    channel.fee_rate_ppm += 123  # as if a write of Daznode's were in flight
    channel.save()
    report = sync_node(hold_policy={channel.pk})
    assert report.external_changes == ()
    held = Channel.objects.get(pk=channel.pk)
    assert held.fee_rate_ppm == channel.fee_rate_ppm and held.synced_at == report.read_at, "synced, policy held"
