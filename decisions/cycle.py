"""The fee cycle: sync our node, score, decide, validate, and act as the mode says.

    shadow   decisions are recorded, nothing else
    dry_run  they are validated too, and each fee change shows the exact policy it would send (the default)
    live     validated fee changes are applied at once; recommendations wait for an operator

A cycle's mode is DAZNODE_DECISION_MODE unless it is given one (`fee_cycle --mode live`, the task's `mode`): an
explicit choice, so a live cycle applies even while the setting says dry run, and its audit rows say so ("applied
live anyway in dry run mode"). A shadow or dry-run cycle never writes. With the kill switch engaged a live cycle
runs as a dry run. When the sync fails the cycle stops: deciding on stale balances is how a fee manager goes
wrong. Before anything, interrupted policy writes are settled (decisions.recovery), so that the cycle decides from
what the node really holds; a channel whose write is still unsettled is left alone (the executor refuses it); and
whatever happens, the cycle gets its finish time.
"""

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from channels.services import NothingToScore, channels_score
from decisions.conf import node_writes_live
from decisions.executor import decisions_apply, kill_switch_engaged
from decisions.models import Decision, FeeCycle
from decisions.recovery import recover_policy_writes
from decisions.services import NothingToDecide, decisions_store, judge_channels
from decisions.sync import node_sync
from sources.clients.errors import SourceError

logger = logging.getLogger(__name__)


@dataclass
class CycleReport:
    cycle: FeeCycle
    mode: str
    decisions: list[Decision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""


def fee_cycle(
    *,
    mode: str | None = None,
    actor: str = "system",
    trigger: str = FeeCycle.Trigger.BEAT,
    sync: bool = True,
    now: datetime | None = None,
) -> CycleReport:
    now = now or timezone.now()
    mode = mode or settings.DAZNODE_DECISION_MODE
    if mode not in Decision.Mode.values:
        raise ValueError(f"mode must be one of {', '.join(Decision.Mode.values)}")
    recovered = recover_policy_writes()
    report = CycleReport(
        cycle=FeeCycle.objects.create(mode=mode, trigger=trigger, actor=actor, started_at=now), mode=mode
    )
    if recovered.unknown:
        report.notes.append(f"interrupted policy writes not settled yet ({recovered.unknown}): {recovered.error}")
    if mode == Decision.Mode.LIVE and kill_switch_engaged():
        report.mode = Decision.Mode.DRY_RUN
        report.notes.append("the kill switch is engaged: this live cycle ran as a dry run")
    elif mode == Decision.Mode.LIVE and not node_writes_live():
        report.notes.append(
            f"DAZNODE_DECISION_MODE is {settings.DAZNODE_DECISION_MODE}: this live cycle applies its changes live "
            "anyway, and its audit rows say so"
        )
    try:
        _run(report, actor=actor, sync=sync, now=now)
    except (SourceError, NothingToScore, NothingToDecide) as exc:
        report.error = str(exc)
        logger.warning("fee cycle %s stopped: %s", report.cycle.pk, exc)
    except Exception as exc:  # recorded, then raised: a cycle never stays without a finish time
        report.error = f"the cycle failed: {exc!r}"
        raise
    finally:
        _finish(report)
    return report


def _run(report: CycleReport, *, actor: str, sync: bool, now: datetime) -> None:
    if sync:
        node_sync(now=now)
        channels_score(now=now)
    judgements = judge_channels(now=now)
    report.decisions = decisions_store(judgements, mode=report.mode, actor=actor, cycle=report.cycle, now=now)
    if report.mode == Decision.Mode.LIVE:
        to_apply = [d for d in report.decisions if d.changes_policy and d.status == Decision.Status.PENDING]
        applied = {d.pk: d for d in decisions_apply(decisions=to_apply, actor=actor, live_anyway=True)}
        report.decisions = [applied.get(d.pk, d) for d in report.decisions]


def _finish(report: CycleReport) -> CycleReport:
    counts = Counter(f"{d.kind}/{d.status}" for d in report.decisions)
    report.cycle.summary = {"decisions": dict(sorted(counts.items())), "notes": report.notes, "error": report.error}
    report.cycle.finished_at = timezone.now()
    report.cycle.save(update_fields=["summary", "finished_at"])
    logger.info("fee cycle %s (%s): %s", report.cycle.pk, report.mode, report.cycle.summary)
    return report
