"""Macaroons as LND mints and checks them: V2 binary format, LND's protobuf identifier, HMAC-SHA256 chain.

The format (github.com/go-macaroon/macaroon, v2): a version byte 0x02, then fields (type byte, uvarint length,
data): location, identifier, end of section; each first-party caveat as an identifier field and an end of
section; a final end of section; the 32-byte signature. LND's identifier is 0x03 followed by a protobuf
MacaroonId {1: nonce, 2: storage id, 3: repeated Op {1: entity, 2: repeated action}}.

Decoding is done here again rather than with auth_vault.macaroons on purpose: the simulator stands in for LND,
so a bug in the project's own decoder must not be able to hide behind it.
"""

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby

VERSION_V2 = 2
FIELD_EOS, FIELD_LOCATION, FIELD_IDENTIFIER, FIELD_VID, FIELD_SIGNATURE = 0, 1, 2, 4, 6
LND_ID_VERSION = 3
LND_LOCATION = b"lnd"
ROOT_KEY_ID = b"0"  # LND's default root key lives under storage id "0"
KEY_GENERATOR = b"macaroons-key-generator"  # go-macaroon derives the signing key from the root key with it
SIGNATURE_LENGTH = 32
PROTOBUF_LENGTH_DELIMITED = 2
# What LND puts in admin.macaroon and readonly.macaroon (lnd's adminPermissions and readPermissions).
_ENTITIES = ("address", "info", "invoices", "message", "offchain", "onchain", "peers")
ADMIN_PERMISSIONS = sorted(
    [f"{entity}:{action}" for entity in _ENTITIES for action in ("read", "write")]
    + ["macaroon:generate", "macaroon:read", "macaroon:write", "signer:generate", "signer:read"]
)
READONLY_PERMISSIONS = sorted([f"{entity}:read" for entity in (*_ENTITIES, "macaroon", "signer")])


class MacaroonError(Exception):
    """Why LND refuses a macaroon; the message is what LND answers."""


@dataclass(frozen=True)
class DecodedMacaroon:
    identifier: bytes
    caveats: list[bytes]
    signature: bytes


def mint_macaroon(*, root_key: bytes, permissions: list[str], caveats: Sequence[str] = (), nonce: bytes) -> bytes:
    """A macaroon granting `permissions` ("entity:action"), restricted by first-party `caveats`."""
    identifier = bytes([LND_ID_VERSION]) + _macaroon_id(nonce, permissions)
    out = bytearray([VERSION_V2])
    out += _field(FIELD_LOCATION, LND_LOCATION) + _field(FIELD_IDENTIFIER, identifier) + bytes([FIELD_EOS])
    for caveat in caveats:
        out += _field(FIELD_IDENTIFIER, caveat.encode()) + bytes([FIELD_EOS])
    out += bytes([FIELD_EOS])
    out += _field(FIELD_SIGNATURE, _signature(root_key, identifier, [caveat.encode() for caveat in caveats]))
    return bytes(out)


def verify_macaroon(
    raw: bytes, *, root_key: bytes, required: Sequence[str], now: datetime, client_ip: str = ""
) -> None:
    """Raise MacaroonError with LND's message unless `raw` is signed by `root_key` and grants `required`."""
    decoded = decode_macaroon(raw)
    expected = _signature(root_key, decoded.identifier, decoded.caveats)
    if not hmac.compare_digest(expected, decoded.signature):
        raise MacaroonError("verification failed: signature mismatch after caveat verification")
    for caveat in decoded.caveats:
        _check_caveat(caveat.decode(errors="replace"), now=now, client_ip=client_ip)
    granted = permissions_of(decoded.identifier)
    if not set(required) <= granted:
        raise MacaroonError("permission denied")


def decode_macaroon(raw: bytes) -> DecodedMacaroon:
    if not raw or raw[0] != VERSION_V2:
        raise MacaroonError("cannot unmarshal macaroon: unsupported macaroon version")
    fields, position = [], 1
    while position < len(raw):
        kind, data, position = _read_field(raw, position)
        fields.append((kind, data))
    sections = [list(group) for is_eos, group in groupby(fields, key=lambda item: item[0] == FIELD_EOS) if not is_eos]
    if len(sections) < 2 or [kind for kind, _ in sections[-1]] != [FIELD_SIGNATURE]:
        raise MacaroonError("cannot unmarshal macaroon: no signature")
    if len(fields[-1][1]) != SIGNATURE_LENGTH:
        raise MacaroonError("cannot unmarshal macaroon: no signature")
    header = dict(sections[0])
    if FIELD_IDENTIFIER not in header:
        raise MacaroonError("cannot unmarshal macaroon: no identifier")
    caveat_sections = [dict(section) for section in sections[1:-1]]
    if any(FIELD_VID in section or FIELD_IDENTIFIER not in section for section in caveat_sections):
        raise MacaroonError("cannot verify third-party caveats")
    return DecodedMacaroon(
        identifier=header[FIELD_IDENTIFIER],
        caveats=[section[FIELD_IDENTIFIER] for section in caveat_sections],
        signature=fields[-1][1],
    )


