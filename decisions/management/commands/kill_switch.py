from django.core.management.base import BaseCommand

from daznode.actors import command_actor
from decisions.models import KillSwitch
from decisions.services import kill_switch_set


class Command(BaseCommand):
    help = "Engage or release the kill switch: while engaged no policy is changed (decisions are still recorded)."

    def add_arguments(self, parser):
        parser.add_argument("state", choices=["on", "off", "status"])
        parser.add_argument("--reason", default="", help="Why, for the audit log.")

    def handle(self, *args, state: str, reason="", **options):
        if state == "status":
            switch = KillSwitch.current()
        else:
            switch = kill_switch_set(engaged=state == "on", actor=command_actor("kill_switch"), reason=reason)
        self.stdout.write(f"{switch}" + (f" ({switch.reason})" if switch.reason else ""))
