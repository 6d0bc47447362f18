from datetime import timedelta

from django.core.management.base import BaseCommand

from decisions.recovery import recover_policy_writes


class Command(BaseCommand):
    help = (
        "Settle the policy writes an interrupted process left unsettled, by reading the node: done if it holds the "
        "target, not taken if it holds the policy before, otherwise that policy is put back. Only writes older than "
        "one write can take (from DAZNODE_SOURCE_TIMEOUT), unless --all."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all",
            action="store_true",
            dest="everything",
            help="Also the writes younger than that bound: only when no web server, worker or command is running",
        )

    def handle(self, *args, everything: bool, **options):
        report = recover_policy_writes(older_than=timedelta(0) if everything else None)
        self.stdout.write(
            f"Recovered: {len(report.took)} took, {len(report.not_taken)} not taken, {len(report.restored)} put "
            f"back from backup, {len(report.unknown)} unknown; {len(report.unsent)} claimed with nothing sent; "
            f"{report.cycles_closed} interrupted cycle(s) closed."
        )
        if report.error:
            self.stderr.write(f"Our node could not be reached: {report.error}")
