"""sources.services: the rule on a source's secrets and URL, whichever interface calls it."""

import pytest
from django.contrib.auth import get_user_model

from auth_vault import services
from auth_vault.models import Secret
from daznode.roles import Role, user_set_role
from sources.models import Source
from sources.services import SourceChangeRefused, source_create, source_update
from tests.auth_vault.fixtures import ADMIN_MACAROON

ORIGINAL_URL = "https://umbrel.local:8080"


@pytest.fixture
def operator(db):
    user = get_user_model().objects.create_user("otto")
    user_set_role(user, Role.OPERATOR)
    return user


@pytest.fixture
def credentialed(db) -> Source:
    secret = services.secret_create(name="mac", kind=Secret.Kind.MACAROON, value=ADMIN_MACAROON, actor="t")
    return Source.objects.create(name="umbrel", kind=Source.Kind.LND, url=ORIGINAL_URL, credential=secret)


def test_it_checks_against_the_stored_row_not_an_instance_already_changed(operator, credentialed):
    credentialed.url = "https://attacker.example:9999"  # what the admin's form does before save_model
    with pytest.raises(SourceChangeRefused, match=r"needs the admin role \(refused: url\)"):
        source_update(source=credentialed, changes={"url": credentialed.url}, user=operator)
    assert Source.objects.get(pk=credentialed.pk).url == ORIGINAL_URL


def test_resubmitting_the_same_values_is_not_a_change(operator, credentialed):
    changes = {"url": ORIGINAL_URL, "credential": credentialed.credential, "tls_certificate": None, "priority": 3}
    source_update(source=credentialed, changes=changes, user=operator)
    assert Source.objects.get(pk=credentialed.pk).priority == 3


def test_it_refuses_a_new_source_with_a_secret_unless_the_user_is_an_admin(operator, credentialed):
    stolen = Source(name="stolen", kind=Source.Kind.LND, url="https://x.example", credential=credentialed.credential)
    with pytest.raises(SourceChangeRefused, match=r"refused: credential"):
        source_create(source=stolen, user=operator)
    assert not Source.objects.filter(name="stolen").exists()
    user_set_role(operator, Role.ADMIN)
    source_create(source=stolen, user=operator)
    assert Source.objects.get(name="stolen").credential == credentialed.credential


def test_nobody_signed_in_is_refused(credentialed):
    with pytest.raises(SourceChangeRefused):
        source_update(source=credentialed, changes={"url": "https://x.example"}, user=None)
