"""What lndg's auto-fees and charge-lnd's `proportional` strategy would decide, restated as pure functions.

Restated from reading their code, not copied, and only as far as the comparison in test_comparison.py needs.
Read through the code index:

- cryptosharks131/lndg `gui/af.py`, the per-peer version (channels grouped by `remote_pubkey`, one outbound
  adjustment per peer, `compute_outbound_adjustment`), and the older per-channel versions of `af.py` and
  `gui/af.py`; `jobs.py` `auto_fees`, which updates only channels whose `fees_updated` is older than
  AF-UpdateHours and whose rounded adjustment is not 0, and logs each change (old and new value) in `Autofees`.
- accumulator/charge-lnd `charge_lnd/strategy.py` (`strategy_proportional`, `get_ratio` with `sum_peer_chans`),
  `charge_lnd/charge_lnd.py` (a fee rate changes only when it moves by at least `min_fee_ppm_delta`, which the
  proportional strategy sets to 10 when the section leaves it out), README.md, and
  `examples/all-channels-proportional.config` (min 100, max 300 ppm, the section used in the comparison).

Left out, because no scenario needs them: lndg's inbound-fee adjustment and its separate jobs (max HTLC, HTLC
boost), charge-lnd's matching criteria (one `[default]` section matches every channel) and its other strategies.
Neither tool keeps a base fee, time lock delta or HTLC limit decision here: only the fee rate.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Direction(StrEnum):
    RAISE = "raise"
    CUT = "cut"
    NONE = "none"
    RECOMMENDATION = "recommendation"  # Daznode only: close or rebalance, for an operator to act on


@dataclass(frozen=True)
class ToolOutcome:
    current_ppm: int
    new_ppm: int
    reason: str

    @property
    def direction(self) -> Direction:
        if self.new_ppm > self.current_ppm:
            return Direction.RAISE
        if self.new_ppm < self.current_ppm:
            return Direction.CUT
        return Direction.NONE


# lndg ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LndgSettings:
    """lndg's AF-* settings, with the defaults it saves on first run."""

    multiplier: int = 5  # AF-Multiplier
    increment_ppm: int = 5  # AF-Increment: new rates are rounded to this grid
    min_rate_ppm: int = 0  # AF-MinRate
    max_rate_ppm: int = 2500  # AF-MaxRate
    failed_htlcs: int = 25  # AF-FailedHTLCs: more than this in a day, on a drained peer, means raise
    update_hours: int = 24  # AF-UpdateHours
    low_liq_pct: int = 5  # AF-LowLiqLimit: outbound at or below this is "low liquidity"
    excess_pct: int = 95  # AF-ExcessLimit: outbound at or above this is "excess liquidity"


LNDG_DEFAULTS = LndgSettings()


@dataclass(frozen=True)
class LndgChannel:
    """One channel as lndg's auto-fees sees it. Routed amounts count forwards of at least 1,000 sat only."""

    capacity_sat: int
    local_sat: int  # including pending outbound HTLCs
    fee_rate_ppm: int
    hours_since_fee_update: float  # lndg's own `fees_updated`
    routed_out_7d_sat: int = 0
    routed_in_7d_sat: int = 0
    routed_in_1d_sat: int = 0
    failed_out_1d: int = 0  # HTLCs failed in the last day because the outbound was too small
    revenue_7d_sat: float = 0  # fees earned forwarding out through this channel
    revenue_assist_7d_sat: float = 0  # fees earned on forwards that came in through it


def lndg_auto_fee(
    channel: LndgChannel, *, siblings: Sequence[LndgChannel] = (), settings: LndgSettings = LNDG_DEFAULTS
) -> ToolOutcome:
    """The fee rate lndg's auto-fees sets on `channel` (an open, active, public channel with auto-fees on);
    `siblings`: the peer's other such channels, judged with it as one."""
    current = channel.fee_rate_ppm
    if channel.hours_since_fee_update <= settings.update_hours:
        hours, limit = channel.hours_since_fee_update, settings.update_hours
        return ToolOutcome(current, current, f"not eligible: fees updated {hours:g} h ago (AF-UpdateHours {limit})")
    adjustment_ppm, why = _lndg_peer_adjustment((channel, *siblings), settings)
    # round() halves to even, as pandas does; the current rate is snapped too, so an off-grid fee moves
    snapped = round((current + adjustment_ppm) / settings.increment_ppm) * settings.increment_ppm
    new_ppm = int(min(max(snapped, settings.min_rate_ppm), settings.max_rate_ppm))
    return ToolOutcome(current, new_ppm, f"{why}; {current} {adjustment_ppm:+g} ppm, on the grid and clipped")


