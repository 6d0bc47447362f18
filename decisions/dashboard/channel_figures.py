"""One channel's figures (/umbrel-ui/channels/<chan_id>): its score and how it was made, its fees against the
competition's, the peer's policy toward us, its recent days, and its policy history, backups and decisions.

Reads only, each bounded by a fixed number of rows. The peer's policy toward us comes from the graph snapshot the
latest score was computed on, read once per snapshot and cached; the competition's fees are the ones the
competitiveness heuristic stored with the score. The list of channels is decisions.dashboard.channel_list_figures.
"""

import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Sum
from django.db.models.functions import TruncDate

from channels.models import Channel, ChannelActivity, ChannelScore
from channels.scoring import HEURISTICS
from decisions.dashboard.channel_list_figures import RECENT_DAYS, recent_start
from decisions.dashboard.days import in_last_days
from decisions.dashboard.queue_selectors import (
    POLICY_FIELDS,
    PolicyRow,
    SubScore,
    heuristic_label,
    policy_rows,
    policy_value,
    status_badge,
)
from decisions.models import POLICY_CHANGING_ACTIONS, AuditEntry, Decision, PolicyBackup
from sources.graph import DIRECTION_FIELDS, CompactGraph
from sources.models import GraphSnapshot

DECISIONS_SHOWN = 20
HISTORY_SHOWN = 20
# Snapshots never change once stored: the cache's lifetime only bounds how long an old one's entry stays around.
PEER_POLICIES_CACHE_SECONDS = 24 * 3600
PEER_POLICIES_CACHE_KEY = "dashboard:peer-policies:v1:{snapshot_id}:{content_hash}"


def channel_by_chan_id(*, chan_id: int) -> Channel | None:
    return Channel.objects.select_related("peer").filter(chan_id=chan_id).first()


def channel_latest_score(*, channel: Channel) -> ChannelScore | None:
    return channel.scores.order_by("-computed_at", "-id").first()


def score_breakdown(*, score: ChannelScore) -> list[SubScore]:
    weights = score.weights if isinstance(score.weights, dict) else {}
    reasons = score.reasons if isinstance(score.reasons, dict) else {}
    return [
        SubScore(
            name=name,
            label=heuristic_label(name),
            value=value,
            weight=_number(weights.get(name)),
            reason=str(reasons.get(name, "")),
        )
        for name, value in score.sub_scores().items()
    ]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Competition:
    """Our fee rate against what the peer's other partners charge toward it (as scored), and the network's."""

    our_fee_rate_ppm: int
    competitor_rates_ppm: tuple[int, ...]
    network_median_ppm: float | None
    as_of: datetime | None

    @property
    def median_ppm(self) -> float | None:
        return statistics.median(self.competitor_rates_ppm) if self.competitor_rates_ppm else None

    @property
    def lowest_ppm(self) -> int | None:
        return min(self.competitor_rates_ppm, default=None)

    @property
    def highest_ppm(self) -> int | None:
        return max(self.competitor_rates_ppm, default=None)

    @property
    def cheaper_count(self) -> int:
        """How many competitors charge less than we do."""
        return sum(1 for rate in self.competitor_rates_ppm if rate < self.our_fee_rate_ppm)

    @property
    def versus_median(self) -> float | None:
        """Our rate over the median, minus one: 0.25 is 25 % dearer, -0.5 half the price."""
        median = self.median_ppm
        return None if not median else self.our_fee_rate_ppm / median - 1

    @property
    def versus_median_size(self) -> float | None:
        versus = self.versus_median
        return None if versus is None else abs(versus)


def channel_competition(*, channel: Channel, score: ChannelScore | None) -> Competition:
    fees = score.inputs.get("fees") if score is not None and isinstance(score.inputs, dict) else None
    fees = fees if isinstance(fees, dict) else {}
    rates = fees.get("peer_inbound_fee_rates_ppm")
    rates = rates if isinstance(rates, list) else []
    return Competition(
        our_fee_rate_ppm=channel.fee_rate_ppm,
        competitor_rates_ppm=tuple(
            sorted(rate for rate in rates if isinstance(rate, int) and not isinstance(rate, bool) and rate >= 0)
        ),
        network_median_ppm=_number(fees.get("network_median_fee_rate_ppm")),
        as_of=score.computed_at if score is not None else None,
    )


