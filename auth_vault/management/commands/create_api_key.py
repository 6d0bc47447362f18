from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from auth_vault.api_keys import api_key_create
from daznode.actors import command_actor
from daznode.env import parse_duration


class Command(BaseCommand):
    help = "Make an API key for a user (for example for another Daznode that federates with this one)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("name", help="What the key is for, such as 'daznode-at-home'")
        parser.add_argument("--expires-in", help="A duration such as 90d; no expiry by default")

    def handle(self, *args, username: str, name: str, expires_in: str | None, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named '{username}'")
        expires_at = None
        if expires_in is not None:
            try:
                expires_at = timezone.now() + parse_duration(expires_in)
            except ValueError:
                raise CommandError(f"--expires-in must be a duration such as 90d, got {expires_in!r}") from None
        api_key, key = api_key_create(
            user=user, name=name, expires_at=expires_at, actor=command_actor("create_api_key")
        )
        self.stdout.write(f"API key {api_key.prefix}… for {username} (shown once, keep it safe):\n{key}")
