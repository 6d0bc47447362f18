"""Read what a macaroon really grants, without trusting what the operator says it is.

LND writes macaroons in the V2 binary format (github.com/go-macaroon/macaroon): a version byte 0x02, then
fields encoded as (type byte, uvarint length, data): optional location, identifier, end of section; each
caveat's fields and its end of section; a final end of section; the 32-byte signature. LND's identifier is a
version byte 0x03 followed by a protobuf MacaroonId {nonce = 1, storageId = 2, repeated Op ops = 3} with
Op {entity = 1, repeated actions = 2}. Nothing here verifies the signature: only the node can.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from daznode.lnd_permissions import LND_WRITE_PERMISSIONS, lnd_bake_command

FIELD_EOS, FIELD_LOCATION, FIELD_IDENTIFIER, FIELD_VID, FIELD_SIGNATURE = 0, 1, 2, 4, 6
LND_ID_VERSION = 3


class MacaroonFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Macaroon:
    location: str
    identifier: bytes
    caveats: list[str]
    permissions: frozenset[str] | None  # "entity:action"; None when the identifier is not LND's
    signature: bytes = field(repr=False)

    @property
    def expires_at(self) -> datetime | None:
        """The earliest time-before caveat, if any: the node refuses the macaroon after it."""
        times = []
        for caveat in self.caveats:
            if caveat.startswith("time-before "):
                try:
                    moment = datetime.fromisoformat(caveat.removeprefix("time-before ").strip())
                except ValueError:
                    continue
                # LND writes UTC with a Z; a caveat without an offset is read as UTC rather than refused.
                times.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        return min(times, default=None)

    def excess_over(self, needed: frozenset[str] = LND_WRITE_PERMISSIONS) -> list[str]:
        return sorted(self.permissions - needed) if self.permissions is not None else []

    def missing_from(self, needed: frozenset[str] = LND_WRITE_PERMISSIONS) -> list[str]:
        return sorted(needed - self.permissions) if self.permissions is not None else []

    def warnings(self, needed: frozenset[str] = LND_WRITE_PERMISSIONS) -> list[str]:
        found = []
        if self.permissions is None:
            found.append("not an LND macaroon identifier: its permissions cannot be read")
        elif excess := self.excess_over(needed):
            narrower = lnd_bake_command(write=True)
            found.append(f"grants more than fee management needs ({', '.join(excess)}); a narrower one: {narrower}")
        if missing := self.missing_from(needed):
            found.append(f"lacks what fee management needs: {', '.join(missing)}")
        return found


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.position = data, 0

    def done(self) -> bool:
        return self.position >= len(self.data)

    def byte(self) -> int:
        if self.done():
            raise MacaroonFormatError("truncated macaroon")
        self.position += 1
        return self.data[self.position - 1]

    def uvarint(self) -> int:
        value, shift = 0, 0
        while True:
            current = self.byte()
            value |= (current & 0x7F) << shift
            if current < 0x80:
                return value
            shift += 7
            if shift > 63:
                raise MacaroonFormatError("malformed length")

    def chunk(self, length: int) -> bytes:
        if self.position + length > len(self.data):
            raise MacaroonFormatError("truncated macaroon")
        self.position += length
        return self.data[self.position - length : self.position]

    def field(self) -> tuple[int, bytes]:
        kind = self.byte()
        if kind == FIELD_EOS:
            return kind, b""
        return kind, self.chunk(self.uvarint())


def parse_macaroon(raw: bytes) -> Macaroon:
    if not raw:
        raise MacaroonFormatError("empty macaroon")
    if raw[0] != 2:
        raise MacaroonFormatError("not a V2 binary macaroon (the format LND writes)")
    reader = _Reader(raw[1:])
    header = _section(reader)
    if FIELD_IDENTIFIER not in header:
        raise MacaroonFormatError("the macaroon has no identifier")
    caveats = []
    while True:
        caveat = _section(reader)
        if not caveat:
            break
        if FIELD_VID in caveat:
            caveats.append(f"third-party caveat at {caveat.get(FIELD_LOCATION, b'').decode(errors='replace')}")
        else:
            caveats.append(caveat.get(FIELD_IDENTIFIER, b"").decode(errors="replace"))
    kind, signature = reader.field()
    if kind != FIELD_SIGNATURE or len(signature) != 32:
        raise MacaroonFormatError("the macaroon has no 32-byte signature")
    if not reader.done():
        raise MacaroonFormatError("unexpected bytes after the signature")
    identifier = header[FIELD_IDENTIFIER]
    return Macaroon(
        location=header.get(FIELD_LOCATION, b"").decode(errors="replace"),
        identifier=identifier,
        caveats=caveats,
        permissions=_lnd_permissions(identifier),
        signature=signature,
    )


def _section(reader: _Reader) -> dict[int, bytes]:
    fields = {}
    while True:
        kind, data = reader.field()
        if kind == FIELD_EOS:
            return fields
        if kind in fields or kind not in (FIELD_LOCATION, FIELD_IDENTIFIER, FIELD_VID):
            raise MacaroonFormatError(f"unexpected field type {kind}")
        fields[kind] = data


def _protobuf_fields(data: bytes) -> list[tuple[int, bytes]]:
    """Length-delimited fields of a protobuf message (the only wire type MacaroonId uses)."""
    reader, fields = _Reader(data), []
    while not reader.done():
        tag = reader.uvarint()
        if tag & 0x7 != 2:
            raise MacaroonFormatError("unexpected protobuf wire type in the identifier")
        fields.append((tag >> 3, reader.chunk(reader.uvarint())))
    return fields


def _lnd_permissions(identifier: bytes) -> frozenset[str] | None:
    if not identifier or identifier[0] != LND_ID_VERSION:
        return None
    try:
        permissions = set()
        for number, op in _protobuf_fields(identifier[1:]):
            if number != 3:
                continue
            entity, actions = "", []
            for op_number, value in _protobuf_fields(op):
                if op_number == 1:
                    entity = value.decode()
                elif op_number == 2:
                    actions.append(value.decode())
            permissions.update(f"{entity}:{action}" for action in actions)
        return frozenset(permissions)
    except (MacaroonFormatError, UnicodeDecodeError):
        return None
