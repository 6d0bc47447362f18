"""The kinds of channel a fee manager meets, and how each one looks on a node.

A node's first fee cycle should have something to say: a channel that drains because it is cheaper than its
peer's other partners, one full and idle for weeks, one empty and still in demand, a peer that went dark, an
earner best left alone. Each Role's Profile says what such a channel looks like: how much of it is ours, how
it routes and since when, how it is priced against the channels competing to reach the same peer, and how
reliable its peer is. The simulated node gives one channel to each role (assign_roles) and leaves the rest
ordinary; `seed_demo` builds its static channels from the same profiles.
"""

import hashlib
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from daznode.lightning import DEFAULT_MAX_FEE_RATE_PPM, DEFAULT_MAX_STEP_PPM


class Role(StrEnum):
    EARNER = "earner"  # about half ours, busy both ways, priced like its competition
    DRAINING = "draining"  # cheaper than its competition: payments pour out, little is left on our side
    DRAINED = "drained"  # nearly empty and still asked for outbound liquidity
    IDLE_FULL = "idle_full"  # filled by inflows weeks ago, then priced out: nothing since
    OVERPRICED = "overpriced"  # far dearer than the network and every competitor: a trickle of forwards
    ABANDONED = "abandoned"  # opened by us, never used, to a peer that is mostly offline
    DEAD = "dead"  # the peer has been offline for weeks: the channel is inactive
    ORDINARY = "ordinary"  # whatever chance gives


class PeerFit(StrEnum):
    """Which peers suit a role: a channel's score, hence what Daznode proposes, depends on its peer's place."""

    QUIET = "quiet"  # the least connected peers: a weak channel there scores low enough for a change
    BUSY = "busy"  # the best connected: an earner there is plainly healthy
    ANY = "any"


@dataclass(frozen=True)
class Profile:
    local_ratio: tuple[float, float] | None  # our share of what the channel holds; None: the ordinary mix
    forwards_out_per_day: float
    out_turnover: float  # what goes out a day, as a share of the capacity
    in_weight: float  # how often payments enter through it, against the other channels
    quiet_days: int = 0  # the most recent days without any forward through it
    fee_factor: tuple[float, float] | None = None  # its fee rate against its competition's; None: as gossiped
    dear: bool = False  # priced well above the network and every competitor
    uptime_share: tuple[float, float] = (1.0, 1.0)  # of the time we watched, how long the peer was online
    flap_count: int | None = None  # disconnections LND counted; None: the usual few
    active: bool = True
    opened_by_us: bool | None = None  # None: either
    ever_used: bool = True  # False: not a satoshi moved since it was opened
    opened_days_ago: tuple[int, int] | None = None  # None: when the graph says
    peer: PeerFit = PeerFit.ANY

    @property
    def routes(self) -> bool:
        return self.forwards_out_per_day > 0 or self.in_weight > 0


PROFILES = {
    Role.EARNER: Profile(
        local_ratio=(0.42, 0.58),
        forwards_out_per_day=12,
        out_turnover=0.035,
        in_weight=3.0,
        fee_factor=(0.9, 1.1),
        peer=PeerFit.BUSY,
    ),
    Role.DRAINING: Profile(
        local_ratio=(0.07, 0.13),
        forwards_out_per_day=6,
        out_turnover=0.01,
        in_weight=0.0,
        fee_factor=(0.25, 0.4),
        peer=PeerFit.QUIET,
    ),
    Role.DRAINED: Profile(
        local_ratio=(0.005, 0.03), forwards_out_per_day=8, out_turnover=0.03, in_weight=0.0, fee_factor=(0.5, 0.8)
    ),
    Role.IDLE_FULL: Profile(
        local_ratio=(0.87, 0.94),
        forwards_out_per_day=0,
        out_turnover=0.0,
        in_weight=2.0,
        quiet_days=15,
        dear=True,
    ),
    Role.OVERPRICED: Profile(
        local_ratio=(0.6, 0.75),
        forwards_out_per_day=0.3,
        out_turnover=0.002,
        in_weight=0.0,
        dear=True,
        peer=PeerFit.QUIET,
    ),
    Role.ABANDONED: Profile(
        local_ratio=(1.0, 1.0),
        forwards_out_per_day=0,
        out_turnover=0.0,
        in_weight=0.0,
        dear=True,
        uptime_share=(0.1, 0.2),
        flap_count=30,
        opened_by_us=True,
        ever_used=False,
        opened_days_ago=(35, 50),  # long enough to judge it (Daznode waits 30 days), recent enough to regret
        peer=PeerFit.QUIET,
    ),
    Role.DEAD: Profile(
        local_ratio=(0.2, 0.8),
        forwards_out_per_day=0,
        out_turnover=0.0,
        in_weight=0.0,
        uptime_share=(0.1, 0.4),
        active=False,
    ),
}