def permissions_of(identifier: bytes) -> set[str]:
    if not identifier or identifier[0] != LND_ID_VERSION:
        raise MacaroonError("failed to decode macaroon id: unknown version")
    permissions = set()
    for number, op in _protobuf_fields(identifier[1:]):
        if number == 3:
            op_fields = _protobuf_fields(op)
            entity = next((value.decode() for tag, value in op_fields if tag == 1), "")
            permissions.update(f"{entity}:{value.decode()}" for tag, value in op_fields if tag == 2)
    return permissions


def _check_caveat(caveat: str, *, now: datetime, client_ip: str) -> None:
    condition, _, argument = caveat.partition(" ")
    if condition == "time-before":
        try:
            expires_at = datetime.fromisoformat(argument.strip())
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
        except ValueError:
            raise MacaroonError(f'caveat "{caveat}" not satisfied: cannot parse time') from None
        if now >= expires_at:
            raise MacaroonError(f'caveat "{caveat}" not satisfied: macaroon has expired')
    elif condition == "ipaddr":
        if argument.strip() != client_ip:
            raise MacaroonError(f'caveat "{caveat}" not satisfied: macaroon locked to different IP address')
    else:
        raise MacaroonError(f'caveat "{caveat}" not satisfied: caveat not recognized')


def _signature(root_key: bytes, identifier: bytes, caveats: Sequence[bytes]) -> bytes:
    signing_key = hmac.digest(KEY_GENERATOR, root_key, hashlib.sha256)
    signature = hmac.digest(signing_key, identifier, hashlib.sha256)
    for caveat in caveats:
        signature = hmac.digest(signature, caveat, hashlib.sha256)
    return signature


def _macaroon_id(nonce: bytes, permissions: Sequence[str]) -> bytes:
    """MacaroonId with one Op per entity, entities and their actions sorted, as LND's bakery writes them."""
    actions_by_entity: dict[str, set[str]] = {}
    for permission in permissions:
        entity, _, action = permission.partition(":")
        actions_by_entity.setdefault(entity, set()).add(action)
    message = _protobuf_bytes(1, nonce) + _protobuf_bytes(2, ROOT_KEY_ID)
    for entity in sorted(actions_by_entity):
        op = _protobuf_bytes(1, entity.encode())
        op += b"".join(_protobuf_bytes(2, action.encode()) for action in sorted(actions_by_entity[entity]))
        message += _protobuf_bytes(3, op)
    return message


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_uvarint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while position < len(data):
        current = data[position]
        value |= (current & 0x7F) << shift
        position += 1
        if current < 0x80:
            return value, position
        shift += 7
    raise MacaroonError("cannot unmarshal macaroon: truncated varint")


def _field(kind: int, data: bytes) -> bytes:
    return bytes([kind]) + _uvarint(len(data)) + data


def _read_field(raw: bytes, position: int) -> tuple[int, bytes, int]:
    kind = raw[position]
    if kind == FIELD_EOS:
        return kind, b"", position + 1
    length, position = _read_uvarint(raw, position + 1)
    if position + length > len(raw):
        raise MacaroonError("cannot unmarshal macaroon: field extends past end of buffer")
    return kind, raw[position : position + length], position + length


def _protobuf_bytes(number: int, data: bytes) -> bytes:
    return _uvarint(number << 3 | PROTOBUF_LENGTH_DELIMITED) + _uvarint(len(data)) + data


def _protobuf_fields(data: bytes) -> list[tuple[int, bytes]]:
    fields, position = [], 0
    while position < len(data):
        tag, position = _read_uvarint(data, position)
        if tag & 0x7 != PROTOBUF_LENGTH_DELIMITED:
            raise MacaroonError("failed to decode macaroon id: unexpected wire type")
        length, position = _read_uvarint(data, position)
        fields.append((tag >> 3, data[position : position + length]))
        position += length
    return fields
