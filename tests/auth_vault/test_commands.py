import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from auth_vault import services
from auth_vault.crypto import generate_key_entry, parse_keyring
from auth_vault.models import AccessEvent, Secret
from tests.auth_vault.fixtures import ADMIN_MACAROON, INFO_READ_CAVEATS_MACAROON_HEX

Op = AccessEvent.Operation


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_vault_import_stores_a_macaroon_file_and_warns_about_its_breadth(tmp_path):
    path = tmp_path / "admin.macaroon"
    path.write_bytes(ADMIN_MACAROON)
    out, err = run("vault_import", "umbrel-admin", str(path), "--kind", "macaroon")
    assert "Stored umbrel-admin v1: Admin" in out
    assert "Warning: grants more than fee management needs" in err
    assert services.secret_get(Secret.objects.get(name="umbrel-admin"), actor="t") == ADMIN_MACAROON


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (b"not a macaroon", ("--kind", "macaroon"), "not a valid macaroon"),
        (b"zz", ("--kind", "api_key", "--encoding", "hex"), "not valid hex"),
    ],
)
def test_vault_import_refuses_bad_input_and_stores_nothing(tmp_path, content, args, message):
    path = tmp_path / "secret"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        run("vault_import", "x", str(path), *args)
    assert not Secret.objects.exists()


@pytest.mark.django_db
def test_vault_import_names_an_unreadable_file(tmp_path):
    with pytest.raises(CommandError, match=r"cannot read .*absent"):
        run("vault_import", "x", str(tmp_path / "absent"), "--kind", "api_key")


def test_inspect_macaroon_shows_permissions_and_caveats(tmp_path):
    path = tmp_path / "baked.hex"
    path.write_text(INFO_READ_CAVEATS_MACAROON_HEX)
    out, _ = run("inspect_macaroon", str(path))
    assert "Permissions:  info:read" in out
    assert "Caveats:      time-before 2022-08-08T08:10:04.88930363Z; ipaddr 1.2.3.4" in out
    path.write_text("hello")
    with pytest.raises(CommandError, match="is not a macaroon"):
        run("inspect_macaroon", str(path))


@pytest.mark.django_db
def test_rotate_vault_key_reports_counts_and_which_keys_can_go(settings):
    old = generate_key_entry("k1")
    settings.DAZNODE_VAULT_KEYS = old
    services.secret_create(name="a", kind=Secret.Kind.API_KEY, value=b"an-api-key-1234", actor="t")
    settings.DAZNODE_VAULT_KEYS = f"{generate_key_entry('k2')},{old}"
    out, _ = run("rotate_vault_key")
    assert "Re-encrypted 1 secret(s) with key 'k2'; 0 already used it." in out
    assert "No secret uses key(s) k1 any more: they can be removed." in out


def test_generate_vault_key_prints_a_usable_entry():
    out, _ = run("generate_vault_key", "--id", "k7")
    assert parse_keyring(out.strip()).current.key_id == "k7"
    with pytest.raises(CommandError, match="a key id is"):
        run("generate_vault_key", "--id", "no spaces")


@pytest.mark.django_db
def test_vault_revoke_revokes_the_newest_version():
    services.secret_create(name="a", kind=Secret.Kind.API_KEY, value=b"an-api-key-1234", actor="t")
    out, _ = run("vault_revoke", "a", "--reason", "rotated by hand")
    assert out.startswith("Revoked a v1 at")
    with pytest.raises(CommandError, match="no secret named 'b'"):
        run("vault_revoke", "b")


@pytest.mark.django_db
def test_every_command_records_itself_as_command_colon_its_name(tmp_path, settings):
    get_user_model().objects.create_user("vera")
    settings.DAZNODE_VAULT_KEYS = generate_key_entry("k1")
    path = tmp_path / "admin.macaroon"
    path.write_bytes(ADMIN_MACAROON)
    run("vault_import", "umbrel-admin", str(path), "--kind", "macaroon")
    run("create_api_key", "vera", "home")
    settings.DAZNODE_VAULT_KEYS = f"{generate_key_entry('k2')},{settings.DAZNODE_VAULT_KEYS}"
    run("rotate_vault_key")
    run("vault_revoke", "umbrel-admin")
    run("prune_access_log")
    events = AccessEvent.objects.order_by("id").values_list("operation", "actor")
    assert list(events) == [
        (Op.CREATE, "command:vault_import"),
        (Op.CREATE, "command:create_api_key"),
        (Op.REENCRYPT, "command:rotate_vault_key"),
        (Op.REVOKE, "command:vault_revoke"),
        (Op.PRUNE, "command:prune_access_log"),
    ]