# One channel each, in this order, as far as the node has channels to peers it has no other channel with (a
# peer's channels are judged together, which would blur the picture); a larger node gets a second drain and a
# second earner. The rest are ordinary.
ROLE_ORDER = (
    Role.DRAINING,
    Role.IDLE_FULL,
    Role.DRAINED,
    Role.EARNER,
    Role.DEAD,
    Role.OVERPRICED,
    Role.ABANDONED,
    Role.DRAINING,
    Role.EARNER,
)

# Who chooses its peer first: the weakest peers go to the roles whose proposal needs the lowest score.
PICK_ORDER = (Role.DRAINING, Role.ABANDONED, Role.OVERPRICED, Role.EARNER, Role.IDLE_FULL, Role.DRAINED, Role.DEAD)
ROLE_MIN_CAPACITY_SAT = 500_000

# Dear: several times the network's median (Daznode's competitiveness is nil from 4 times on) and well above the
# dearest competitor, yet at most 1000 ppm, the ceiling many operators keep: a quarter of it is Daznode's largest
# step (DEFAULT_MAX_STEP_PPM), so a cut or a raise of it is one plain step.
DEAR_NETWORK_MULTIPLE = 5
DEAR_COMPETITOR_MULTIPLE = 1.5
DEAREST_FEE_RATE_PPM = 4 * DEFAULT_MAX_STEP_PPM

ALIAS_WORDS = (
    "acorn", "basalt", "cobalt", "dune", "elm", "fjord", "glacier", "heron", "indigo", "jade", "kelp", "lynx",
    "meadow", "nimbus", "orchid", "pebble", "quill", "ridge", "spruce", "thistle", "upland", "vale", "wren",
)  # fmt: skip
ALIAS_SUFFIXES = ("node", "ln", "lightning", "routing", "sats", "relay", "hub", "pay")


def assign_roles(candidates: Sequence[tuple[str, int, int]]) -> dict[str, Role]:
    """Roles for channels given as (chan_id, capacity in sat, degree of their peer in the graph); the others stay
    ordinary.

    The roles a node has room for are those first in ROLE_ORDER. Then the roles that need a weakly connected peer
    take the least connected ones (the drains first: their raise needs it most), earners the best connected, the
    others one from the middle: deterministic, so a seed always gives the same node. A role that routes avoids
    tiny channels while there are others: a single forward would swamp them.
    """
    free = sorted(candidates, key=lambda candidate: (candidate[2], candidate[0]))
    wanted = sorted(ROLE_ORDER[: len(free)], key=PICK_ORDER.index)
    roles: dict[str, Role] = {}
    for role in wanted:
        profile = PROFILES[role]
        sized = [candidate for candidate in free if candidate[1] >= ROLE_MIN_CAPACITY_SAT]
        pool = sized if profile.routes and sized else free
        index = 0 if profile.peer == PeerFit.QUIET else -1 if profile.peer == PeerFit.BUSY else len(pool) // 2
        chosen = pool[index]
        free.remove(chosen)
        roles[chosen[0]] = role
    return roles


def fee_rate_ppm(
    role: Role, rng: random.Random, *, current_ppm: int, competitors_ppm: Sequence[int], network_median_ppm: float
) -> int:
    """What we charge on a channel of this role. `competitors_ppm`: what the peer's other partners charge to route
    into it; a peer with none competes with the network's median."""
    profile = PROFILES.get(role)
    if profile is None or (profile.fee_factor is None and not profile.dear):
        # Our operator stays within Daznode's default bounds: a first cycle is about the channels, not the bounds.
        return min(current_ppm, DEFAULT_MAX_FEE_RATE_PPM)
    if profile.dear:
        target = max(
            DEAR_NETWORK_MULTIPLE * network_median_ppm, DEAR_COMPETITOR_MULTIPLE * max(competitors_ppm, default=0)
        )
    else:
        reference = statistics.median(competitors_ppm) if competitors_ppm else network_median_ppm
        low, high = profile.fee_factor or (1.0, 1.0)
        target = reference * rng.uniform(low, high)
    return int(min(DEAREST_FEE_RATE_PPM, max(1, round(target))))


def readable_alias(pubkey: str) -> str:
    """A name for a node that announces none, derived from its key so that it never changes."""
    digest = hashlib.sha256(pubkey.encode()).digest()
    word, suffix = ALIAS_WORDS[digest[0] % len(ALIAS_WORDS)], ALIAS_SUFFIXES[digest[1] % len(ALIAS_SUFFIXES)]
    return f"{word}-{suffix}-{pubkey[2:6]}"
