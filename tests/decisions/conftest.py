"""A simulated LND registered as our node, synced and scored, and decisions made against it."""

from dataclasses import replace

import pytest
from django.core.cache import cache
from django.utils import timezone

from channels.models import Channel
from channels.services import channels_score
from channels.sync import sync_node
from daznode.lightning import Policy
from decisions.models import Decision
from sources.demo import simulated_node_register
from sources.simulator import start_simulator


@pytest.fixture(scope="module")
def sim():
    with start_simulator(seed=31, node_count=400) as running:
        yield running


@pytest.fixture
def node(sim, db):
    """Our node as Daznode knows it after a sync and a scoring; the simulator's faults cleared after."""
    cache.clear()
    sim.faults.clear()
    simulated_node_register(name="sim", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=None)
    sync_node()
    channels_score()
    yield sim
    sim.faults.clear()


@pytest.fixture
def live_mode(settings):
    """DAZNODE_DECISION_MODE=live, where an apply or a rollback needs no "live anyway": for the tests of the writes
    themselves (test_live_anyway.py tests the other modes)."""
    settings.DAZNODE_DECISION_MODE = "live"


def live_policy(sim, channel: Channel) -> Policy:
    """The policy on our side of the channel as the simulated node holds it, read without Daznode."""
    data = sim.node.our_policy(str(channel.chan_id))
    return Policy(
        base_fee_msat=int(data["fee_base_msat"]),
        fee_rate_ppm=int(data["fee_rate_milli_msat"]),
        time_lock_delta=int(data["time_lock_delta"]),
        min_htlc_msat=int(data["min_htlc"]),
        max_htlc_msat=int(data["max_htlc_msat"]),
        inbound_base_fee_msat=int(data.get("inbound_fee_base_msat", 0)),
        inbound_fee_rate_ppm=int(data.get("inbound_fee_rate_milli_msat", 0)),
        disabled=bool(data.get("disabled", False)),
    )


def change_outside(sim, channel: Channel, fee_rate_ppm: int) -> None:
    """What `lncli updatechanpolicy` does: the node's policy changes without Daznode knowing."""
    from sources.simulator import PolicyUpdate

    current = live_policy(sim, channel)
    sim.node.update_channel_policy(
        PolicyUpdate(
            chan_point=channel.chan_point,
            base_fee_msat=current.base_fee_msat,
            fee_rate_ppm=fee_rate_ppm,
            time_lock_delta=current.time_lock_delta,
            max_htlc_msat=current.max_htlc_msat,
            min_htlc_msat=current.min_htlc_msat,
        )
    )


def open_channels(count: int | None = None) -> list[Channel]:
    channels = list(Channel.objects.filter(closed_at__isnull=True, active=True).order_by("chan_id"))
    return channels if count is None else channels[:count]


def make_decision(channel: Channel, *, fee_rate_ppm: int | None = None, **fields) -> Decision:
    """A pending fee decision for the channel as it is stored now (as a live cycle would leave it)."""
    current = channel.policy()
    target = fee_rate_ppm if fee_rate_ppm is not None else current.fee_rate_ppm + 20
    kind = Decision.Kind.INCREASE_FEES if target >= current.fee_rate_ppm else Decision.Kind.DECREASE_FEES
    values = {
        "channel": channel,
        "kind": kind,
        "rule": "test",
        "reasons": ["made by a test"],
        "current_policy": current.to_dict(),
        "proposed_policy": replace(current, fee_rate_ppm=target).to_dict(),
        "status": Decision.Status.PENDING,
        "mode": Decision.Mode.LIVE,
        "created_at": timezone.now(),
    }
    values.update(fields)
    return Decision.objects.create(**values)
