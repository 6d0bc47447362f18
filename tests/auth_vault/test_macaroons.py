from datetime import UTC, datetime

import pytest

from auth_vault.macaroons import MacaroonFormatError, parse_macaroon
from daznode.lnd_permissions import LND_WRITE_PERMISSIONS
from tests.auth_vault.fixtures import ADMIN_MACAROON, INFO_READ_CAVEATS_MACAROON

LND_ADMIN_PERMISSIONS = {
    f"{entity}:{action}"
    for entity in ("address", "info", "invoices", "message", "offchain", "onchain", "peers")
    for action in ("read", "write")
} | {"macaroon:generate", "macaroon:read", "macaroon:write", "signer:generate", "signer:read"}


def test_it_reads_every_permission_of_a_real_admin_macaroon():
    macaroon = parse_macaroon(ADMIN_MACAROON)
    assert macaroon.location == "lnd"
    assert macaroon.permissions == LND_ADMIN_PERMISSIONS
    assert macaroon.caveats == []
    assert macaroon.expires_at is None


def test_it_warns_that_an_admin_macaroon_grants_more_than_fee_management_needs():
    [warning] = parse_macaroon(ADMIN_MACAROON).warnings()
    assert warning.startswith("grants more than fee management needs (address:read, address:write,")
    assert "onchain:write" in warning and "macaroon:generate" in warning
    assert "lncli bakemacaroon info:read offchain:read offchain:write peers:read" in warning


def test_it_reads_caveats_and_the_expiry_they_impose():
    macaroon = parse_macaroon(INFO_READ_CAVEATS_MACAROON)
    assert macaroon.permissions == {"info:read"}
    assert macaroon.caveats == ["time-before 2022-08-08T08:10:04.88930363Z", "ipaddr 1.2.3.4"]
    assert macaroon.expires_at == datetime(2022, 8, 8, 8, 10, 4, 889303, tzinfo=UTC)
    assert macaroon.warnings() == ["lacks what fee management needs: offchain:read, offchain:write, peers:read"]


def test_a_macaroon_with_exactly_the_needed_permissions_has_no_warning():
    macaroon = parse_macaroon(ADMIN_MACAROON)
    narrowed = type(macaroon)(**{**macaroon.__dict__, "permissions": LND_WRITE_PERMISSIONS})
    assert narrowed.warnings() == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty macaroon"),
        (b"\x01rest", "not a V2 binary macaroon"),
        (ADMIN_MACAROON[:40], "truncated macaroon"),
        (ADMIN_MACAROON[:-1], "no 32-byte signature|truncated"),
        (ADMIN_MACAROON + b"\x00", "unexpected bytes after the signature"),
        (b"\x02\x00\x00\x06\x20" + b"\x00" * 32, "the macaroon has no identifier"),
        (b"\x02\x07\x01x\x00", "unexpected field type 7"),
    ],
)
def test_malformed_macaroons_are_refused_with_a_reason(raw, message):
    with pytest.raises(MacaroonFormatError, match=message):
        parse_macaroon(raw)


def test_a_base64_text_macaroon_is_not_mistaken_for_binary():
    import base64

    with pytest.raises(MacaroonFormatError, match="not a V2 binary macaroon"):
        parse_macaroon(base64.b64encode(ADMIN_MACAROON))