@dataclass(frozen=True)
class PeerPolicy:
    """The peer's side of the channel as the graph showed it: what it charges to forward toward us."""

    base_fee_msat: int | None
    fee_rate_ppm: int | None
    time_lock_delta: int | None
    disabled: bool | None
    as_of: datetime


def _known(value: int) -> int | None:
    return None if value < 0 else value  # -1: the direction has no policy in the graph


def _peer_policies(snapshot_id: int) -> dict:
    """The peer's (base, rate, time lock delta, disabled) for each of our channels in the snapshot, and which
    channels that covers (a channel opened since is read again). The compact form only: a snapshot without it is
    not worth parsing its whole document for one page."""
    peers = dict(Channel.objects.values_list("chan_id", "peer__pubkey"))
    found: dict[int, tuple[int, ...]] = {}
    result = {"covered": set(peers), "policies": found}
    compact = GraphSnapshot.objects.filter(id=snapshot_id).values_list("compact", flat=True).first()
    if not compact:
        return result
    try:
        graph = CompactGraph.from_bytes(bytes(compact))
    except ValueError:
        return result
    edges = graph.edges
    for j, chan_id in enumerate(edges["channel_id"]):
        peer = peers.get(chan_id)
        if peer is not None:
            side = "node1" if graph.pubkeys[edges["node1"][j]] == peer else "node2"
            found[chan_id] = tuple(edges[f"{side}_{name}"][j] for name in DIRECTION_FIELDS)
    return result


def peer_policy_toward_us(*, channel: Channel, score: ChannelScore | None) -> PeerPolicy | None:
    """From the snapshot the latest score was computed on (the one the competition figures come from), read
    once per snapshot for all our channels and cached."""
    if score is None or score.snapshot_id is None:
        return None
    snapshot = GraphSnapshot.objects.filter(id=score.snapshot_id).values("fetched_at", "content_hash").first()
    if snapshot is None:
        return None
    key = PEER_POLICIES_CACHE_KEY.format(snapshot_id=score.snapshot_id, content_hash=snapshot["content_hash"])
    cached = cache.get(key)
    if cached is None or channel.chan_id not in cached["covered"]:
        cached = _peer_policies(score.snapshot_id)
        cache.set(key, cached, PEER_POLICIES_CACHE_SECONDS)
    values = cached["policies"].get(channel.chan_id)
    if values is None:
        return None
    base, rate, delta, disabled = values
    return PeerPolicy(
        base_fee_msat=_known(base),
        fee_rate_ppm=_known(rate),
        time_lock_delta=_known(delta),
        disabled=None if disabled < 0 else bool(disabled),
        as_of=snapshot["fetched_at"],
    )


@dataclass(frozen=True)
class DayForwards:
    day: date
    forwards_in_count: int
    forwards_out_count: int
    failed_forwards_count: int
    amount_out_msat: int
    fees_earned_msat: int


DAY_FIELDS = ("forwards_in_count", "forwards_out_count", "failed_forwards_count", "amount_out_msat", "fees_earned_msat")


def channel_recent_days(*, channel: Channel, now: datetime) -> list[DayForwards]:
    """Today and the six days before (UTC), newest first, a day without forwards as zeros."""
    since = recent_start(now)
    sums = (
        ChannelActivity.objects.filter(in_last_days(now=now, days=RECENT_DAYS), channel=channel)
        .annotate(day=TruncDate("period_start", tzinfo=UTC))
        .values("day")
        .annotate(**{name: Sum(name) for name in DAY_FIELDS})
    )
    by_day: dict[date, Any] = {row["day"]: row for row in sums}
    days = [since.date() + timedelta(days=offset) for offset in range(RECENT_DAYS)]
    return [_day(day, by_day.get(day, {})) for day in reversed(days)]


