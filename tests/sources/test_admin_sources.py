"""The admin obeys the same rule as the API: only an admin chooses what a source sends and where."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from auth_vault import services
from auth_vault.models import Secret
from daznode.roles import Role, user_set_role
from sources.models import Source
from tests.auth_vault.fixtures import ADMIN_MACAROON

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
