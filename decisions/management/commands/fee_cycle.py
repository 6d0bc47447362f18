from django.core.management.base import BaseCommand, CommandError

from daznode.actors import command_actor
from decisions.cycle import fee_cycle
from decisions.models import Decision, FeeCycle

WIDTHS = {"channel": 19, "peer": 18, "score": 5, "decision": 14, "fee rate ppm": 14, "status": 10}


class Command(BaseCommand):
    help = (
        "Run one fee cycle now: sync our node, score, decide, validate, and act per DAZNODE_DECISION_MODE. "
        "Prints what would change and why."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Validate and show the diff; change nothing.")
        parser.add_argument("--mode", choices=Decision.Mode.values, help="Override DAZNODE_DECISION_MODE.")
        parser.add_argument("--no-sync", action="store_true", help="Decide on the stored state (no LND read).")
        parser.add_argument("--all", action="store_true", dest="show_all", help="Also list the channels left alone.")

    def handle(self, *args, dry_run=False, mode=None, no_sync=False, show_all=False, **options):
        if dry_run and mode not in (None, Decision.Mode.DRY_RUN):
            raise CommandError("--dry-run and --mode do not go together")
        report = fee_cycle(
            mode=Decision.Mode.DRY_RUN if dry_run else mode,
            actor=command_actor("fee_cycle"),
            trigger=FeeCycle.Trigger.COMMAND,
            sync=not no_sync,
        )
        if report.error:
            raise CommandError(f"the cycle stopped: {report.error}")
        for note in report.notes:
            self.stdout.write(self.style.WARNING(note))
        self._table(report.decisions, show_all=show_all)
        self.stdout.write(f"\ncycle {report.cycle.pk} ({report.mode}): {report.cycle.summary['decisions']}")

    def _table(self, decisions, *, show_all: bool) -> None:
        self.stdout.write("  ".join(name.ljust(width) for name, width in WIDTHS.items()) + "  why")
        for decision in decisions:
            if decision.kind == Decision.Kind.NO_ACTION and not show_all:
                continue
            peer = decision.channel.peer.alias or decision.channel.peer.pubkey[:16]
            current = (decision.current_policy or {}).get("fee_rate_ppm")
            proposed = (decision.proposed_policy or {}).get("fee_rate_ppm", current)
            fee = f"{current} → {proposed}" if proposed != current else f"{current}"
            why = decision.failure_reason or " ".join(decision.reasons[1:]) or decision.reasons[0]
            cells = [
                str(decision.channel.chan_id),
                peer,
                f"{decision.total_score:.2f}",
                decision.kind,
                fee,
                decision.status,
            ]
            self.stdout.write(
                "  ".join(c[:w].ljust(w) for c, w in zip(cells, WIDTHS.values(), strict=True)) + f"  {why}"
            )
