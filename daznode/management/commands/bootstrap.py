from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from daznode.bootstrap import AdminPasswordRejected, ensure_admin
from daznode.context_processors import MODE_LABELS, MODE_MEANINGS
from daznode.schedule import sync_beat_schedule


class Command(BaseCommand):
    help = "Prepare a start: apply migrations, create the first admin, sync the beat schedule, seed demo data."

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true", help="Seed demo channels when the database has none.")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Where the web server will listen.")

    def handle(self, *args, demo: bool, url: str, **options):
        call_command("migrate", interactive=False, verbosity=0)
        try:
            login = ensure_admin(username=settings.DAZNODE_ADMIN_USER, password=settings.DAZNODE_ADMIN_PASSWORD)
        except AdminPasswordRejected as exc:
            raise CommandError(f"DAZNODE_ADMIN_PASSWORD is too weak: {exc}") from None
        sync_beat_schedule()
        if demo:
            call_command("seed_demo", verbosity=options["verbosity"])
        self.stdout.write(self._banner(login, url.rstrip("/")))

    def _banner(self, login, url: str) -> str:
        if login.password is not None:
            login_hint = f"{login.password}   (generated now and shown only this once: change it in the admin)"
        elif login.created:
            login_hint = "the value of DAZNODE_ADMIN_PASSWORD"
        else:
            login_hint = "the one shown on first start (forgot it? make changepassword)"
        mode = settings.DAZNODE_DECISION_MODE
        return "\n".join(
            [
                "",
                "Daznode is ready.",
                f"  Dashboard: {url}/",
                f"  Admin:     {url}/admin/",
                f"  User:      {login.username}",
                f"  Password:  {login_hint}",
                f"  Mode:      {MODE_LABELS[mode]}: {MODE_MEANINGS[mode]}",
                "",
            ]
        )
