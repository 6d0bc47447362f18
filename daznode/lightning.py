"""Lightning value types: units, identifiers and a channel's routing policy, as plain Python.

No Django and no other app is imported here, so every layer (sources, channels, decisions) can share these
definitions without an arrow running back up. Every identifier is checked against the whole text
(`re.fullmatch`, or `\\A...\\Z`): `^...$` would let a trailing newline through, because `$` also matches
just before one.

A policy is stored (backups, decisions, the audit log) as the dict from `Policy.to_dict()`; reading one back
goes through `Policy.from_dict()`, which refuses anything incomplete or mistyped rather than guessing, because
LND treats a field left out of an update as a change, not as "unchanged".
"""

import re
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import timedelta
from typing import NamedTuple

# Units: LN amounts are in sat, msat (1/1000 sat) or ppm (parts per million of the amount forwarded).
MSAT_PER_SAT = 1000
PPM_PER_UNIT = 1_000_000

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

LND_MIN_TIME_LOCK_DELTA = 18  # LND refuses less (rpcserver.go, minTimeLockDelta)

# Daznode's default fee bounds, the one definition behind the engine, the validator and the DAZNODE_FEE_*
# settings. The minimum fee rate is 0, as LND accepts (fee_rate 0 and base fee 0 are valid policies): refusing
# to route for free is a separate rule, the validator's "zero_fee" one (DAZNODE_ALLOW_ZERO_FEE), so a single
# switch allows it instead of two settings that must agree.
DEFAULT_MIN_FEE_RATE_PPM = 0
DEFAULT_MAX_FEE_RATE_PPM = 2500
DEFAULT_MIN_BASE_FEE_MSAT = 0
DEFAULT_MAX_BASE_FEE_MSAT = 10_000
DEFAULT_MAX_STEP_PPM = 250
DEFAULT_MAX_STEP_PCT = 0.5
DEFAULT_MIN_CHANGE_PPM = 10  # a smaller change is not worth a gossiped update
DEFAULT_MAX_BASE_STEP_MSAT = 1000
DEFAULT_MAX_TIME_LOCK_DELTA = 2016  # two weeks of blocks
# The pace of changes, also the validator's defaults and the DAZNODE_FEE_COOLDOWN / DAZNODE_DAILY_CHANGE_BUDGET
# settings: each policy change is gossiped to the whole network, and peers rate-limit nodes that flap.
DEFAULT_FEE_COOLDOWN = timedelta(hours=24)  # lndg's default too
DEFAULT_DAILY_CHANGE_BUDGET = 50
DEFAULT_ALLOW_ZERO_FEE = False

PUBKEY_PATTERN = re.compile(r"\A0[23][0-9a-f]{64}\Z")
PUBKEY_MESSAGE = "A node public key is 66 lowercase hex characters (33 bytes)."
CHAN_POINT_PATTERN = re.compile(r"\A[0-9a-f]{64}:[0-9]{1,10}\Z")
CHAN_POINT_MESSAGE = "A channel point is funding_txid:output_index (64 lowercase hex, a colon, a number)."
# A short channel id is a uint64 on the wire, but the database column is a signed 64-bit integer.
LARGEST_CHAN_ID = 2**63 - 1
CHAN_ID_DIGITS = re.compile(r"\A[0-9]{1,19}\Z")
SCID_PARTS = re.compile(r"\A([0-9]{1,8})x([0-9]{1,8})x([0-9]{1,5})\Z")
SCID_BLOCK_BITS, SCID_TX_BITS, SCID_OUTPUT_BITS = 24, 24, 16
CHAN_ID_MESSAGE = (
    'a channel id is a string of digits, such as "820000000000000001", or block x transaction x output, '
    'such as "745800x1234x1"'
)


def is_pubkey(text: object) -> bool:
    return isinstance(text, str) and PUBKEY_PATTERN.fullmatch(text) is not None


def parse_pubkey(text: object) -> str:
    """A node public key, exactly: ValueError on anything else (upper case, spaces, a trailing newline)."""
    if not is_pubkey(text):
        raise ValueError(f"{PUBKEY_MESSAGE} Got {text!r:.80}")
    return text