def _day(day: date, sums: dict[str, Any]) -> DayForwards:
    return DayForwards(
        day=day,
        forwards_in_count=sums.get("forwards_in_count") or 0,
        forwards_out_count=sums.get("forwards_out_count") or 0,
        failed_forwards_count=sums.get("failed_forwards_count") or 0,
        amount_out_msat=sums.get("amount_out_msat") or 0,
        fees_earned_msat=sums.get("fees_earned_msat") or 0,
    )


def policy_changes(before: object, after: object) -> list[PolicyRow]:
    """The fields two stored policies (dicts) differ in, formatted; all that `after` sets when `before` is unknown."""
    return policy_rows(_as_dict(before), _as_dict(after), only_changed=True)


def _as_dict(policy: object) -> dict:
    return policy if isinstance(policy, dict) else {}


@dataclass(frozen=True)
class PolicyEvent:
    entry: AuditEntry
    changes: list[PolicyRow]


def channel_policy_events(*, channel: Channel, limit: int = HISTORY_SHOWN) -> tuple[list[PolicyEvent], bool]:
    """The audit rows after which the node held a new policy, newest first, and whether there are more."""
    entries = list(
        AuditEntry.objects.filter(channel=channel, action__in=POLICY_CHANGING_ACTIONS).order_by("-at", "-id")[
            : limit + 1
        ]
    )
    events = [PolicyEvent(entry, policy_changes(entry.before, entry.after)) for entry in entries[:limit]]
    return events, len(entries) > limit


def policy_fields(policy: object) -> list[tuple[str, str]]:
    """A stored policy (dict) as (label, value) pairs, formatted."""
    stored = _as_dict(policy)
    return [(label, policy_value(name, stored.get(name))) for name, label in POLICY_FIELDS]


@dataclass(frozen=True)
class Backup:
    backup: PolicyBackup
    fields: list[tuple[str, str]]


def channel_backups(*, channel: Channel, limit: int = HISTORY_SHOWN) -> tuple[list[Backup], bool]:
    """The policies saved before Daznode changed the channel, newest first, and whether there are more."""
    backups = list(PolicyBackup.objects.filter(channel=channel).order_by("-taken_at", "-id")[: limit + 1])
    return [Backup(backup, policy_fields(backup.policy)) for backup in backups[:limit]], len(backups) > limit


@dataclass(frozen=True)
class DecisionView:
    decision: Decision
    changes: list[PolicyRow]
    sub_scores: list[tuple[str, float]]
    rejections: list[str]

    @property
    def badge(self) -> str:
        return status_badge(self.decision.status)


def _decision_view(decision: Decision) -> DecisionView:
    stored = decision.sub_scores if isinstance(decision.sub_scores, dict) else {}
    sub_scores = [
        (heuristic_label(name), value) for name in HEURISTICS if (value := _number(stored.get(name))) is not None
    ]
    rejections = decision.rejections if isinstance(decision.rejections, list) else []
    return DecisionView(
        decision=decision,
        changes=policy_changes(decision.current_policy, decision.proposed_policy) if decision.proposed_policy else [],
        sub_scores=sub_scores,
        rejections=[str(item.get("message", item)) if isinstance(item, dict) else str(item) for item in rejections],
    )


def channel_decisions(*, channel: Channel, limit: int = DECISIONS_SHOWN) -> tuple[list[DecisionView], bool]:
    """The channel's decisions, newest first, and whether there are more than `limit`."""
    decisions = list(Decision.objects.filter(channel=channel).order_by("-created_at", "-id")[: limit + 1])
    return [_decision_view(decision) for decision in decisions[:limit]], len(decisions) > limit


def days_total(days: list[DayForwards]) -> DayForwards | None:
    """The days summed (dated the oldest day), for the table's total line."""
    if not days:
        return None
    return DayForwards(
        day=min(day.day for day in days), **{name: sum(getattr(day, name) for day in days) for name in DAY_FIELDS}
    )
