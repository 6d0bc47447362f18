"""The admin obeys the same rule as the API: only an admin chooses what a source sends and where. And it shows
what the sources measured as a person reads it, without a way to delete that history."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from auth_vault import services
from auth_vault.models import Secret
from daznode.roles import Role, user_set_role
from sources.models import GraphSnapshot, HealthCheck, Source
from tests.auth_vault.fixtures import ADMIN_MACAROON
from tests.daznode.admin_pages import actions, column, shown

ORIGINAL_URL = "https://umbrel.local:8080"
ATTACKER_URL = "https://attacker.example:9999"
REFUSAL = "needs the admin role"


@pytest.fixture
def staff_operator(db):
    user = get_user_model().objects.create_user("otto", is_staff=True)
    user_set_role(user, Role.OPERATOR)
    codenames = ["add_source", "change_source", "view_source"]
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="sources", codename__in=codenames))
    return user


@pytest.fixture
def credentialed(db) -> Source:
    secret = services.secret_create(name="mac", kind=Secret.Kind.MACAROON, value=ADMIN_MACAROON, actor="t")
    return Source.objects.create(name="umbrel", kind=Source.Kind.LND, url=ORIGINAL_URL, credential=secret)


def change_form(source: Source, **changes) -> dict:
    values = {
        "name": source.name,
        "kind": source.kind,
        "url": source.url,
        "priority": source.priority,
        "credential": source.credential_id or "",
        "tls_certificate": source.tls_certificate_id or "",
        **changes,
    }
    if source.enabled:
        values["enabled"] = "on"
    return values


def change_url(source: Source) -> str:
    return f"/admin/sources/source/{source.pk}/change/"


def test_it_refuses_a_staff_operator_repointing_a_credentialed_source(client, staff_operator, credentialed):
    client.force_login(staff_operator)
    response = client.post(change_url(credentialed), change_form(credentialed, url=ATTACKER_URL))
    assert response.status_code == 200, "the form is shown again, not saved"
    assert REFUSAL in response.content.decode()
    credentialed.refresh_from_db()
    assert credentialed.url == ORIGINAL_URL


def test_it_refuses_a_staff_operator_removing_the_credential(client, staff_operator, credentialed):
    client.force_login(staff_operator)
    response = client.post(change_url(credentialed), change_form(credentialed, credential=""))
    assert REFUSAL in response.content.decode()
    credentialed.refresh_from_db()
    assert credentialed.credential is not None


def test_it_refuses_a_staff_operator_adding_a_source_with_a_secret(client, staff_operator, credentialed):
    client.force_login(staff_operator)
    form = change_form(credentialed, name="stolen", url=ATTACKER_URL)
    response = client.post("/admin/sources/source/add/", form)
    assert REFUSAL in response.content.decode()
    assert not Source.objects.filter(name="stolen").exists()


def test_a_staff_operator_may_tune_a_credentialed_source(client, staff_operator, credentialed):
    client.force_login(staff_operator)
    response = client.post(change_url(credentialed), change_form(credentialed, priority=7))
    assert response.status_code == 302
    credentialed.refresh_from_db()
    assert (credentialed.priority, credentialed.url) == (7, ORIGINAL_URL)


def test_a_staff_operator_may_repoint_a_source_without_secrets(client, staff_operator, db):
    source = Source.objects.create(name="graph", kind=Source.Kind.PUBLIC_GRAPH, url="https://graph.example/g.json")
    client.force_login(staff_operator)
    response = client.post(change_url(source), change_form(source, url="https://mirror.example/g.json"))
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.url == "https://mirror.example/g.json"


def test_an_admin_may_repoint_a_credentialed_source(client, credentialed):
    root = get_user_model().objects.create_superuser("root", "", "a-long-test-password-1")
    client.force_login(root)
    response = client.post(change_url(credentialed), change_form(credentialed, url="https://umbrel.lan:8080"))
    assert response.status_code == 302
    credentialed.refresh_from_db()
    assert credentialed.url == "https://umbrel.lan:8080"


@pytest.fixture
def root_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "", "a-long-test-password-1"))
    return client


@pytest.fixture
def snapshot(db) -> GraphSnapshot:
    return GraphSnapshot.objects.create(
        expires_at=timezone.now() + timedelta(hours=12),
        node_count=17_234,
        edge_count=52_001,
        content_hash="0" * 64,
        payload=b"{}",
    )


def test_it_shows_latencies_in_whole_milliseconds(root_client):
    source = Source.objects.create(name="graph", kind=Source.Kind.PUBLIC_GRAPH, url="https://graph.example/g.json")
    HealthCheck.objects.create(source=source, ok=True, latency_ms=1234.5678)
    failed = HealthCheck.objects.create(source=source, ok=False, latency_ms=None, error="timed out")
    listing = root_client.get("/admin/sources/healthcheck/").content.decode()
    assert column(listing, "latency") == ["—", "1,235 ms"], "the failed check, newest, has no latency"
    assert "1234.5678" not in listing
    assert shown(root_client.get(f"/admin/sources/healthcheck/{failed.pk}/change/").content.decode(), "error") == (
        "timed out"
    )


def test_it_shows_snapshot_sizes_with_separators(root_client, snapshot):
    listing = root_client.get("/admin/sources/graphsnapshot/").content.decode()
    assert (column(listing, "nodes"), column(listing, "edges")) == (["17,234"], ["52,001"])
    page = root_client.get(f"/admin/sources/graphsnapshot/{snapshot.pk}/change/").content.decode()
    assert shown(page, "nodes") == "17,234"
    assert shown(page, "payload_size") == "2 bytes"


def test_it_offers_no_delete_on_health_checks_and_snapshots(root_client, snapshot):
    source = Source.objects.create(name="graph", kind=Source.Kind.PUBLIC_GRAPH, url="https://graph.example/g.json")
    check = HealthCheck.objects.create(source=source, ok=True, latency_ms=12.0)
    for model, row in (("healthcheck", check), ("graphsnapshot", snapshot)):
        assert "delete_selected" not in actions(root_client.get(f"/admin/sources/{model}/").content.decode())
        assert 'class="deletelink"' not in root_client.get(f"/admin/sources/{model}/{row.pk}/change/").content.decode()
        assert root_client.post(f"/admin/sources/{model}/{row.pk}/delete/", {"post": "yes"}).status_code == 403
        assert type(row).objects.filter(pk=row.pk).exists()
    # A source is configuration, not a mirror: an admin may still delete one.
    assert "delete_selected" in actions(root_client.get("/admin/sources/source/").content.decode())