@dataclass(frozen=True)
class _PeerTotals:
    out_pct: float
    net_routed: float  # 7-day (out - in) over capacity
    routed: bool  # anything in or out in 7 days
    failed_out_1d: int
    routed_in_1d_sat: int
    revenue_7d_sat: float
    revenue_assist_7d_sat: float


def _lndg_totals(channels: Sequence[LndgChannel]) -> _PeerTotals:
    capacity_sat = sum(c.capacity_sat for c in channels)
    routed_out_sat = sum(c.routed_out_7d_sat for c in channels)
    routed_in_sat = sum(c.routed_in_7d_sat for c in channels)
    return _PeerTotals(
        out_pct=100 * sum(c.local_sat for c in channels) / capacity_sat,
        net_routed=(routed_out_sat - routed_in_sat) / capacity_sat,
        routed=routed_out_sat + routed_in_sat > 0,
        failed_out_1d=sum(c.failed_out_1d for c in channels),
        routed_in_1d_sat=sum(c.routed_in_1d_sat for c in channels),
        revenue_7d_sat=sum(c.revenue_7d_sat for c in channels),
        revenue_assist_7d_sat=sum(c.revenue_assist_7d_sat for c in channels),
    )


def _lndg_peer_adjustment(channels: Sequence[LndgChannel], s: LndgSettings) -> tuple[float, str]:
    peer = _lndg_totals(channels)
    if peer.out_pct <= s.low_liq_pct:
        return _lndg_low_liquidity(peer, s)
    if peer.out_pct < s.excess_pct:
        return _lndg_balanced(peer, s)
    return _lndg_excess(peer, s)


def _lndg_low_liquidity(peer: _PeerTotals, s: LndgSettings) -> tuple[float, str]:
    band = f"low liquidity ({peer.out_pct:.0f}% outbound)"
    if peer.failed_out_1d > s.failed_htlcs and peer.routed_in_1d_sat == 0:
        return 5 * s.multiplier, f"{band}, {peer.failed_out_1d} failed HTLCs today and nothing in: raise"
    return 0, f"{band}, {peer.failed_out_1d} failed HTLCs today: no rule fires"


def _lndg_balanced(peer: _PeerTotals, s: LndgSettings) -> tuple[float, str]:
    band = f"balanced ({peer.out_pct:.0f}% outbound)"
    if not peer.routed:
        return -3 * s.multiplier, f"{band}, nothing routed in 7 days: cut"
    if peer.net_routed > 1:
        return 2 * s.multiplier * (1 + peer.net_routed), f"{band}, net outflow {peer.net_routed:.2f}x capacity: raise"
    return 0, f"{band}, net outflow {peer.net_routed:.2f}x capacity: no rule fires"


def _lndg_excess(peer: _PeerTotals, s: LndgSettings) -> tuple[float, str]:
    band = f"excess liquidity ({peer.out_pct:.0f}% outbound)"
    if not peer.routed:
        return -5 * s.multiplier, f"{band}, nothing routed in 7 days: cut"
    if peer.net_routed < 0 and peer.revenue_assist_7d_sat > peer.revenue_7d_sat * 10:
        return -5 * s.multiplier, f"{band}, it mostly brings in forwards that earn elsewhere: cut"
    return 0, f"{band}: no rule fires"


# charge-lnd ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProportionalSection:
    """A charge-lnd config section with `strategy = proportional`."""

    min_fee_ppm: int
    max_fee_ppm: int
    min_fee_ppm_delta: int = 10
    sum_peer_chans: bool = False


def charge_lnd_proportional(
    *,
    fee_rate_ppm: int,
    local_sat: int,
    remote_sat: int,
    section: ProportionalSection,
    peer_channels: Sequence[tuple[int, int]] = (),
) -> ToolOutcome:
    """The fee rate one charge-lnd run sets. Stateless: only balances and the section count, never the time
    since the last change. `peer_channels`: (local_sat, remote_sat) of the peer's other active channels."""
    balances = [(local_sat, remote_sat), *peer_channels] if section.sum_peer_chans else [(local_sat, remote_sat)]
    local_total = sum(local for local, _ in balances)
    ratio = local_total / sum(local + remote for local, remote in balances)
    computed_ppm = max(int(section.min_fee_ppm + (1.0 - ratio) * (section.max_fee_ppm - section.min_fee_ppm)), 0)
    delta_ppm = abs(computed_ppm - fee_rate_ppm)
    why = f"ratio {ratio:.2f} gives {computed_ppm} ppm"
    if 0 < delta_ppm < section.min_fee_ppm_delta:
        return ToolOutcome(fee_rate_ppm, fee_rate_ppm, f"{why}: skipped, {delta_ppm} < min_fee_ppm_delta")
    return ToolOutcome(fee_rate_ppm, computed_ppm, why)
