import io

import pytest
from django.core.management import CommandError, call_command

from auth_vault.models import Secret
from auth_vault.services import secret_get
from daznode.lnd_permissions import lnd_bake_command
from sources.models import Source
from tests.auth_vault.fixtures import ADMIN_MACAROON
from tests.auth_vault.test_services import make_certificate


def run() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("lnd_import", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def lnd_files(tmp_path, settings):
    macaroon = tmp_path / "admin.macaroon"
    macaroon.write_bytes(ADMIN_MACAROON)
    settings.DAZNODE_LND_URL = "https://umbrel.local:8080"
    settings.DAZNODE_LND_MACAROON_FILE = str(macaroon)
    settings.DAZNODE_LND_TLS_CERT_FILE = None
    return macaroon


@pytest.mark.django_db
def test_it_imports_the_mounted_macaroon_as_the_lnd_source_and_warns_about_its_breadth(lnd_files):
    out, err = run()
    source = Source.objects.get(name="lnd")
    assert (source.kind, source.url, source.enabled) == (Source.Kind.LND, "https://umbrel.local:8080", True)
    assert secret_get(source.credential, actor="test") == ADMIN_MACAROON
    assert "the macaroon allows: address:read, address:write," in out
    assert "Warning: the macaroon grants more than fee management needs" in err
    assert lnd_bake_command(write=True) in err


@pytest.mark.django_db
def test_it_changes_nothing_when_started_again_with_the_same_files(lnd_files):
    run()
    versions = list(Secret.objects.values_list("name", "version"))
    run()
    assert list(Secret.objects.values_list("name", "version")) == versions
    assert Source.objects.count() == 1


@pytest.mark.django_db
def test_it_stores_the_mounted_certificate_for_pinning(lnd_files, settings, tmp_path):
    cert = tmp_path / "tls.cert"
    cert.write_bytes(make_certificate(days=365))
    settings.DAZNODE_LND_TLS_CERT_FILE = str(cert)
    run()
    source = Source.objects.get(name="lnd")
    assert secret_get(source.tls_certificate, actor="test") == cert.read_bytes()
    assert source.tls_certificate.kind == Secret.Kind.TLS_CERT


@pytest.mark.django_db
def test_it_does_nothing_without_an_lnd_url(settings):
    settings.DAZNODE_LND_URL = None
    out, _ = run()
    assert "DAZNODE_LND_URL is not set" in out
    assert not Source.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_second_node_and_stores_nothing(lnd_files):
    Source.objects.create(name="my-node", kind=Source.Kind.LND, url="https://other:8080", enabled=True)
    with pytest.raises(CommandError, match="an LND source is configured already \\('my-node'\\)"):
        run()
    assert not Secret.objects.exists()


@pytest.mark.django_db
def test_it_names_a_macaroon_file_it_cannot_read(lnd_files, settings, tmp_path):
    settings.DAZNODE_LND_MACAROON_FILE = str(tmp_path / "absent.macaroon")
    with pytest.raises(CommandError, match=r"cannot read .*absent\.macaroon"):
        run()
    assert not Source.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_file_that_is_not_a_macaroon(lnd_files):
    lnd_files.write_bytes(b"not a macaroon")
    with pytest.raises(CommandError, match="LND not imported"):
        run()
    assert not Source.objects.exists()
