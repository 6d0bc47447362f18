import base64
import os

import pytest

from auth_vault.crypto import (
    PBKDF2_ITERATIONS,
    DecryptionError,
    KeyringError,
    UnknownKeyError,
    generate_key_entry,
    parse_keyring,
)

AD = b"daznode-vault:v1:record-1:macaroon"


def key_entry(key_id: str) -> str:
    return f"{key_id}={base64.b64encode(os.urandom(32)).decode()}"


def test_a_sealed_value_opens_with_its_key_and_record():
    keyring = parse_keyring(key_entry("k1"))
    sealed = keyring.seal(b"macaroon bytes", associated_data=AD)
    assert sealed.key_id == "k1"
    assert len(sealed.nonce) == 12
    assert b"macaroon bytes" not in sealed.ciphertext
    assert keyring.open(sealed, associated_data=AD, label="secret 'x'") == b"macaroon bytes"


def test_each_encryption_uses_a_fresh_nonce():
    keyring = parse_keyring(key_entry("k1"))
    first, second = (keyring.seal(b"same", associated_data=AD) for _ in range(2))
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


def test_the_first_key_encrypts_and_every_key_decrypts():
    old, new = key_entry("old"), key_entry("new")
    sealed_by_old = parse_keyring(old).seal(b"value", associated_data=AD)
    both = parse_keyring(f"{new},{old}")
    assert both.current.key_id == "new"
    assert both.open(sealed_by_old, associated_data=AD, label="x") == b"value"
    assert both.seal(b"value", associated_data=AD).key_id == "new"


def test_a_ciphertext_moved_to_another_record_does_not_decrypt():
    keyring = parse_keyring(key_entry("k1"))
    sealed = keyring.seal(b"value", associated_data=AD)
    with pytest.raises(DecryptionError, match="secret 'other' could not be decrypted with vault key 'k1'"):
        keyring.open(sealed, associated_data=b"daznode-vault:v1:record-2:macaroon", label="secret 'other'")


@pytest.mark.parametrize("part", ["ciphertext", "nonce"])
def test_a_tampered_ciphertext_or_nonce_fails_rather_than_giving_garbage(part):
    keyring = parse_keyring(key_entry("k1"))
    sealed = keyring.seal(b"value", associated_data=AD)
    flipped = bytearray(getattr(sealed, part))
    flipped[0] ^= 1
    tampered = type(sealed)(**{**sealed.__dict__, part: bytes(flipped)})
    with pytest.raises(DecryptionError, match="tampered"):
        keyring.open(tampered, associated_data=AD, label="secret 'x'")


def test_a_wrong_key_with_the_right_id_fails_and_a_missing_id_is_named():
    sealed = parse_keyring(key_entry("k1")).seal(b"value", associated_data=AD)
    with pytest.raises(DecryptionError, match="vault key 'k1'"):
        parse_keyring(key_entry("k1")).open(sealed, associated_data=AD, label="secret 'x'")
    with pytest.raises(
        UnknownKeyError, match="secret 'x' was encrypted with vault key 'k1', which is not in the keyring"
    ):
        parse_keyring(key_entry("k2")).open(sealed, associated_data=AD, label="secret 'x'")


def test_a_passphrase_key_derives_a_key_per_ciphertext_with_a_stored_salt():
    keyring = parse_keyring("pp=passphrase:correct horse battery staple")
    first, second = (keyring.seal(b"value", associated_data=AD) for _ in range(2))
    assert first.kdf_iterations == PBKDF2_ITERATIONS >= 600_000
    assert len(first.salt) == 16 and first.salt != second.salt
    assert (
        parse_keyring("pp=passphrase:correct horse battery staple").open(first, associated_data=AD, label="x")
        == b"value"
    )
    with pytest.raises(DecryptionError):
        parse_keyring("pp=passphrase:wrong horse battery staple!").open(first, associated_data=AD, label="x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the keyring is empty"),
        ("k1", "entry 1 must look like id=key"),
        ("bad id!=AAAA", "entry 1 must look like id=key"),
        ("k1=not base64!", "key 'k1' is not valid base64"),
        (f"k1={base64.b64encode(b'short').decode()}", "key 'k1' must decode to 32 bytes, got 5"),
        ("k1=passphrase:short", "the passphrase of key 'k1' must be at least 16 characters"),
        pytest.param(f"{key_entry('k1')},{key_entry('k1')}", "key ids must be unique", id="duplicate-id"),
    ],
)
def test_a_malformed_keyring_is_refused_without_echoing_key_material(text, message):
    with pytest.raises(KeyringError, match=message) as error:
        parse_keyring(text)
    for part in text.split(","):
        material = part.partition("=")[2]
        if len(material) > 8:
            assert material not in str(error.value)


def test_a_keyring_file_may_hold_one_key_per_line_with_comments():
    keyring = parse_keyring(f"# rotated 2026-11\n{key_entry('k2')}\n\n{key_entry('k1')}\n")
    assert list(keyring.keys) == ["k2", "k1"]


def test_the_keyring_never_shows_its_keys():
    entry = key_entry("k1")
    keyring = parse_keyring(entry)
    assert entry.split("=", 1)[1] not in repr(keyring)
    assert "raw_key" not in repr(keyring.current)
    assert repr(keyring) == "Keyring(current='k1', ids=['k1'])"


def test_generated_entries_parse():
    assert len(parse_keyring(generate_key_entry("k9")).current.raw_key) == 32
