import base64
import logging
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.db import connection
from django.utils import timezone

from auth_vault import services
from auth_vault.crypto import DecryptionError, UnknownKeyError, generate_key_entry, parse_keyring
from auth_vault.inspection import TYPE_PERMISSIONS, SecretInputError
from auth_vault.models import AccessEvent, Secret
from tests.auth_vault.fixtures import ADMIN_MACAROON, INFO_READ_CAVEATS_MACAROON, LNBITS_ADMIN_KEY
from tests.conftest import assert_not_leaked

P = Secret.Permission


@pytest.fixture(autouse=True)
def fresh_keyring(settings):
    settings.DAZNODE_VAULT_KEYS = generate_key_entry("k1")
    return parse_keyring(settings.DAZNODE_VAULT_KEYS)


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog):
    caplog.set_level(logging.DEBUG)
    yield
    assert_not_leaked(caplog.text, ADMIN_MACAROON, INFO_READ_CAVEATS_MACAROON, LNBITS_ADMIN_KEY, TLS_CERT_PEM)


def make_certificate(days: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "umbrel.local")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


TLS_CERT_PEM = make_certificate(days=365)


def store(name="umbrel-admin", kind=Secret.Kind.MACAROON, value=ADMIN_MACAROON, **kwargs) -> Secret:
    return services.secret_create(name=name, kind=kind, value=value, actor="alice", **kwargs)


@pytest.mark.django_db
def test_an_imported_macaroon_is_described_by_what_it_grants():
    secret = store(secret_type=Secret.Type.READONLY)  # the operator's word loses to the macaroon's
    assert secret.secret_type == Secret.Type.ADMIN
    assert set(secret.permissions) == set(P.values) - {P.READONLY}
    assert "offchain:write" in secret.details["macaroon_permissions"]
    assert secret.details["warnings"][0].startswith("grants more than fee management needs")
    assert secret.fingerprint == __import__("hashlib").sha256(ADMIN_MACAROON).hexdigest()


@pytest.mark.django_db
def test_a_macaroon_caveat_sets_the_expiry():
    secret = store(name="baked", value=INFO_READ_CAVEATS_MACAROON)
    assert secret.secret_type == Secret.Type.CUSTOM
    assert secret.permissions == [P.INFO, P.READ, P.READONLY]
    assert secret.expires_at == datetime(2022, 8, 8, 8, 10, 4, 889303, tzinfo=UTC)
    assert secret.details["caveats"][1] == "ipaddr 1.2.3.4"


@pytest.mark.django_db
def test_a_certificate_expires_when_it_does():
    secret = store(name="umbrel-tls", kind=Secret.Kind.TLS_CERT, value=TLS_CERT_PEM)
    assert timedelta(days=364) < secret.expires_at - timezone.now() <= timedelta(days=365)
    assert secret.details["subject"] == "CN=umbrel.local"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (Secret.Kind.MACAROON, b"not a macaroon", "not a valid macaroon: not a V2 binary macaroon"),
        (Secret.Kind.TLS_CERT, b"-----BEGIN CERTIFICATE-----\nxx", "not a PEM certificate"),
        (Secret.Kind.API_KEY, b"   ", "the secret is empty"),
    ],
)
def test_a_value_that_is_not_what_its_kind_says_is_refused_and_nothing_stored(kind, value, message):
    with pytest.raises(SecretInputError, match=message):
        store(kind=kind, value=value)
    assert not Secret.objects.exists()


@pytest.mark.django_db
def test_a_name_is_stored_once_and_then_rotated():
    store()
    with pytest.raises(services.SecretConflict, match="exists already: rotate it"):
        store()


@pytest.mark.parametrize(
    ("encoding", "text", "expected"),
    [
        ("hex", ADMIN_MACAROON.hex(), ADMIN_MACAROON),
        ("base64", base64.b64encode(ADMIN_MACAROON).decode(), ADMIN_MACAROON),
        ("text", f"  {LNBITS_ADMIN_KEY}\n", LNBITS_ADMIN_KEY.encode()),
    ],
)
def test_pasted_values_are_decoded(encoding, text, expected):
    assert services.decode_input(text, encoding) == expected


