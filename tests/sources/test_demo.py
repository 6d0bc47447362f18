"""`make run` with no node configured: the simulator registers itself as the LND source and the graph follows."""

import sys

import pytest
from django.core.cache import cache

from auth_vault.models import Secret
from auth_vault.services import secret_get
from channels.models import ChannelScore
from decisions.models import Decision
from sources.demo import other_lnd_source, simulated_node_register, simulated_node_warm_up
from sources.models import GraphSnapshot, HealthCheck, Source
from sources.simulator import start_simulator
from tests.conftest import child_env, free_port, running, test_database_url, wait_until


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
