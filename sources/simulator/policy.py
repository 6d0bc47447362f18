"""LND's rules for UpdateChannelPolicy (rpcserver.go and routing/localchans), and the error LND answers with.

Checks on the request as a whole fail the call (an rpcStatus); checks on one channel's HTLC limits only list
that channel in failed_updates, as LND does.
"""

from dataclasses import dataclass

from sources.simulator.ledger import MIN_HTLC_PARAMETER_MSAT, OurChannel, max_pending_amount_msat

GRPC_UNKNOWN, GRPC_INVALID_ARGUMENT, GRPC_NOT_FOUND = 2, 3, 5
MIN_TIME_LOCK_DELTA, MAX_TIME_LOCK_DELTA = 18, 65_535
UPDATE_NOT_FOUND, UPDATE_INVALID_PARAMETER = "UPDATE_FAILURE_NOT_FOUND", "UPDATE_FAILURE_INVALID_PARAMETER"


class RpcError(Exception):
    """An error LND answers with: a gRPC code and its message (the REST proxy maps the code to HTTP)."""

    def __init__(self, code: int, message: str):
        self.code, self.message = code, message
        super().__init__(message)


@dataclass(frozen=True)
class PolicyUpdate:
    """A parsed PolicyUpdateRequest. chan_point None means global; max_htlc_msat 0 and None mean unchanged."""

    chan_point: str | None
    base_fee_msat: int
    fee_rate_ppm: int
    time_lock_delta: int
    max_htlc_msat: int = 0
    min_htlc_msat: int | None = None
    inbound_fee: tuple[int, int] | None = None  # (base msat, rate ppm)


def validate_policy_update(update: PolicyUpdate) -> None:
    """What LND's UpdateChannelPolicy refuses before touching any channel."""
    if update.time_lock_delta < MIN_TIME_LOCK_DELTA:
        raise RpcError(
            GRPC_UNKNOWN,
            f"time lock delta of {update.time_lock_delta} is too small, minimum supported is {MIN_TIME_LOCK_DELTA}",
        )
    if update.time_lock_delta > MAX_TIME_LOCK_DELTA:
        raise RpcError(
            GRPC_UNKNOWN,
            f"time lock delta of {update.time_lock_delta} is too big, maximum supported is {MAX_TIME_LOCK_DELTA}",
        )
    if update.base_fee_msat < 0:  # LND would cast it to a huge unsigned fee: refuse rather than simulate that
        raise RpcError(GRPC_INVALID_ARGUMENT, "base_fee_msat must not be negative")
    # LND refuses positive inbound fees unless started with accept-positive-inbound-fees.
    if update.inbound_fee is not None and update.inbound_fee[0] > 0:
        raise RpcError(
            GRPC_UNKNOWN, f"positive values for inbound base fee msat are not supported: {update.inbound_fee[0]}"
        )
    if update.inbound_fee is not None and update.inbound_fee[1] > 0:
        raise RpcError(
            GRPC_UNKNOWN, f"positive values for inbound fee rate ppm are not supported: {update.inbound_fee[1]}"
        )


def htlc_limits(channel: OurChannel, policy: dict, update: PolicyUpdate) -> tuple[int, int]:
    """(min, max) HTLC msat after the update, as LND's localchans computes them.

    An unset max keeps the current one, except that LND lowers a max above the channel's max in-flight amount.
    """
    min_htlc_msat = int(policy["min_htlc"]) if update.min_htlc_msat is None else update.min_htlc_msat
    max_htlc_msat = update.max_htlc_msat or min(int(policy["max_htlc_msat"]), max_pending_amount_msat(channel))
    return min_htlc_msat, max_htlc_msat


def policy_refusal(
    channel: OurChannel, policy: dict, update: PolicyUpdate, refused: dict[str, str]
) -> tuple[str, str] | None:
    """Why this one channel's update fails: an injected failure, or LND's HTLC limit checks (localchans)."""
    if channel.chan_point in refused:
        return refused[channel.chan_point], "simulated failure"
    min_htlc_msat, max_htlc_msat = htlc_limits(channel, policy, update)
    max_pending_msat = max_pending_amount_msat(channel)
    if min_htlc_msat < MIN_HTLC_PARAMETER_MSAT:
        return UPDATE_INVALID_PARAMETER, (
            f"min htlc amount of {min_htlc_msat} mSAT is below min htlc parameter of {MIN_HTLC_PARAMETER_MSAT} mSAT"
        )
    if max_htlc_msat > max_pending_msat:
        return UPDATE_INVALID_PARAMETER, (
            f"max htlc size of {max_htlc_msat} mSAT is above max pending amount of {max_pending_msat} mSAT"
        )
    if min_htlc_msat > max_htlc_msat:
        return UPDATE_INVALID_PARAMETER, f"min_htlc {min_htlc_msat} mSAT greater than max_htlc {max_htlc_msat} mSAT"
    return None
