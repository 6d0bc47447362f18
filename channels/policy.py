"""A channel's routing policy as a plain value, independent of the ORM and of LND's JSON.

Backups, decisions and the audit log store policies as the dict from `Policy.to_dict()`; reading one back
goes through `Policy.from_dict()`, which refuses anything incomplete or mistyped rather than guessing, because
LND treats a field left out of an update as a change, not as "unchanged".
"""

from dataclasses import MISSING, asdict, dataclass, fields

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class Policy:
    base_fee_msat: int
    fee_rate_ppm: int
    time_lock_delta: int
    min_htlc_msat: int
    max_htlc_msat: int
    inbound_base_fee_msat: int = 0
    inbound_fee_rate_ppm: int = 0
    disabled: bool = False

    def __post_init__(self) -> None:
        bounds = {
            "base_fee_msat": (0, UINT64_MAX),
            "fee_rate_ppm": (0, UINT32_MAX),
            "time_lock_delta": (0, UINT32_MAX),
            "min_htlc_msat": (0, UINT64_MAX),
            "max_htlc_msat": (0, UINT64_MAX),
            "inbound_base_fee_msat": (INT32_MIN, INT32_MAX),
            "inbound_fee_rate_ppm": (INT32_MIN, INT32_MAX),
        }
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"policy field {name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"policy field {name} must be between {low} and {high}, got {value}")
        if not isinstance(self.disabled, bool):
            raise ValueError(f"policy field disabled must be true or false, got {self.disabled!r}")

    @classmethod
    def from_dict(cls, data: dict) -> "Policy":
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
        return self.base_fee_msat + amount_msat * self.fee_rate_ppm // 1_000_000
