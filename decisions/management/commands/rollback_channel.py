from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from channels.models import Channel
from daznode.actors import command_actor
from daznode.lightning import parse_chan_id
from decisions.rollback import RollbackError, channel_rollback


class Command(BaseCommand):
    help = "Put a channel's policy back to what it was at a point in time. Safe to repeat."

    def add_arguments(self, parser):
        parser.add_argument("chan_id", help="The short channel id.")
        parser.add_argument("--to", required=True, help="ISO 8601 date and time, e.g. 2026-11-20T08:00:00Z.")
        parser.add_argument("--force", action="store_true", help="Overwrite a policy changed outside Daznode.")
        parser.add_argument("--reason", default="", help="Why, for the audit log.")
        parser.add_argument(
            "--live-anyway",
            action="store_true",
            help="Change the node although DAZNODE_DECISION_MODE is shadow or dry run (recorded in the audit log).",
        )

    def handle(self, *args, chan_id: str, to: str, force=False, reason="", live_anyway=False, **options):
        try:
            channel = Channel.objects.filter(chan_id=parse_chan_id(chan_id)).first()
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if channel is None:
            raise CommandError(f"there is no channel {chan_id}")
        try:
            moment = parse_datetime(to)
        except ValueError:
            moment = None
        if moment is None:
            raise CommandError(f"--to must be an ISO 8601 date and time, got {to!r}")
        if timezone.is_naive(moment):
            raise CommandError("--to needs a time zone (end it with Z for UTC or +01:00 for instance)")
        try:
            result = channel_rollback(
                channel=channel,
                to=moment,
                actor=command_actor("rollback_channel"),
                force=force,
                reason=reason,
                live_anyway=live_anyway,
            )
        except RollbackError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(result.message)
