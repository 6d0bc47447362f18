import os
import stat

import pytest
from django.core.management import CommandError, call_command

from auth_vault.crypto import parse_keyring
from daznode.secret_files import OWNER_ONLY, WORLD_READABLE, secret_file_mode

NAMES = ("secret_key", "admin_password", "vault_keys")


def mode_of(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_it_creates_every_secret_compose_reads_with_usable_values(tmp_path):
    directory = tmp_path / "secrets"
    call_command("init_secrets", "--dir", str(directory), "--uid", str(os.geteuid()))
    assert len((directory / "secret_key").read_text().strip()) >= 50
    assert len((directory / "admin_password").read_text().strip()) >= 12
    keyring = parse_keyring((directory / "vault_keys").read_text().strip())
    sealed = keyring.seal(b"macaroon", associated_data=b"row")
    assert keyring.open(sealed, associated_data=b"row", label="test") == b"macaroon"
    assert (directory / ".gitignore").read_text() == "*\n"
    assert mode_of(directory) == 0o700
    assert {mode_of(directory / name) for name in NAMES} == {OWNER_ONLY}


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to uid 1000 needs root")
def test_it_gives_the_files_to_the_container_user_when_run_as_root(tmp_path):
    call_command("init_secrets", "--dir", str(tmp_path), "--uid", "1000")
    assert {(tmp_path / name).stat().st_uid for name in NAMES} == {1000}
    assert {mode_of(tmp_path / name) for name in NAMES} == {OWNER_ONLY}


def test_it_never_overwrites_an_existing_secret(tmp_path):
    (tmp_path / "vault_keys").write_text("k1=kept-because-secrets-encrypted-with-it-would-be-lost\n")
    call_command("init_secrets", "--dir", str(tmp_path), "--uid", str(os.geteuid()))
    assert (tmp_path / "vault_keys").read_text() == "k1=kept-because-secrets-encrypted-with-it-would-be-lost\n"
    assert (tmp_path / "secret_key").exists()


def test_it_makes_files_readable_by_the_container_when_it_cannot_give_them_away():
    assert secret_file_mode(euid=0, uid=1000) == OWNER_ONLY
    assert secret_file_mode(euid=1000, uid=1000) == OWNER_ONLY
    assert secret_file_mode(euid=1001, uid=1000) == WORLD_READABLE


def test_a_folder_it_cannot_write_is_named_in_a_clear_error_not_a_traceback(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(CommandError, match=f"cannot write the secrets into {blocked}/secrets"):
        call_command("init_secrets", "--dir", str(blocked / "secrets"))
    assert blocked.read_text() == "not a folder"
