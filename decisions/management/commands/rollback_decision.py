from django.core.management.base import BaseCommand, CommandError

from daznode.actors import command_actor
from decisions.models import Decision
from decisions.rollback import RollbackError, decision_rollback


class Command(BaseCommand):
    help = "Put back the policy an applied decision replaced (from its backup). Safe to repeat."

    def add_arguments(self, parser):
        parser.add_argument("decision_id", help="The decision's id (admin, API or fee_cycle output).")
        parser.add_argument("--force", action="store_true", help="Overwrite a policy changed outside Daznode.")
        parser.add_argument("--reason", default="", help="Why, for the audit log.")
        parser.add_argument(
            "--live-anyway",
            action="store_true",
            help="Change the node although DAZNODE_DECISION_MODE is shadow or dry run (recorded in the audit log).",
        )

    def handle(self, *args, decision_id: str, force=False, reason="", live_anyway=False, **options):
        if not (decision_id.isascii() and decision_id.isdigit()):
            raise CommandError(f"a decision id is a whole number, got {decision_id!r}")
        decision = Decision.objects.filter(pk=int(decision_id)).select_related("channel").first()
        if decision is None:
            raise CommandError(f"there is no decision {decision_id}")
        try:
            result = decision_rollback(
                decision=decision,
                actor=command_actor("rollback_decision"),
                force=force,
                reason=reason,
                live_anyway=live_anyway,
            )
        except RollbackError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(result.message)
