import gzip
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from daznode.roles import Role, user_set_role
from sources.health import HealthCheckManager, percentile, source_health
from sources.models import HealthCheck, Source
from tests.sources.graphs import star_graph


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


@pytest.fixture
def graph_file(tmp_path):
    path = tmp_path / "graph.json.gz"
    path.write_bytes(gzip.compress(json.dumps(star_graph(3)).encode()))
    return path


def file_source(path, name="graph-file") -> Source:
    return Source.objects.create(name=name, kind=Source.Kind.FILE, url=str(path))


@pytest.mark.django_db
def test_each_enabled_source_is_checked_and_the_result_stored(graph_file, tmp_path):
    file_source(graph_file)
    file_source(tmp_path / "missing.json", name="missing")
    Source.objects.create(name="off", kind=Source.Kind.FILE, url=str(graph_file), enabled=False)
    checks = {check.source.name: check for check in HealthCheckManager().check_all()}
    assert set(checks) == {"graph-file", "missing"}
    assert checks["graph-file"].ok and checks["graph-file"].latency_ms >= 0
    assert not checks["missing"].ok
    assert "cannot read" in checks["missing"].error


@pytest.mark.django_db
def test_a_source_that_goes_away_and_comes_back_is_followed(graph_file):
    source = file_source(graph_file)
    manager = HealthCheckManager()
    assert manager.check(source).ok
    moved = graph_file.with_suffix(".moved")
    graph_file.rename(moved)
    assert not manager.check(source).ok
    moved.rename(graph_file)
    assert manager.check(source).ok
    assert list(source.health_checks.order_by("checked_at").values_list("ok", flat=True)) == [True, False, True]


@pytest.mark.django_db
def test_availability_and_latency_are_computed_per_window(graph_file):
    source = file_source(graph_file)
    now = timezone.now()
    rows = [
        (timedelta(minutes=10), True, 10.0),
        (timedelta(minutes=20), False, None),
        (timedelta(hours=5), True, 30.0),
        (timedelta(days=3), False, None),
        (timedelta(days=8), True, 99.0),
    ]
    HealthCheck.objects.bulk_create(
        HealthCheck(source=source, checked_at=now - ago, ok=ok, latency_ms=latency, error="" if ok else "refused")
        for ago, ok, latency in rows
    )
    report = source_health(source, now=now)
    assert report["status"] == "up"
    assert report["availability"] == {"1h": 0.5, "24h": round(2 / 3, 4), "7d": 0.5}
    assert report["latency_ms"] == {"p50": 20.0, "p95": 29.0}
    assert report["circuit"] == "closed"


def test_percentiles():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([float(v) for v in range(1, 101)], 0.95) == pytest.approx(95.05)


@pytest.fixture
def viewer_client(client, db):
    user = get_user_model().objects.create_user("vera")
    user_set_role(user, Role.VIEWER)
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {AccessToken.for_user(user)}"
    return client


def test_the_health_endpoint_is_200_while_a_graph_source_is_up(viewer_client, graph_file):
    source = file_source(graph_file)
    HealthCheckManager().check(source)
    response = viewer_client.get("/api/v1/system/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["sources"][0]["name"] == "graph-file" and body["sources"][0]["status"] == "up"


def test_the_health_endpoint_is_503_when_no_graph_source_is_up(viewer_client, tmp_path):
    source = file_source(tmp_path / "missing.json")
    HealthCheckManager().check(source)
    Source.objects.create(name="wallet", kind=Source.Kind.LNBITS, url="https://lnbits.example")
    response = viewer_client.get("/api/v1/system/health")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["sources"][0]["last_error"].startswith("graph-file: cannot read")


def test_the_health_endpoint_needs_a_login(client, db):
    assert client.get("/api/v1/system/health").status_code == 401


@pytest.mark.django_db
def test_check_sources_prints_each_source(graph_file, tmp_path, capsys):
    file_source(graph_file)
    file_source(tmp_path / "missing.json", name="missing")
    call_command("check_sources")
    out = capsys.readouterr().out
    assert "graph-file           up" in out
    assert "missing              DOWN  missing: cannot read" in out


@pytest.mark.django_db
def test_the_check_task_survives_every_source_being_down(tmp_path):
    from sources.tasks import check_sources

    file_source(tmp_path / "missing.json")
    assert check_sources() == 0
    assert HealthCheck.objects.filter(ok=False).count() == 1


@pytest.mark.django_db
def test_a_credential_of_the_wrong_kind_is_never_sent_and_the_other_checks_go_on(graph_file):
    from auth_vault.services import secret_create
    from tests.auth_vault.fixtures import ADMIN_MACAROON

    macaroon = secret_create(name="mac", kind="macaroon", value=ADMIN_MACAROON, actor="t")
    # Written straight to the database, as a row from before the kind check would be.
    Source.objects.create(name="mislabelled", kind=Source.Kind.MCP, url="http://127.0.0.1:9", credential=macaroon)
    file_source(graph_file)
    checks = {check.source.name: check for check in HealthCheckManager().check_all()}
    assert "the credential is of kind macaroon, this source takes api_key" in checks["mislabelled"].error
    assert checks["graph-file"].ok
