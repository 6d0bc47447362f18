"""The same channels through lndg's auto-fees, charge-lnd's `proportional` strategy and Daznode.

Each scenario states what each tool decides; together they are the table in the README ("How Daznode compares
with lndg and charge-lnd"), so a change in the engine's or the validator's behaviour fails here before the
README goes stale. The other tools are restated in reference_tools.py. Daznode runs as a fee cycle would:
`decide` with the default thresholds and default `Limits()`, then `validate`. Scores are set by hand, as the
eight heuristics would plausibly give them for each situation.
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from daznode.lightning import Policy
from decisions.engine import RECOMMENDATIONS, ChannelFacts, Kind, Proposal, Rule, decide
from decisions.validator import Candidate, Limits, Rejection, validate
from tests.decisions.reference_tools import (
    Direction,
    LndgChannel,
    ProportionalSection,
    ToolOutcome,
    charge_lnd_proportional,
    lndg_auto_fee,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CAPACITY_SAT = 2_000_000
PEER = "02" + "ab" * 32
LIMITS = Limits()
POLICY = Policy(base_fee_msat=1000, fee_rate_ppm=200, time_lock_delta=80, min_htlc_msat=1000, max_htlc_msat=990_000_000)
# charge-lnd's own example section (examples/all-channels-proportional.config), with the peer's channels summed
CHARGE_LND = ProportionalSection(min_fee_ppm=100, max_fee_ppm=300, min_fee_ppm_delta=10, sum_peer_chans=True)
RAISE, CUT, NONE, RECOMMEND = Direction.RAISE, Direction.CUT, Direction.NONE, Direction.RECOMMENDATION


@dataclass(frozen=True)
class Tool:
    direction: Direction
    fee_rate_ppm: int  # after the run


@dataclass(frozen=True)
class Daznode:
    direction: Direction  # after validation: a refused fee change is NONE
    rule: Rule
    proposed_ppm: int | None = None  # what the engine proposed, whether or not the limits let it through
    blocked_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sibling:
    """Another channel to the same peer."""

    local_pct: float
    routed_out_7d_sat: int = 0
    routed_in_7d_sat: int = 0


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    fee_rate_ppm: int = 200
    local_pct: float  # our share of the capacity, pending HTLCs included
    score: float
    forwards_out: int = 0  # in the last 7 days
    forwards_in: int = 0
    routed_out_7d_sat: int = 0
    routed_in_7d_sat: int = 0
    routed_in_1d_sat: int = 0
    failed_out_1d: int = 0  # HTLCs that failed for lack of outbound, last day
    hours_since_change: float = 72
    days_without_forward: float | None = 1
    peer_score: float | None = None
    siblings: tuple[Sibling, ...] = ()
    lndg: Tool
    charge_lnd: Tool
    daznode: Daznode


DRAINING = {
    "local_pct": 0.10,
    "score": 0.40,
    "forwards_out": 40,
    "forwards_in": 2,
    "routed_out_7d_sat": 3_000_000,
    "routed_in_7d_sat": 200_000,
    "failed_out_1d": 30,
}

SCENARIOS = [
    Scenario(
        name="drained channel routing out fast",
        **DRAINING,
        lndg=Tool(RAISE, 225),
        charge_lnd=Tool(RAISE, 280),
        daznode=Daznode(RAISE, Rule.DRAINED_RAISE, 230),
    ),
    Scenario(
        name="idle full channel",
        local_pct=0.90,
        score=0.20,
        days_without_forward=10,
        lndg=Tool(CUT, 185),
        charge_lnd=Tool(CUT, 120),
        daznode=Daznode(CUT, Rule.IDLE_FULL_CUT, 166),
    ),
    Scenario(
        name="balanced channel earning well",
        local_pct=0.50,
        score=0.82,
        forwards_out=30,
        forwards_in=28,
        routed_out_7d_sat=1_000_000,
        routed_in_7d_sat=900_000,
        routed_in_1d_sat=150_000,
        lndg=Tool(NONE, 200),
        charge_lnd=Tool(NONE, 200),
        daznode=Daznode(NONE, Rule.HEALTHY),
    ),
    Scenario(
        name="channel changed 3 hours ago",
        **DRAINING,
        hours_since_change=3,
        lndg=Tool(NONE, 200),
        charge_lnd=Tool(RAISE, 280),
        daznode=Daznode(NONE, Rule.DRAINED_RAISE, 230, blocked_by=("cooldown",)),
    ),
    Scenario(
        name="poor channel, idle 45 days",
        local_pct=0.60,
        score=0.05,
        days_without_forward=45,
        lndg=Tool(CUT, 185),
        charge_lnd=Tool(CUT, 180),
        daznode=Daznode(RECOMMEND, Rule.CLOSE),
    ),
    Scenario(
        name="healthy channel stuck at 2% outbound that routes",
        local_pct=0.02,
        score=0.75,
        forwards_out=25,
        forwards_in=10,
        routed_out_7d_sat=1_500_000,
        routed_in_7d_sat=500_000,
        failed_out_1d=40,
        lndg=Tool(RAISE, 225),
        charge_lnd=Tool(RAISE, 296),
        daznode=Daznode(RECOMMEND, Rule.REBALANCE_DRAINED),
    ),
    Scenario(
        name="peer with several channels, one draining",
        local_pct=0.10,
        score=0.35,
        forwards_out=30,
        routed_out_7d_sat=2_400_000,
        peer_score=0.72,
        siblings=(Sibling(0.80, routed_in_7d_sat=300_000), Sibling(0.80)),
        lndg=Tool(NONE, 200),
        charge_lnd=Tool(CUT, 186),
        daznode=Daznode(NONE, Rule.HEALTHY),
    ),
    Scenario(
        name="tiny fee 2 ppm, idle and full",
        fee_rate_ppm=2,
        local_pct=0.96,
        score=0.25,
        days_without_forward=12,
        lndg=Tool(CUT, 0),
        charge_lnd=Tool(RAISE, 108),
        daznode=Daznode(NONE, Rule.AT_BOUND),
    ),
    Scenario(
        name="tiny fee 2 ppm, draining",
        **DRAINING,
        fee_rate_ppm=2,
        lndg=Tool(RAISE, 25),
        charge_lnd=Tool(RAISE, 280),
        daznode=Daznode(RAISE, Rule.DRAINED_RAISE, 12),
    ),
    Scenario(
        name="change of 4 ppm",
        local_pct=0.48,
        score=0.55,
        forwards_out=8,
        forwards_in=5,
        routed_out_7d_sat=400_000,
        routed_in_7d_sat=200_000,
        routed_in_1d_sat=50_000,
        lndg=Tool(NONE, 200),
        charge_lnd=Tool(NONE, 200),
        daznode=Daznode(NONE, Rule.HOLD),
    ),
    Scenario(
        name="fee already at the maximum",
        **DRAINING,
        fee_rate_ppm=2500,
        lndg=Tool(NONE, 2500),
        charge_lnd=Tool(CUT, 280),
        daznode=Daznode(NONE, Rule.AT_BOUND),
    ),
    Scenario(
        name="fee 4 ppm under the maximum",
        **DRAINING,
        fee_rate_ppm=2496,
        lndg=Tool(RAISE, 2500),
        charge_lnd=Tool(CUT, 280),
        daznode=Daznode(NONE, Rule.AT_BOUND),
    ),
]
IDS = [scenario.name for scenario in SCENARIOS]


def _local_sat(local_pct: float) -> int:
    return round(CAPACITY_SAT * local_pct)


def run_lndg(s: Scenario) -> ToolOutcome:
    channel = LndgChannel(
        capacity_sat=CAPACITY_SAT,
        local_sat=_local_sat(s.local_pct),
        fee_rate_ppm=s.fee_rate_ppm,
        hours_since_fee_update=s.hours_since_change,
        routed_out_7d_sat=s.routed_out_7d_sat,
        routed_in_7d_sat=s.routed_in_7d_sat,
        routed_in_1d_sat=s.routed_in_1d_sat,
        failed_out_1d=s.failed_out_1d,
    )
    siblings = [
        replace(
            channel,
            local_sat=_local_sat(sibling.local_pct),
            routed_out_7d_sat=sibling.routed_out_7d_sat,
            routed_in_7d_sat=sibling.routed_in_7d_sat,
            routed_in_1d_sat=0,
            failed_out_1d=0,
        )
        for sibling in s.siblings
    ]
    return lndg_auto_fee(channel, siblings=siblings)


def run_charge_lnd(s: Scenario, section: ProportionalSection = CHARGE_LND) -> ToolOutcome:
    def balances(local_pct: float) -> tuple[int, int]:
        return _local_sat(local_pct), CAPACITY_SAT - _local_sat(local_pct)

    local_sat, remote_sat = balances(s.local_pct)
    return charge_lnd_proportional(
        fee_rate_ppm=s.fee_rate_ppm,
        local_sat=local_sat,
        remote_sat=remote_sat,
        section=section,
        peer_channels=[balances(sibling.local_pct) for sibling in s.siblings],
    )


def run_daznode(s: Scenario) -> tuple[Proposal, list[Rejection]]:
    facts = ChannelFacts(
        chan_id=812345678901234567,
        peer="ACINQ",
        score=s.score,
        sub_scores={"liquidity": s.score, "activity": s.score},
        local_ratio=s.local_pct,
        forwards_out=s.forwards_out,
        forwards_in=s.forwards_in,
        window_days=7,
        policy=replace(POLICY, fee_rate_ppm=s.fee_rate_ppm),
        peer_score=s.peer_score,
        peer_channels=1 + len(s.siblings),
        days_without_forward=s.days_without_forward,
        age_days=200,
        bounds=LIMITS.fee_bounds(LIMITS.bounds_for()),
    )
    proposal = decide(facts)
    candidate = Candidate(
        chan_id=facts.chan_id,
        peer_pubkey=PEER,
        kind=proposal.kind,
        current=proposal.current,
        proposed=proposal.proposed,
        bounds=LIMITS.bounds_for(),
        capacity_sat=CAPACITY_SAT,
        last_change_at=NOW - timedelta(hours=s.hours_since_change),
    )
    return proposal, validate(candidate, LIMITS, now=NOW)


def daznode_verdict(proposal: Proposal, rejections: list[Rejection]) -> Daznode:
    if proposal.kind in RECOMMENDATIONS:
        direction = RECOMMEND
    elif rejections or proposal.kind == Kind.NO_ACTION:
        direction = NONE
    else:
        direction = RAISE if proposal.kind == Kind.INCREASE_FEES else CUT
    proposed_ppm = proposal.proposed.fee_rate_ppm if proposal.proposed else None
    return Daznode(direction, proposal.rule, proposed_ppm, tuple(r.rule for r in rejections))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_lndg_decides_as_the_readme_table_says(scenario):
    outcome = run_lndg(scenario)
    assert Tool(outcome.direction, outcome.new_ppm) == scenario.lndg, outcome.reason


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_charge_lnd_decides_as_the_readme_table_says(scenario):
    outcome = run_charge_lnd(scenario)
    assert Tool(outcome.direction, outcome.new_ppm) == scenario.charge_lnd, outcome.reason


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_daznode_decides_as_the_readme_table_says(scenario):
    proposal, rejections = run_daznode(scenario)
    assert daznode_verdict(proposal, rejections) == scenario.daznode, proposal.reasons


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_it_explains_every_daznode_decision_including_a_refusal(scenario):
    proposal, rejections = run_daznode(scenario)
    assert proposal.reasons[0].startswith("Channel 812345678901234567")
    assert len(proposal.reasons) >= 2
    assert all(rejection.message for rejection in rejections)


def test_it_takes_the_peer_not_the_channel_in_lndg_and_in_charge_lnd_with_sum_peer_chans():
    """Alone, the draining channel of "peer with several channels" would get a raise from both."""
    scenario = next(s for s in SCENARIOS if s.siblings)
    alone = run_lndg(replace(scenario, siblings=()))
    assert (alone.direction, alone.new_ppm) == (RAISE, 220)
    assert run_charge_lnd(scenario, replace(CHARGE_LND, sum_peer_chans=False)).new_ppm == 280


def test_it_moves_an_off_grid_fee_in_lndg_even_when_no_rule_fires():
    balanced = next(s for s in SCENARIOS if s.name == "balanced channel earning well")
    outcome = run_lndg(replace(balanced, fee_rate_ppm=203))
    assert outcome.new_ppm == 205


@pytest.mark.parametrize(("local_pct", "new_ppm"), [(0.45, 210), (0.455, 200)])
def test_it_skips_changes_under_min_fee_ppm_delta_in_charge_lnd(local_pct, new_ppm):
    """A computed change of exactly 10 ppm goes through; 9 does not."""
    balanced = next(s for s in SCENARIOS if s.name == "balanced channel earning well")
    assert run_charge_lnd(replace(balanced, local_pct=local_pct)).new_ppm == new_ppm