def parse_chan_id(text: object) -> int:
    """A short channel id given as text (API, command line, settings): the integer LND shows, or the
    BLOCKxTXxOUT form other tools show. ValueError when it is neither, or not one the database can hold."""
    if isinstance(text, str):
        if CHAN_ID_DIGITS.fullmatch(text) and int(text) <= LARGEST_CHAN_ID:
            return int(text)
        parts = SCID_PARTS.fullmatch(text)
        if parts:
            chan_id = chan_id_from_parts(*(int(part) for part in parts.groups()))
            if chan_id is not None:
                return chan_id
    raise ValueError(f"{CHAN_ID_MESSAGE}, got {text!r:.80}")


def chan_id_from_parts(block: int, tx_index: int, output_index: int) -> int | None:
    """The integer short channel id of BLOCKxTXxOUT; None when a part overflows its bits or the result does
    not fit the database's signed column."""
    if block >= 2**SCID_BLOCK_BITS or tx_index >= 2**SCID_TX_BITS or output_index >= 2**SCID_OUTPUT_BITS:
        return None
    chan_id = block << (SCID_TX_BITS + SCID_OUTPUT_BITS) | tx_index << SCID_OUTPUT_BITS | output_index
    return chan_id if chan_id <= LARGEST_CHAN_ID else None


class ChanPoint(NamedTuple):
    funding_txid: str
    output_index: int

    def __str__(self) -> str:
        return f"{self.funding_txid}:{self.output_index}"


def parse_chan_point(text: object) -> ChanPoint:
    """funding_txid:output_index, exactly; ValueError otherwise (the output index is a uint32)."""
    if isinstance(text, str) and CHAN_POINT_PATTERN.fullmatch(text):
        txid, _, index = text.partition(":")
        if int(index) <= UINT32_MAX:
            return ChanPoint(txid, int(index))
    raise ValueError(f"{CHAN_POINT_MESSAGE} Got {text!r:.80}")


def local_ratio(*, capacity_sat: int, local_balance_sat: int, pending_outgoing_sat: int = 0) -> float:
    """Our share of a channel's capacity, counting the HTLCs we have in flight as still ours."""
    if capacity_sat == 0:
        return 0.0
    return min(1.0, (local_balance_sat + pending_outgoing_sat) / capacity_sat)


POLICY_FIELD_BOUNDS = {
    "base_fee_msat": (0, UINT64_MAX),
    "fee_rate_ppm": (0, UINT32_MAX),
    "time_lock_delta": (0, UINT32_MAX),
    "min_htlc_msat": (0, UINT64_MAX),
    "max_htlc_msat": (0, UINT64_MAX),
    "inbound_base_fee_msat": (INT32_MIN, INT32_MAX),
    "inbound_fee_rate_ppm": (INT32_MIN, INT32_MAX),
}


@dataclass(frozen=True)
class Policy:
    """A channel's routing policy, independent of the ORM and of LND's JSON."""

    base_fee_msat: int
    fee_rate_ppm: int
    time_lock_delta: int
    min_htlc_msat: int
    max_htlc_msat: int
    inbound_base_fee_msat: int = 0
    inbound_fee_rate_ppm: int = 0
    disabled: bool = False

    def __post_init__(self) -> None:
        for name, (low, high) in POLICY_FIELD_BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"policy field {name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"policy field {name} must be between {low} and {high}, got {value}")
        if not isinstance(self.disabled, bool):
            raise ValueError(f"policy field disabled must be true or false, got {self.disabled!r}")

    @classmethod
    def from_dict(cls, data: object) -> "Policy":  # object: it checks what a JSON field or a request holds
        if not isinstance(data, dict):
            raise ValueError(f"a policy must be an object, got {type(data).__name__}")
        names = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown policy field(s): {', '.join(unknown)}")
        missing = [field.name for field in fields(cls) if field.default is MISSING and field.name not in data]
        if missing:
            raise ValueError(f"policy field(s) missing: {', '.join(missing)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def terms(self) -> dict:
        """What a policy update sets. `disabled` is not among them: LND flips it when a peer goes offline."""
        terms = asdict(self)
        del terms["disabled"]
        return terms

    def same_terms(self, other: "Policy") -> bool:
        return self.terms() == other.terms()

    def fee_msat(self, amount_msat: int) -> int:
        """What a forward of amount_msat through this policy earns, rounded down as LND does."""
        return self.base_fee_msat + amount_msat * self.fee_rate_ppm // PPM_PER_UNIT
