"""Health checks of an LND source through the simulator: outages, returns, and what the record says."""

import pytest
from django.core.cache import cache

from auth_vault import services
from auth_vault.models import Secret
from sources.health import HealthCheckManager
from sources.models import Source
from sources.simulator import create_simulator, start_simulator


@pytest.fixture(autouse=True)
def fresh_circuits():
    cache.clear()


def lnd_source(url: str, macaroon: bytes, cert_pem: bytes | None = None, name: str = "umbrel") -> Source:
    credential = services.secret_create(name=f"{name}-mac", kind=Secret.Kind.MACAROON, value=macaroon, actor="t")
    certificate = None
    if cert_pem:
        certificate = services.secret_create(name=f"{name}-tls", kind=Secret.Kind.TLS_CERT, value=cert_pem, actor="t")
    return Source.objects.create(
        name=name, kind=Source.Kind.LND, url=url, credential=credential, tls_certificate=certificate
    )


@pytest.mark.django_db
def test_lnd_going_away_and_coming_back_is_followed():
    manager = HealthCheckManager()
    first = start_simulator(seed=2, node_count=60)
    port = int(first.url.rsplit(":", 1)[1])
    source = lnd_source(first.url, first.admin_macaroon)
    assert manager.check(source).ok
    first.stop()
    down = manager.check(source)
    assert not down.ok and "connection refused" in down.error
    again = create_simulator(seed=2, node_count=60, port=port).start()
    try:
        source.credential = services.secret_rotate(source.credential, value=again.admin_macaroon, actor="t")
        source.save()
        assert manager.check(source).ok
    finally:
        again.stop()
    assert list(source.health_checks.order_by("checked_at").values_list("ok", flat=True)) == [True, False, True]


@pytest.mark.django_db
def test_the_health_record_names_what_went_wrong(tmp_path):
    manager = HealthCheckManager()
    with (
        start_simulator(seed=2, node_count=60) as sim,
        start_simulator(seed=2, node_count=60, tls_dir=tmp_path, expired_cert=True) as expired,
    ):
        stranger = start_simulator(seed=2, node_count=60)
        wrong_macaroon = lnd_source(sim.url, stranger.admin_macaroon, name="wrong-mac")
        stranger.stop()
        expired_cert = lnd_source(expired.url, expired.admin_macaroon, expired.cert_pem, name="expired")
        behind_proxy = lnd_source(sim.url, sim.admin_macaroon, name="proxied")
        records = {source.name: manager.check(source) for source in (wrong_macaroon, expired_cert)}
        sim.faults.inject("html", count=10, path="/v1/getinfo")  # a 502 page from a proxy in front
        records["proxied"] = manager.check(behind_proxy)
    assert "macaroon refused" in records["wrong-mac"].error
    # The vault knows the certificate's notAfter, so the source refuses it before connecting, saying why.
    assert "TLS certificate unusable: secret 'expired-tls' v1" in records["expired"].error
    assert "is expired since" in records["expired"].error
    assert "HTML error page" in records["proxied"].error
    assert not any(record.ok for record in records.values())
