"""`make run` with no node configured: the simulator registers itself as the LND source and the graph follows,
and the first dry-run cycle shows what Daznode does: raises, cuts, recommendations and channels left alone."""

import re
import sys
from collections import Counter, defaultdict

import pytest
from django.core.cache import cache
from django.db.models import Sum

from auth_vault.models import Secret
from auth_vault.services import secret_get
from channels.demo import demo_seed
from channels.models import Channel, ChannelActivity, ChannelScore, Node
from decisions.models import Decision, FeeCycle
from sources.demo import other_lnd_source, simulated_node_register, simulated_node_warm_up
from sources.management.commands.simulate_lnd import Command as SimulateLnd
from sources.models import GraphSnapshot, HealthCheck, Source
from sources.simulator import Role, start_simulator
from tests.conftest import REPO, child_env, free_port, running, test_database_url, wait_until

# The simulated node `make run` starts (docker/Procfile), with the command's default graph size.
MAKE_RUN_SEED = int(re.search(r"simulate_lnd .*--seed (\d+)", (REPO / "docker" / "Procfile").read_text())[1])
MAKE_RUN_NODES = SimulateLnd().create_parser("manage.py", "simulate_lnd").get_default("nodes")
Kind = Decision.Kind


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


@pytest.mark.django_db(transaction=True)
def test_registration_stores_the_macaroon_and_a_restart_rotates_it(tmp_path):
    with start_simulator(seed=4, node_count=80, tls_dir=tmp_path) as sim:
        source = simulated_node_register(
            name="demo-lnd", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=sim.cert_pem
        )
        assert (source.kind, source.url) == (Source.Kind.LND, sim.url)
        assert secret_get(source.credential, actor="t") == sim.admin_macaroon
        assert (
            simulated_node_register(
                name="demo-lnd", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=sim.cert_pem
            ).credential
            == source.credential
        ), "unchanged: kept"
        simulated_node_warm_up("demo-lnd")
        assert HealthCheck.objects.get(source=source).ok
        assert GraphSnapshot.objects.get(source=source).edge_count > 0
        assert ChannelScore.objects.count() == len(sim.node.channels), "analysed, synced and scored"
        decisions = Decision.objects.filter(mode=Decision.Mode.DRY_RUN)
        assert decisions.count() == len(sim.node.channels), "and a first dry-run fee cycle decided for each"
    with start_simulator(seed=4, node_count=80) as restarted:  # a new root key, so a new macaroon
        again = simulated_node_register(
            name="demo-lnd", url=restarted.url, macaroon=restarted.admin_macaroon, cert_pem=None
        )
    assert again.credential.version == 2
    assert Secret.objects.get(name="demo-lnd-macaroon", version=1).revoked_at is not None


@pytest.mark.django_db
def test_a_configured_node_keeps_the_simulator_out():
    Source.objects.create(name="umbrel", kind=Source.Kind.LND, url="https://umbrel.local:8080")
    assert other_lnd_source("demo-lnd").name == "umbrel"
    assert other_lnd_source("umbrel") is None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_command_registers_itself_and_takes_a_first_snapshot(tmp_path):
    env = child_env(DAZNODE_DATA_DIR=str(tmp_path), DATABASE_URL=test_database_url(), REDIS_URL=None)
    command = [
        sys.executable,
        "manage.py",
        "simulate_lnd",
        "--nodes",
        "150",
        "--port",
        str(free_port()),
        "--register-source",
        "demo-lnd",
    ]
    log = tmp_path / "simulator.log"
    with running(command, env=env, log=log):
        wait_until(
            lambda: GraphSnapshot.objects.filter(source__name="demo-lnd").exists(),
            timeout=60,
            what="the simulator to register and take a snapshot",
            log=log,
        )
    assert "Registered as the LND source 'demo-lnd'" in log.read_text()