@pytest.mark.parametrize(("encoding", "text"), [("hex", "zz"), ("base64", "!!!"), ("rot13", "abc")])
def test_badly_encoded_values_are_refused(encoding, text):
    with pytest.raises(SecretInputError):
        services.decode_input(text, encoding)


@pytest.mark.django_db
def test_get_decrypts_records_the_access_and_the_last_use():
    secret = store()
    assert services.secret_get(secret, actor="fee-cycle") == ADMIN_MACAROON
    secret.refresh_from_db()
    assert secret.last_used_at is not None
    events = list(AccessEvent.objects.filter(secret=secret).values_list("operation", "actor"))
    assert events == [("read", "fee-cycle"), ("create", "alice")]


@pytest.mark.django_db(transaction=True)
def test_a_full_database_dump_holds_no_plaintext_secret(tmp_path):
    store()
    store(
        name="lnbits-admin", kind=Secret.Kind.LNBITS_KEY, value=LNBITS_ADMIN_KEY.encode(), secret_type=Secret.Type.ADMIN
    )
    store(name="umbrel-tls", kind=Secret.Kind.TLS_CERT, value=TLS_CERT_PEM)
    if connection.vendor == "postgresql":
        params = connection.get_connection_params()
        dump = subprocess.run(
            [
                "pg_dump",
                "--data-only",
                "-h",
                params.get("host") or "127.0.0.1",
                "-p",
                str(params.get("port") or 5432),
                "-U",
                params["user"],
                params["dbname"],
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    else:
        with sqlite3.connect(connection.settings_dict["NAME"]) as db:
            dump = "\n".join(db.iterdump())
    assert "auth_vault_secret" in dump
    assert_not_leaked(dump, ADMIN_MACAROON, LNBITS_ADMIN_KEY)
    pem_body = b"".join(TLS_CERT_PEM.splitlines()[1:-1])
    assert pem_body.decode() not in dump


@pytest.mark.django_db
def test_a_ciphertext_swapped_onto_another_record_fails_to_decrypt():
    admin = store()
    lnbits = store(name="lnbits", kind=Secret.Kind.LNBITS_KEY, value=LNBITS_ADMIN_KEY.encode())
    Secret.objects.filter(pk=lnbits.pk).update(ciphertext=admin.ciphertext, nonce=admin.nonce)
    lnbits.refresh_from_db()
    with pytest.raises(DecryptionError, match=f"secret 'lnbits' v1 \\(id {lnbits.pk}\\) could not be decrypted"):
        services.secret_get(lnbits, actor="x")


@pytest.mark.django_db
def test_a_tampered_ciphertext_fails_to_decrypt():
    secret = store()
    tampered = bytearray(secret.ciphertext)
    tampered[5] ^= 0x40
    Secret.objects.filter(pk=secret.pk).update(ciphertext=bytes(tampered))
    secret.refresh_from_db()
    with pytest.raises(DecryptionError, match="vault key 'k1'"):
        services.secret_get(secret, actor="x")


@pytest.mark.django_db
def test_rotating_the_vault_key_keeps_every_secret_readable_and_lets_the_old_key_go(settings, fresh_keyring):
    old_entry = generate_key_entry("k1")
    settings.DAZNODE_VAULT_KEYS = old_entry
    secrets = [store(name=f"s{i}", kind=Secret.Kind.API_KEY, value=f"api-key-{i}-abcdef".encode()) for i in range(3)]
    new_entry = generate_key_entry("k2")
    settings.DAZNODE_VAULT_KEYS = f"{new_entry},{old_entry}"

    report = services.vault_rotate_key(actor="ops")
    assert (report.reencrypted, report.already_current, report.still_used) == (3, 0, {"k2": 3})
    assert services.vault_rotate_key(actor="ops").reencrypted == 0, "running it again changes nothing"

    settings.DAZNODE_VAULT_KEYS = new_entry  # k1 retired
    for i, secret in enumerate(secrets):
        secret.refresh_from_db()
        assert services.secret_get(secret, actor="x") == f"api-key-{i}-abcdef".encode()


@pytest.mark.django_db
def test_rotating_the_vault_key_changes_nothing_when_one_secret_cannot_be_read(settings):
    old_entry, stranger = generate_key_entry("k1"), generate_key_entry("k0")
    settings.DAZNODE_VAULT_KEYS = old_entry
    good = store(name="good", kind=Secret.Kind.API_KEY, value=b"good-api-key-123")
    settings.DAZNODE_VAULT_KEYS = stranger
    store(name="orphan", kind=Secret.Kind.API_KEY, value=b"orphan-api-key-1")
    settings.DAZNODE_VAULT_KEYS = f"{generate_key_entry('k2')},{old_entry}"

    with pytest.raises(UnknownKeyError, match=r"secret 'orphan' v1 .* vault key 'k0', which is not in the keyring"):
        services.vault_rotate_key(actor="ops")
    good.refresh_from_db()
    assert good.key_id == "k1"
    assert not AccessEvent.objects.filter(operation=AccessEvent.Operation.REENCRYPT).exists()


@pytest.mark.django_db
def test_revocation_is_immediate_and_recorded():
    secret = store()
    services.secret_revoke(secret, actor="alice", reason="laptop lost")
    with pytest.raises(services.SecretUnavailable, match="is revoked since"):
        services.secret_get(secret, actor="fee-cycle")
    denied = AccessEvent.objects.get(operation=AccessEvent.Operation.DENIED)
    assert (denied.actor, denied.success) == ("fee-cycle", False)
    first_revocation = Secret.objects.get(pk=secret.pk).revoked_at
    services.secret_revoke(secret, actor="alice")
    assert Secret.objects.get(pk=secret.pk).revoked_at == first_revocation, "revoking twice keeps the first time"


@pytest.mark.django_db
def test_an_expired_secret_is_refused_the_moment_it_expires():
    secret = store(
        name="lnbits",
        kind=Secret.Kind.LNBITS_KEY,
        value=LNBITS_ADMIN_KEY.encode(),
        expires_at=timezone.now() + timedelta(seconds=30),
    )
    assert services.secret_get(secret, actor="x") == LNBITS_ADMIN_KEY.encode()
    Secret.objects.filter(pk=secret.pk).update(expires_at=timezone.now())
    secret.refresh_from_db()
    with pytest.raises(services.SecretUnavailable, match="is expired since"):
        services.secret_get(secret, actor="x")
    with pytest.raises(services.SecretUnavailable):
        services.secret_get(store(name="baked", value=INFO_READ_CAVEATS_MACAROON), actor="x")


@pytest.mark.django_db
def test_rotation_adds_a_version_and_revokes_the_old_one_after_the_grace_period():
    old = store(
        name="lnbits", kind=Secret.Kind.LNBITS_KEY, value=LNBITS_ADMIN_KEY.encode(), secret_type=Secret.Type.ADMIN
    )
    new = services.secret_rotate(old, value=b"a-new-lnbits-admin-key", actor="alice", grace=timedelta(minutes=10))
    old.refresh_from_db()
    assert (new.name, new.version, new.rotation_count, new.replaces_id) == ("lnbits", 2, 1, old.pk)
    assert new.secret_type == Secret.Type.ADMIN
    assert services.secret_current("lnbits") == new
    assert services.secret_get(old, actor="x") == LNBITS_ADMIN_KEY.encode(), "usable during the grace period"
    assert services.secret_get(new, actor="x") == b"a-new-lnbits-admin-key"
    assert old.status(now=timezone.now() + timedelta(minutes=10)) == Secret.Status.REVOKED
    with pytest.raises(services.SecretConflict, match="already rotated"):
        services.secret_rotate(old, value=b"another-value-123", actor="alice")


@pytest.mark.django_db
def test_rotation_without_grace_revokes_at_once():
    old = store()
    services.secret_rotate(old, value=ADMIN_MACAROON, actor="alice")
    old.refresh_from_db()
    with pytest.raises(services.SecretUnavailable):
        services.secret_get(old, actor="x")


FEE_MANAGEMENT = {P.INFO, P.OFFCHAIN, P.PEERS, P.READ, P.WRITE}


@pytest.mark.parametrize(
    ("secret_type", "required", "allowed"),
    [
        (Secret.Type.ADMIN, FEE_MANAGEMENT, True),
        (Secret.Type.ADMIN, {P.ONCHAIN, P.WRITE, P.ADMIN}, True),
        (Secret.Type.READONLY, {P.INFO, P.OFFCHAIN, P.READ}, True),
        (Secret.Type.READONLY, FEE_MANAGEMENT, False),
        (Secret.Type.READONLY, {P.ADMIN}, False),
        (Secret.Type.INVOICE, {P.INVOICE, P.WRITE}, True),
        (Secret.Type.INVOICE, {P.OFFCHAIN, P.READ}, False),
        (Secret.Type.INVOICE, {P.READONLY}, False),
        (Secret.Type.CUSTOM, {P.READ}, False),
    ],
)
def test_the_permission_matrix_of_each_type(secret_type, required, allowed):
    secret = Secret(
        name="x",
        kind=Secret.Kind.LNBITS_KEY,
        secret_type=secret_type,
        permissions=sorted(TYPE_PERMISSIONS[secret_type]),
    )
    if allowed:
        services.secret_check(secret, required=required)
    else:
        with pytest.raises(services.SecretPermissionError, match="lacks the permission"):
            services.secret_check(secret, required=required)


@pytest.mark.django_db
def test_a_macaroon_is_checked_against_exact_lnd_permissions():
    baked = store(name="baked", value=INFO_READ_CAVEATS_MACAROON, expires_at=None)
    Secret.objects.filter(pk=baked.pk).update(expires_at=None)
    baked.refresh_from_db()
    services.secret_check(baked, required={"info:read"})
    with pytest.raises(services.SecretPermissionError, match="lacks the permission\\(s\\): offchain:write"):
        services.secret_get(baked, actor="fee-cycle", required={"info:read", "offchain:write"})
    assert AccessEvent.objects.filter(operation=AccessEvent.Operation.DENIED, secret=baked).exists()


@pytest.mark.django_db
def test_custom_permissions_must_be_known():
    with pytest.raises(SecretInputError, match="unknown permission\\(s\\): sudo"):
        store(name="k", kind=Secret.Kind.API_KEY, value=b"an-api-key-1234", permissions=["read", "sudo"])


@pytest.mark.django_db
def test_rotation_moves_the_sources_that_used_the_old_version():
    from sources.models import Source

    old = store()
    certificate = store(name="umbrel-tls", kind=Secret.Kind.TLS_CERT, value=TLS_CERT_PEM)
    source = Source.objects.create(
        name="umbrel", kind="lnd", url="https://umbrel.local:8080", credential=old, tls_certificate=certificate
    )
    new = services.secret_rotate(old, value=ADMIN_MACAROON, actor="alice")
    source.refresh_from_db()
    assert (source.credential, source.tls_certificate) == (new, certificate)
    new_certificate = services.secret_rotate(certificate, value=make_certificate(days=400), actor="alice")
    source.refresh_from_db()
    assert (source.credential, source.tls_certificate) == (new, new_certificate)


@pytest.mark.django_db
def test_a_rotation_that_a_listener_cannot_follow_changes_nothing():
    from auth_vault.signals import secret_rotated

    def refuse(sender, **kwargs):
        raise RuntimeError("cannot follow")

    old = store()
    secret_rotated.connect(refuse)
    try:
        with pytest.raises(RuntimeError, match="cannot follow"):
            services.secret_rotate(old, value=ADMIN_MACAROON, actor="alice")
    finally:
        secret_rotated.disconnect(refuse)
    old.refresh_from_db()
    assert (Secret.objects.filter(name=old.name).count(), old.revoked_at) == (1, None)
    assert not AccessEvent.objects.filter(operation=AccessEvent.Operation.ROTATE).exists()


def test_the_vault_knows_nothing_of_the_apps_that_refer_to_it():
    """auth_vault sits left of sources: it imports none of the apps to its right, nor names their relations."""
    from pathlib import Path

    import auth_vault

    for path in Path(auth_vault.__file__).parent.rglob("*.py"):
        text = path.read_text()
        for name in ("sources", "channels", "decisions"):
            assert f"from {name}" not in text and f"import {name}" not in text, f"{path} imports {name}"
        assert "sources_authenticated" not in text and "sources_pinned" not in text, path


def test_a_time_before_caveat_without_an_offset_is_read_as_utc():
    from auth_vault.macaroons import Macaroon

    macaroon = Macaroon(
        location="lnd",
        identifier=b"",
        caveats=["time-before 2030-01-01T00:00:00"],
        permissions=frozenset(),
        signature=b"",
    )
    assert macaroon.expires_at == datetime(2030, 1, 1, tzinfo=UTC)