@pytest.mark.django_db(transaction=True)
def test_it_proposes_raises_cuts_recommendations_and_no_action_in_the_first_cycle():
    """The warm-up `make run` does, against the node it starts, over HTTP: the first dry run has something to say."""
    with start_simulator(seed=MAKE_RUN_SEED, node_count=MAKE_RUN_NODES) as sim:
        simulated_node_register(name="demo-lnd", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=None)
        simulated_node_warm_up("demo-lnd")
        applied = list(sim.node.applied_updates)
        roles = {int(channel.chan_id): channel.role for channel in sim.node.channels}
    [cycle] = FeeCycle.objects.all()
    decisions = list(Decision.objects.filter(cycle=cycle).select_related("channel__peer"))
    kinds = Counter(decision.kind for decision in decisions)
    assert len(decisions) == len(roles), cycle.summary
    assert kinds[Kind.INCREASE_FEES] and kinds[Kind.DECREASE_FEES] and kinds[Kind.NO_ACTION], kinds
    assert kinds[Kind.REBALANCE] + kinds[Kind.CLOSE_CHANNEL], kinds
    assert [d.reasons for d in decisions if d.status == Decision.Status.BLOCKED] == []
    assert all(decision.reasons for decision in decisions)
    assert {decision.mode for decision in decisions} == {Decision.Mode.DRY_RUN}
    assert applied == [], "a dry run sends nothing to the node"
    assert all(decision.channel.peer.alias for decision in decisions), "every peer has a readable alias"


@pytest.mark.django_db(transaction=True)
def test_each_kind_of_channel_gets_what_its_state_calls_for():
    with start_simulator(seed=MAKE_RUN_SEED, node_count=MAKE_RUN_NODES) as sim:
        simulated_node_register(name="demo-lnd", url=sim.url, macaroon=sim.admin_macaroon, cert_pem=None)
        simulated_node_warm_up("demo-lnd")
        roles = {int(channel.chan_id): channel.role for channel in sim.node.channels}
    outcomes = defaultdict(set)
    for decision in Decision.objects.select_related("channel"):
        outcomes[roles[decision.channel.chan_id]].add((decision.kind, decision.rule))
        if decision.kind in (Kind.INCREASE_FEES, Kind.DECREASE_FEES):
            change = decision.proposed_policy["fee_rate_ppm"] - decision.current_policy["fee_rate_ppm"]
            assert change > 0 if decision.kind == Kind.INCREASE_FEES else change < 0, decision.reasons
    assert (Kind.INCREASE_FEES, "drained_raise") in outcomes[Role.DRAINING]
    assert outcomes[Role.IDLE_FULL] == {(Kind.DECREASE_FEES, "idle_full_cut")}
    assert outcomes[Role.OVERPRICED] == {(Kind.DECREASE_FEES, "weak_score_cut")}
    assert outcomes[Role.DRAINED] == {(Kind.REBALANCE, "rebalance_drained")}
    assert outcomes[Role.ABANDONED] == {(Kind.CLOSE_CHANNEL, "close_idle_and_poor")}
    assert outcomes[Role.EARNER] == {(Kind.NO_ACTION, "healthy")}
    assert outcomes[Role.DEAD] == {(Kind.NO_ACTION, "channel_inactive")}


@pytest.mark.django_db
def test_the_static_demo_has_channels_of_every_kind_with_readable_peers():
    assert demo_seed(seed=42, channel_count=24) == 24
    assert demo_seed(seed=42, channel_count=24) == 0, "our node exists: nothing added"
    week = ChannelActivity.objects.values("channel_id").annotate(
        sent=Sum("forwards_out_count"), got=Sum("forwards_in_count")
    )
    sent = {row["channel_id"]: row["sent"] for row in week}
    received = {row["channel_id"]: row["got"] for row in week}
    channels = list(Channel.objects.all())
    assert any(c.local_ratio() < 0.05 and sent[c.id] and not received[c.id] for c in channels), "drained, in demand"
    assert any(0.05 <= c.local_ratio() < 0.2 and sent[c.id] and not received[c.id] for c in channels), "draining"
    assert any(c.local_ratio() > 0.85 and c.active and not sent[c.id] and not received[c.id] for c in channels), "idle"
    assert any(not c.active and not sent[c.id] and not received[c.id] for c in channels), "a dead peer"
    assert any(0.4 <= c.local_ratio() <= 0.6 and sent[c.id] > 50 and received[c.id] > 50 for c in channels), "earner"
    aliases = [node.alias for node in Node.objects.filter(is_ours=False)]
    assert len(aliases) == 24 and all(re.fullmatch(r"[a-z]+-[a-z]+-[0-9a-f]{4}", alias) for alias in aliases)
